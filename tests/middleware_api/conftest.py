"""The seeded scenario of the middleware API tests, written through the internal services with
backdated `createdAt` (as records/services/demo.py does; HTTP cannot backdate).

Two vendor accounts, three customer records, two closed months and the current one:

| record | vendor | P1 (two months ago)          | P2 (previous month)                    | current |
|--------|--------|------------------------------|----------------------------------------|---------|
| a1     | acme   | -10, -5, +2.5 → checkpoint   | -20, -7.5 → checkpoint; late -1.25     | -3      |
|        |        |                              | sealed after it (RECORDS_NOT_COVERED)  |         |
| a2     | acme   | -4 → checkpoint              | -6, -6 → checkpoint (ready)            |         |
| b1     | nimbus | -100 → checkpoint            | -50; late -2 still QUEUED, no checkpoint |       |

a1 and b1 share externalCustomerId `acct-1` under different vendor accounts (two records).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from records.models import (
    AccessLogEntry,
    Checkpoint,
    CustomerRecord,
    Delta,
    Environment,
    ExportJob,
    SharedRecord,
    Tenant,
    VendorAccount,
)
from records.scopes import Scope, month_window, period_of
from records.services.checkpoints import checkpoints_commit
from records.services.deltas import deltas_accept
from records.services.sealing import seal_until_idle
from records.validation import parse_delta_item
from tests.conftest import Persona
from webhooks.models import Event

STAFF = {"type": "staff"}
BASE = "/api/v1/middleware"


def month_start(moment: dt.datetime, months_back: int) -> dt.datetime:
    year, month = moment.year, moment.month - months_back
    while month < 1:
        year, month = year - 1, month + 12
    return month_window(year, month)[0]


@dataclass
class Scenario:
    persona: Persona
    vendor_a: VendorAccount
    vendor_b: VendorAccount
    p1: str
    p2: str
    current: str
    records: dict[str, CustomerRecord] = field(default_factory=dict)
    checkpoints: dict[tuple[str, str], Checkpoint] = field(default_factory=dict)
    deltas: dict[str, Delta] = field(default_factory=dict)

    @property
    def tenant(self) -> Tenant:
        return self.persona.tenant

    @property
    def api(self):
        return self.persona.api

    def path(self, key: str, suffix: str) -> str:
        return f"{BASE}/customers/{self.records[key].id}/{suffix}"

    def accept(self, key: str, vendor: VendorAccount, external: str, moment: dt.datetime, name: str,
               **raw: Any) -> Delta:
        outcome, = deltas_accept(
            tenant=self.tenant, environment=Environment.SANDBOX, vendor=vendor,
            items=[parse_delta_item({"customerId": external, **raw})], actor=STAFF, created_at=moment,
        )
        assert outcome.error is None, outcome.error
        self.records[key] = CustomerRecord.objects.get(pk=outcome.delta.customer_record_id)
        self.deltas[name] = outcome.delta
        return outcome.delta

    def seal(self) -> None:
        seal_until_idle(tenant_id=self.tenant.id, environment=Environment.SANDBOX)

    def close(self, vendor: VendorAccount, period: str, customer_id: str | None = None) -> None:
        start, end = month_window(int(period[:4]), int(period[5:]))
        results = checkpoints_commit(tenant=self.tenant, environment=Environment.SANDBOX, vendor=vendor,
                                     customer_id=customer_id, scope=Scope(kind="period", start=start, end=end,
                                                                          period=period))
        for result in results:
            key = next(k for k, r in self.records.items() if r.pk == result.checkpoint.customer_record_id)
            self.checkpoints[(key, period)] = result.checkpoint

    def refresh(self) -> None:
        for delta in self.deltas.values():
            delta.refresh_from_db()
        for checkpoint in self.checkpoints.values():
            checkpoint.refresh_from_db()


def _usage(reason: str, amount: str, reference: str, **extra: Any) -> dict[str, Any]:
    return {"delta": amount, "reason": reason, "referenceId": reference, **extra}


@pytest.fixture
def scenario(middleware_tenant: Persona, vendor_a: VendorAccount, vendor_b: VendorAccount) -> Scenario:
    now = timezone.now()
    current_start = month_start(now, 0)
    p1_start, p2_start = month_start(now, 2), month_start(now, 1)
    s = Scenario(middleware_tenant, vendor_a, vendor_b, period_of(p1_start), period_of(p2_start), period_of(now))

    def day(start: dt.datetime, n: int) -> dt.datetime:
        return start + dt.timedelta(days=n - 1, hours=23, minutes=59)

    a, b = vendor_a, vendor_b
    s.accept("a1", a, "acct-1", day(p1_start, 1), "a1_p1_1", **_usage(f"daily_usage_flush:{s.p1}-01", "-10", "u1"))
    s.accept("a1", a, "acct-1", day(p1_start, 2), "a1_p1_2", **_usage(f"daily_usage_flush:{s.p1}-02", "-5", "u2"))
    s.accept("a1", a, "acct-1", day(p1_start, 3), "a1_p1_credit", delta="2.5", reason="credit: duplicate flush",
             adjusts={"referenceId": "u1"}, metadata={"ticket": "T-1"})
    s.accept("a1", a, "acct-1", day(p2_start, 1), "a1_p2_1", **_usage(f"daily_usage_flush:{s.p2}-01", "-20", "u3"))
    s.accept("a1", a, "acct-1", day(p2_start, 2), "a1_p2_2", **_usage(f"daily_usage_flush:{s.p2}-02", "-7.5", "u4"))
    s.accept("a2", a, "acct-2", day(p1_start, 1), "a2_p1_1", **_usage(f"daily_usage_flush:{s.p1}-01", "-4", "v1"))
    s.accept("a2", a, "acct-2", day(p2_start, 1), "a2_p2_1", **_usage(f"daily_usage_flush:{s.p2}-01", "-6", "v2"))
    s.accept("a2", a, "acct-2", day(p2_start, 2), "a2_p2_2", **_usage(f"daily_usage_flush:{s.p2}-02", "-6", "v3"))
    s.accept("b1", b, "acct-1", day(p1_start, 1), "b1_p1_1", **_usage(f"daily_usage_flush:{s.p1}-01", "-100", "w1"))
    s.accept("b1", b, "acct-1", day(p2_start, 1), "b1_p2_1", **_usage(f"daily_usage_flush:{s.p2}-01", "-50", "w2"))
    s.seal()
    s.close(a, s.p1)
    s.close(a, s.p2)
    s.close(b, s.p1)
    # Late: accepted after P2's checkpoint but dated inside P2, then sealed.
    s.accept("a1", a, "acct-1", day(p2_start, 20), "a1_p2_late", **_usage(f"late_flush:{s.p2}-20", "-1.25", "u5"))
    s.seal()
    s.accept("a1", a, "acct-1", current_start + (now - current_start) / 2, "a1_current",
             **_usage(f"daily_usage_flush:{s.current}", "-3", "u6"))
    s.seal()
    # Late and not yet sealed: stays QUEUED.
    s.accept("b1", b, "acct-1", day(p2_start, 25), "b1_p2_pending", **_usage(f"late_flush:{s.p2}-25", "-2", "w3"))
    s.refresh()
    return s


# --- Assertion helpers --------------------------------------------------------------------------------
def ts(moment: dt.datetime | None) -> str | None:
    """The API's timestamp text (api.md §1.6)."""
    if moment is None:
        return None
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def content_of(response) -> bytes:
    """The bytes of a response, streamed (file downloads) or not."""
    return b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content


def body_of(response) -> Any:
    """The JSON body with exact decimals (the API writes amounts as exact number text)."""
    return json.loads(response.content, parse_float=Decimal)


def data_of(response, status: int = 200) -> Any:
    assert response.status_code == status, response.content[:500]
    body = body_of(response)
    assert body["success"] is True
    return body["data"]


def error_of(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


TABLES = (CustomerRecord, Delta, Checkpoint, SharedRecord, AccessLogEntry, ExportJob, Event)


def snapshot() -> dict[str, list]:
    """Every row of every table a middleware route could touch."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in TABLES}


@pytest.fixture
def unchanged():
    """Use as `with unchanged(): ...` — the block must leave every touched table as it found it."""
    import contextlib

    @contextlib.contextmanager
    def check():
        before = snapshot()
        yield
        assert snapshot() == before

    return check


@pytest.fixture
def count_queries():
    def run(call) -> int:
        with CaptureQueriesContext(connection) as captured:
            call()
        return len(captured.captured_queries)

    return run


def make_ready(job: ExportJob, content: bytes = b"%PDF-1.7 test") -> ExportJob:
    """Stand in for the exports worker: the job's file is stored and the job is READY for an hour."""
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.READY, content=content, sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content), completed_at=now, expires_at=now + dt.timedelta(hours=1))
    job.refresh_from_db()
    return job


def period_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """The Period object expected for a verified checkpoint (api.md §1.12)."""
    return {
        "checkpointId": checkpoint.id, "status": "VERIFIED", "period": checkpoint.period or None,
        "windowStart": ts(checkpoint.window_start), "windowEnd": ts(checkpoint.window_end),
        "coveredThrough": ts(min(checkpoint.window_end, checkpoint.cutoff_at)),
        "recordCount": checkpoint.record_count, "credits": checkpoint.credits, "debits": checkpoint.debits,
        "netChange": checkpoint.net_change, "proofRoot": checkpoint.proof_root,
        "verificationReference": checkpoint.verification_reference, "treeSize": checkpoint.tree_size,
        "createdAt": ts(checkpoint.created_at), "verifiedAt": ts(checkpoint.verified_at),
        "supersedes": checkpoint.supersedes_id, "supersededBy": checkpoint.superseded_by_id,
    }


def entry_json(delta: Delta, state: str, **overrides: Any) -> dict[str, Any]:
    """The Entry object expected for a delta in a given customer-facing state."""
    delta.refresh_from_db()
    return {
        "recordId": delta.record_id, "recordedAt": ts(delta.created_at), "amount": Decimal(delta.delta_text),
        "reason": delta.reason, "referenceId": delta.reference_id, "metadata": json.loads(delta.metadata_json),
        "adjusts": json.loads(delta.adjusts_json) if delta.adjusts_json else None, "state": state,
        "contentHash": delta.content_hash, "proofHash": delta.proof_hash, "leafIndex": delta.leaf_index,
        "chainIndex": delta.chain_index, "verificationReference": delta.verification_reference,
        "checkpointId": delta.checkpoint_id, **overrides,
    }


def identity_of(vendor: VendorAccount) -> dict[str, Any]:
    return {"tenant": {"name": vendor.display_name},
            "recordedBy": {"type": "middleware_vendor_account", "id": vendor.id, "displayName": vendor.display_name}}


VIEWER = "ab" * 16
OTHER_VIEWER = "cd" * 16


def visitor(viewer_hash: str = VIEWER):
    from records.services.shared_records import Visitor

    return Visitor(viewer_hash=viewer_hash)


def visit(record: CustomerRecord, viewer_hash: str = VIEWER, times: int = 1) -> None:
    """Shared Record summary views by one visitor, through the service the public pages use."""
    from records.services.shared_records import record_view

    shared = SharedRecord.objects.get(customer_record=record)
    for _ in range(times):
        record_view(shared=shared, visitor=visitor(viewer_hash), tier="summary", page="landing", surface="api",
                    unlocked=False)


def fail_step_up(record: CustomerRecord, times: int, viewer_hash: str = VIEWER) -> None:
    """Wrong access codes through the step-up service (the fifth in a window starts a lockout)."""
    from pacspace.errors import DomainError
    from records.services.shared_records import step_up_verify

    shared = SharedRecord.objects.get(customer_record=record)
    for _ in range(times):
        with pytest.raises(DomainError):
            step_up_verify(shared=shared, value="WRONG1", visitor=visitor(viewer_hash), surface="api")
