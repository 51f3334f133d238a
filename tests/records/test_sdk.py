"""Conformance with the official Python SDK `pacspace-sdk==0.7.0` (operations.md §10, api.md §1–§3).

The SDK runs unmodified. Most tests plug its `transport=` hook into Django's test client (CSRF
checks enforced); one group runs it with its default urllib transport against `live_server`, and one
against `live_server` with a real Celery seal worker. Every flow that takes per-call options runs as a
direct tenant and as a middleware tenant passing `{"headers": {"X-Vendor-Account-Id": …}}`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from pacspace_sdk import NotFoundError, PacSpace, PacSpaceError
from pacspace_sdk import TimeoutError as SdkTimeoutError
from pacspace_sdk.client import TransportResponse

from records.models import Checkpoint, CustomerRecord, Delta, IdempotencyKey, SignedTreeHead, VendorAccount
from records.proofs import ZERO_HASH, customer_reference, format_timestamp, from_hex, merkle_root, to_hex
from tests.conftest import MIDDLEWARE_NAME_MARKER, Persona
from tests.records.helpers import seal
from webhooks.models import Event

BASE_URL = "http://testserver"
ZERO_ROOT = to_hex(ZERO_HASH)
PUBLIC_BASE_URL = "https://records.example.com"  # tests/settings.py
VENDOR_HEADER = "X-Vendor-Account-Id"
DELTA_KEYS = {
    "recordId",
    "status",
    "state",
    "customerId",
    "customerRecordId",
    "vendorAccountId",
    "delta",
    "reason",
    "referenceId",
    "metadata",
    "adjusts",
    "contentHash",
    "receiptId",
    "proofHash",
    "previousProofHash",
    "intakeSequence",
    "chainIndex",
    "deltaIndex",
    "sequenceNumber",
    "verificationReference",
    "verifiedAt",
    "blockTimestamp",
    "checkpointId",
    "createdAt",
    "failedAt",
    "error",
}
LINK_KEYS = ("verifyUrl", "verificationApiUrl", "accessHint", "customerLinkUrl", "customerLinkHost")


# --- Transport adapter ------------------------------------------------------------------------------
@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str | None
    response: TransportResponse


class DjangoTransport:
    """The SDK's `transport(method, url, headers, body, timeout_ms)` served by Django's test client.

    On commit hooks: in production the request's transaction commits and the hooks it registered run
    (`seal_log.delay`: in-process in the embedded/eager mode, on the worker otherwise). pytest-django
    wraps each test in a transaction that is never committed, so those hooks would never fire. While
    `run_commit_hooks` is true, each request runs inside `captureOnCommitCallbacks(execute=True)`:
    exactly the hooks that this request scheduled run right after it, as a commit would run them; the
    test adds no sealing of its own. `hooks_off()` leaves them unrun (the worker "has not got to it").
    """

    def __init__(self, capture_on_commit) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.capture_on_commit = capture_on_commit
        self.run_commit_hooks = True
        self.calls: list[Call] = []

    def __call__(
        self, method: str, url: str, headers: dict[str, str], body: str | None, timeout_ms: int
    ) -> TransportResponse:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == BASE_URL, url
        sent = dict(headers)
        content_type = sent.pop("Content-Type", "application/octet-stream")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        hooks = self.capture_on_commit(execute=True) if self.run_commit_hooks else contextlib.nullcontext()
        with hooks:
            response = self.client.generic(
                method,
                path,
                data=b"" if body is None else body.encode("utf-8"),
                content_type=content_type,
                headers=sent,
            )
        content = b"".join(response.streaming_content) if response.streaming else response.content
        answer = TransportResponse(
            status_code=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=content,
        )
        self.calls.append(Call(method, parts.path, parse_qs(parts.query), dict(headers), body, answer))
        return answer

    @contextlib.contextmanager
    def hooks_off(self) -> Iterator[None]:
        self.run_commit_hooks = False
        try:
            yield
        finally:
            self.run_commit_hooks = True

    def last(self, path_prefix: str = "/") -> Call:
        return [c for c in self.calls if c.path.startswith(path_prefix)][-1]


def sdk_for(api_key: str, **options: Any) -> PacSpace:
    # autoStart/autoFlushOnShutdown off: no daemon timer and no atexit flush. maxRequestsPerMinute
    # high: the coordinator would otherwise sleep 6 s between two batch requests.
    return PacSpace(
        api_key,
        max_retries=0,
        submission={"autoStart": False, "autoFlushOnShutdown": False, "maxRequestsPerMinute": 60_000},
        **options,
    )


@dataclass
class Actor:
    """One tenant driving the SDK: its persona, SDK client, transport and (middleware) vendor account."""

    kind: str
    persona: Persona
    sdk: PacSpace
    transport: DjangoTransport
    vendor: VendorAccount | None = None

    def opts(self, **options: Any) -> dict[str, Any]:
        """Per-call options plus, for the middleware tenant, the vendor account header."""
        if self.vendor is not None:
            options["headers"] = {**options.get("headers", {}), VENDOR_HEADER: self.vendor.id}
        return options

    @property
    def vendor_id(self) -> str | None:
        return self.vendor.id if self.vendor else None

    def record(self, customer_id: str) -> CustomerRecord:
        return CustomerRecord.objects.get(
            tenant=self.persona.tenant, vendor_account=self.vendor, customer_id=customer_id
        )

    def deltas(self, customer_id: str) -> list[Delta]:
        return list(
            Delta.objects.filter(customer_record=self.record(customer_id)).order_by("intake_sequence")
        )

    def identity(self) -> dict[str, Any]:
        if self.vendor is not None:
            return {
                "tenant": {"name": self.vendor.display_name},
                "recordedBy": {
                    "type": "middleware_vendor_account",
                    "id": self.vendor.id,
                    "displayName": self.vendor.display_name,
                },
            }
        tenant = self.persona.tenant
        return {
            "tenant": {"name": tenant.name},
            "recordedBy": {"type": "tenant", "id": tenant.id, "displayName": tenant.name},
        }


@pytest.fixture
def make_actor(django_capture_on_commit_callbacks) -> Iterator:
    clients: list[PacSpace] = []

    def build(persona: Persona, vendor: VendorAccount | None = None, kind: str = "direct") -> Actor:
        transport = DjangoTransport(django_capture_on_commit_callbacks)
        sdk = sdk_for(persona.api_key, base_url=BASE_URL, transport=transport)
        clients.append(sdk)
        return Actor(kind=kind, persona=persona, sdk=sdk, transport=transport, vendor=vendor)

    yield build
    for sdk in clients:
        sdk.close()


@pytest.fixture(params=["direct", "middleware"])
def actor(request, db, make_actor) -> Actor:
    if request.param == "direct":
        return make_actor(request.getfixturevalue("direct_tenant"))
    persona = request.getfixturevalue("middleware_tenant")
    return make_actor(persona, persona.vendors["a"], kind="middleware")


@pytest.fixture
def direct(make_actor, direct_tenant) -> Actor:
    return make_actor(direct_tenant)


@pytest.fixture
def middleware(make_actor, middleware_tenant) -> Actor:
    return make_actor(middleware_tenant, middleware_tenant.vendors["a"], kind="middleware")


# --- Expected values from the database ----------------------------------------------------------------
def ts(moment: dt.datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def current_window() -> tuple[str, dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=dt.UTC)
    return start.strftime("%Y-%m"), start, end


def root_of(deltas: list[Delta]) -> str:
    return to_hex(merkle_root([from_hex(d.content_hash) for d in deltas]))


def head_reference(persona: Persona) -> str:
    head = SignedTreeHead.objects.filter(log__tenant=persona.tenant).order_by("-tree_size").first()
    return f"{head.tree_size}:0x{bytes(head.root_hash).hex()}"


def expected_delta(row: Delta) -> dict[str, Any]:
    """api.md §1.12 Delta, written from the row (JSON numbers come back as Python int/float)."""
    state = (
        None
        if row.status == "FAILED"
        else (
            "recording"
            if row.status in ("QUEUED", "PROCESSING")
            else ("verified" if row.checkpoint_id else "recorded")
        )
    )
    return {
        "recordId": row.record_id,
        "status": row.status,
        "state": state,
        "customerId": row.customer_id,
        "customerRecordId": row.customer_record_id,
        "vendorAccountId": row.vendor_account_id,
        "delta": json.loads(row.delta_text),
        "reason": row.reason,
        "referenceId": row.reference_id,
        "metadata": json.loads(row.metadata_json),
        "adjusts": json.loads(row.adjusts_json) if row.adjusts_json else None,
        "contentHash": row.content_hash,
        "receiptId": row.proof_hash,
        "proofHash": row.proof_hash,
        "previousProofHash": row.previous_proof_hash,
        "intakeSequence": row.intake_sequence,
        "chainIndex": row.chain_index,
        "deltaIndex": row.leaf_index,
        "sequenceNumber": None if row.leaf_index is None else str(row.leaf_index),
        "verificationReference": row.verification_reference,
        "verifiedAt": ts(row.verified_at),
        "blockTimestamp": ts(row.verified_at),
        "checkpointId": row.checkpoint_id,
        "createdAt": ts(row.created_at),
        "failedAt": ts(row.failed_at),
        "error": None,
    }


def expected_checkpoint(row: Checkpoint) -> dict[str, Any]:
    row.refresh_from_db()
    verified = row.status == "VERIFIED"

    def number(value):
        return None if value is None or not verified else json.loads(format(value.normalize(), "f"))

    return {
        "checkpointId": row.id,
        "status": row.status,
        "customerId": row.customer_record.customer_id,
        "customerRecordId": row.customer_record_id,
        "vendorAccountId": row.vendor_account_id,
        "period": row.period or None,
        "windowStart": ts(row.window_start),
        "windowEnd": ts(row.window_end),
        "cutoffAt": ts(row.cutoff_at),
        "coveredThrough": ts(min(row.window_end, row.cutoff_at)),
        "recordCount": row.record_count if verified else None,
        "credits": number(row.credits),
        "debits": number(row.debits),
        "netChange": number(row.net_change),
        "proofRoot": row.proof_root if verified else None,
        "verificationReference": row.verification_reference if verified else None,
        "treeSize": row.tree_size if verified else None,
        "createdAt": ts(row.created_at),
        "verifiedAt": ts(row.verified_at),
        "supersedes": row.supersedes_id,
        "supersededBy": row.superseded_by_id,
    }


def expected_links(
    record: CustomerRecord, proof_root: str | None, publicly_verifiable: bool
) -> dict[str, Any]:
    """The four link keys (plus verifyUrl) of api.md §2.12, from the record's Shared Record row if any."""
    from django.conf import settings

    from pacspace.crypto import decrypt
    from records import models

    shared_model = getattr(models, "SharedRecord", None)  # the Shared Record feature (api.md §5)
    shared = (
        shared_model.objects.filter(customer_record=record, status="active").first()
        if shared_model is not None
        else None
    )
    api_url = f"{PUBLIC_BASE_URL}/api/v1/verify/{proof_root}" if publicly_verifiable else None
    if shared is None:
        verify_url = f"{PUBLIC_BASE_URL}/verify/{proof_root}" if publicly_verifiable else None
        return {
            "verifyUrl": verify_url,
            "verificationApiUrl": api_url,
            "accessHint": None,
            "customerLinkUrl": None,
            "customerLinkHost": None,
        }
    url = f"{PUBLIC_BASE_URL}/c/{shared.handle}"
    policy = (
        shared.policy or record.tenant.default_shared_record_policy or settings.DEFAULT_SHARED_RECORD_POLICY
    )
    return {
        "verifyUrl": url,
        "verificationApiUrl": api_url,
        "accessHint": None if policy == "OPEN" else decrypt(shared.access_code_encrypted),
        "customerLinkUrl": url,
        "customerLinkHost": "records.example.com",
    }


def brief(row: Delta) -> dict[str, Any]:
    """The delta subset of derive and receipts (api.md §2.4)."""
    return {
        "recordId": row.record_id,
        "delta": json.loads(row.delta_text),
        "reason": row.reason,
        "referenceId": row.reference_id,
        "status": row.status,
        "createdAt": ts(row.created_at),
        "contentHash": row.content_hash,
        "receiptId": row.proof_hash,
        "deltaIndex": row.leaf_index,
    }


def ledger(actor: Actor, customer_id: str = "acct-1") -> list[Delta]:
    """Three sealed deltas (10, -2.5, 0.25 → 7.75) through the SDK; the commit hooks seal them."""
    for amount, ref in ((10, "r-1"), (-2.5, "r-2"), (0.25, "r-3")):
        actor.sdk.balance.emit(
            customer_id, amount, "inference_usage", actor.opts(referenceId=f"{customer_id}:{ref}")
        )
    rows = actor.deltas(customer_id)
    assert [r.status for r in rows] == ["VERIFIED"] * 3
    return rows


# --- Emit -------------------------------------------------------------------------------------------
def test_emit_returns_the_201_acceptance_fields(actor):
    result = actor.sdk.balance.emit(
        "acct-9001",
        -12.5,
        "daily_usage_flush:2026-04-01",
        actor.opts(referenceId="usage:acct-9001:2026-04-01", metadata={"tokens": 1250000, "model": "m-1"}),
    )
    call = actor.transport.last()
    assert (call.method, call.path, call.response.status_code) == ("POST", "/api/v1/balance/delta", 201)
    assert call.headers["X-Chain-Id"] == "296" and call.headers["User-Agent"] == "pacspace-sdk-python/0.7.0"
    assert call.headers.get(VENDOR_HEADER) == actor.vendor_id
    assert len(call.response.headers["x-request-id"]) > 0
    (row,) = actor.deltas("acct-9001")
    assert result == {
        "recordId": row.record_id,
        "status": "QUEUED",
        "customerId": "acct-9001",
        "customerRecordId": row.customer_record_id,
        "vendorAccountId": actor.vendor_id,
        "delta": -12.5,
        "referenceId": "usage:acct-9001:2026-04-01",
        "contentHash": row.content_hash,
        "receiptId": None,
        "createdAt": ts(row.created_at),
        "idempotent": False,
    }
    assert row.vendor_account_id == actor.vendor_id and row.amount == Decimal("-12.5")
    assert json.loads(row.metadata_json) == {"model": "m-1", "tokens": 1250000}
    # The 201 body is the acceptance state; the seal its commit scheduled has run since.
    assert row.status == "VERIFIED" and row.proof_hash is not None


def test_emit_replay_with_the_same_reference_id_is_idempotent(actor):
    first = actor.sdk.balance.emit("acct-1", 4, "usage", actor.opts(referenceId="ref-1"))
    again = actor.sdk.balance.emit("acct-1", 4, "usage", actor.opts(referenceId="ref-1"))
    assert actor.transport.last().response.status_code == 200
    (row,) = actor.deltas("acct-1")
    assert first["idempotent"] is False and first["status"] == "QUEUED"
    assert again == {**first, "status": "VERIFIED", "receiptId": row.proof_hash, "idempotent": True}
    assert again["recordId"] == row.record_id


def test_emit_with_adjusts(actor):
    original = actor.sdk.balance.emit("acct-1", 10, "usage", actor.opts(referenceId="inv-1"))
    correction = actor.sdk.balance.emit(
        "acct-1", -2, "correction", actor.opts(referenceId="inv-1-fix", adjusts={"referenceId": "inv-1"})
    )
    by_record = actor.sdk.balance.emit(
        "acct-1", -1, "correction", actor.opts(adjusts={"recordId": original["recordId"]})
    )
    rows = actor.deltas("acct-1")
    assert [(r.record_id, r.adjusts_delta_id) for r in rows] == [
        (original["recordId"], None),
        (correction["recordId"], rows[0].pk),
        (by_record["recordId"], rows[0].pk),
    ]
    status = actor.sdk.balance.delta_status(correction["recordId"], actor.opts())
    assert status == expected_delta(rows[1]) and status["adjusts"] == {"referenceId": "inv-1"}
    assert actor.sdk.balance.delta_status(by_record["recordId"])["adjusts"] == {
        "recordId": original["recordId"]
    }
    with pytest.raises(PacSpaceError) as caught:
        actor.sdk.balance.emit("acct-1", -1, "correction", actor.opts(adjusts={"referenceId": "no-such-ref"}))
    assert (caught.value.status_code, caught.value.code) == (422, "ADJUSTS_TARGET_NOT_FOUND")
    assert len(actor.deltas("acct-1")) == 3


def test_emit_with_a_reused_reference_id_and_other_content_is_a_conflict(actor):
    first = actor.sdk.balance.emit("acct-1", 4, "usage", actor.opts(referenceId="ref-1"))
    with pytest.raises(PacSpaceError) as caught:
        actor.sdk.balance.emit("acct-1", 5, "usage", actor.opts(referenceId="ref-1"))
    assert (caught.value.status_code, caught.value.code) == (409, "REFERENCE_CONFLICT")
    assert caught.value.api_body["details"] == {"recordId": first["recordId"]}
    assert len(actor.deltas("acct-1")) == 1


def test_emit_with_an_idempotency_key_twice_replays_the_stored_answer(actor):
    first = actor.sdk.balance.emit("acct-1", 7, "usage", actor.opts(idempotencyKey="emit-key-1"))
    first_call = actor.transport.last()
    second = actor.sdk.balance.emit("acct-1", 7, "usage", actor.opts(idempotencyKey="emit-key-1"))
    second_call = actor.transport.last()
    assert first_call.headers["Idempotency-Key"] == "emit-key-1"
    assert (first_call.response.status_code, second_call.response.status_code) == (201, 201)
    assert "idempotent-replayed" not in first_call.response.headers
    assert second_call.response.headers["idempotent-replayed"] == "true"
    assert second_call.response.body == first_call.response.body  # byte for byte
    assert second == first and first["idempotent"] is False
    (row,) = actor.deltas("acct-1")
    assert first["recordId"] == row.record_id
    key = IdempotencyKey.objects.get(tenant=actor.persona.tenant, key="emit-key-1")
    assert (key.route, key.is_completed, key.status_code, bytes(key.body)) == (
        "balance.delta",
        True,
        201,
        first_call.response.body,
    )


def test_an_idempotency_key_reused_with_another_body_is_a_conflict(actor):
    actor.sdk.balance.emit("acct-1", 7, "usage", actor.opts(idempotencyKey="emit-key-2"))
    with pytest.raises(PacSpaceError) as caught:
        actor.sdk.balance.emit("acct-1", 8, "usage", actor.opts(idempotencyKey="emit-key-2"))
    assert (caught.value.status_code, caught.value.code) == (409, "IDEMPOTENCY_CONFLICT")
    assert caught.value.api_body["code"] == "IDEMPOTENCY_CONFLICT"
    assert [r.amount for r in actor.deltas("acct-1")] == [Decimal(7)]


def test_an_idempotency_key_still_in_flight_is_the_sdks_pending_answer(actor):
    import hashlib

    # The SDK's request body, and the fingerprint of api.md §1.9: sha256(vendor header + "\n" + body).
    body = json.dumps({"customerId": "acct-1", "delta": 7, "reason": "usage"}).encode()
    fingerprint = hashlib.sha256((actor.vendor_id or "").encode() + b"\n" + body).hexdigest()
    IdempotencyKey.objects.create(
        tenant=actor.persona.tenant,
        environment="sandbox",
        route="balance.delta",
        key="in-flight-1",
        fingerprint=fingerprint,
    )
    pending = actor.sdk.balance.emit("acct-1", 7, "usage", actor.opts(idempotencyKey="in-flight-1"))
    call = actor.transport.last()
    assert call.body.encode() == body
    assert (call.response.status_code, call.response.headers["retry-after"]) == (202, "1")
    assert pending == {
        "code": "IDEMPOTENCY_PENDING",
        "retryAfterSeconds": 1,
        "message": json.loads(call.response.body)["error"]["message"],
    }
    assert Delta.objects.filter(tenant=actor.persona.tenant).count() == 0


def test_the_vendor_header_is_part_of_the_idempotency_fingerprint(middleware, vendor_b):
    options = {"idempotencyKey": "emit-key-3"}
    middleware.sdk.balance.emit("acct-1", 7, "usage", middleware.opts(**options))
    with pytest.raises(PacSpaceError) as caught:
        middleware.sdk.balance.emit(
            "acct-1", 7, "usage", {**options, "headers": {VENDOR_HEADER: vendor_b.id}}
        )
    assert (caught.value.status_code, caught.value.code) == (409, "IDEMPOTENCY_CONFLICT")
    assert Delta.objects.filter(tenant=middleware.persona.tenant).count() == 1


# --- Status and waiting -------------------------------------------------------------------------------
def test_emit_and_wait_returns_the_verified_delta(actor):
    result = actor.sdk.balance.emit_and_wait(
        "acct-1",
        2.5,
        "usage",
        actor.opts(referenceId="w-1", metadata={"k": "v"}, timeout=5000, pollInterval=50),
    )
    (row,) = actor.deltas("acct-1")
    assert set(result) == DELTA_KEYS
    assert result == expected_delta(row)
    assert (result["status"], result["state"], result["chainIndex"], result["intakeSequence"]) == (
        "VERIFIED",
        "recorded",
        0,
        1,
    )
    assert result["previousProofHash"] == ZERO_ROOT
    assert result["verificationReference"] == head_reference(actor.persona)
    emit_call, *polls = [c for c in actor.transport.calls]
    assert emit_call.headers.get(VENDOR_HEADER) == actor.vendor_id
    # The SDK polls GET /balance/delta/:id without the per-call headers; the route must not need them.
    assert [(c.method, c.path, c.response.status_code) for c in polls] == [
        ("GET", f"/api/v1/balance/delta/{row.record_id}", 200)
    ]
    assert VENDOR_HEADER not in polls[0].headers


def test_emit_and_wait_times_out_while_nothing_seals(actor):
    with actor.transport.hooks_off(), pytest.raises(SdkTimeoutError):
        actor.sdk.balance.emit_and_wait("acct-1", 1, "usage", actor.opts(timeout=250, pollInterval=50))
    (row,) = actor.deltas("acct-1")
    assert row.status == "QUEUED"
    assert len([c for c in actor.transport.calls if c.method == "GET"]) >= 2


def test_delta_status_and_wait_for_verified(actor):
    with actor.transport.hooks_off():
        emitted = actor.sdk.balance.emit("acct-1", -3, "refund", actor.opts(referenceId="s-1"))
    queued = actor.sdk.balance.delta_status(emitted["recordId"], actor.opts())
    (row,) = actor.deltas("acct-1")
    assert queued == expected_delta(row)
    assert (queued["status"], queued["state"], queued["receiptId"], queued["deltaIndex"]) == (
        "QUEUED",
        "recording",
        None,
        None,
    )
    assert actor.sdk.balance.get_record_status(emitted["recordId"], actor.opts()) == queued

    assert seal(actor.persona) == 1  # the seal worker runs
    verified = actor.sdk.balance.wait_for_verified(
        emitted["recordId"], actor.opts(timeout=2000, pollInterval=50)
    )
    row.refresh_from_db()
    assert verified == expected_delta(row)
    assert (verified["status"], verified["receiptId"]) == ("VERIFIED", row.proof_hash)
    assert actor.transport.last().headers.get(VENDOR_HEADER) == actor.vendor_id


def test_delta_status_of_an_unknown_or_foreign_record_is_not_found(actor, other_tenant, make_actor):
    other = make_actor(other_tenant, other_tenant.vendors["x"], kind="middleware")
    foreign = other.sdk.balance.emit("acct-1", 1, "usage", other.opts())
    for record_id in ("rec_" + "a" * 20, foreign["recordId"]):
        with pytest.raises(NotFoundError) as caught:
            actor.sdk.balance.delta_status(record_id, actor.opts())
        assert (caught.value.status_code, caught.value.api_body["code"]) == (404, "NOT_FOUND")


# --- Derive and compare -------------------------------------------------------------------------------
def test_derive_helpers(actor):
    rows = ledger(actor)
    with actor.transport.hooks_off():
        pending = actor.sdk.balance.emit("acct-1", 100, "usage", actor.opts(referenceId="pending"))
    period, start, end = current_window()
    record = actor.record("acct-1")
    expected = {
        "customerId": "acct-1",
        "customerRecordId": record.id,
        "vendorAccountId": actor.vendor_id,
        "scope": {
            "kind": "period",
            "period": period,
            "startDate": ts(start),
            "endDate": ts(end),
            "startingCheckpoint": None,
            "startingCheckpointType": None,
        },
        "startingBalance": 0,
        "computedBalance": 7.75,
        "deltasCount": 3,
        "deltaCount": 3,
        "pendingCount": 1,
        "latestReceiptId": rows[-1].proof_hash,
        "latestRecordId": rows[-1].record_id,
        "proofRoot": root_of(rows),
        "deltas": [brief(r) for r in rows],
        "limit": 100,
        "offset": 0,
    }
    assert pending["recordId"] not in [d["recordId"] for d in expected["deltas"]]

    assert actor.sdk.balance.derive("acct-1", actor.opts()) == expected
    assert actor.sdk.balance.derive_current_month("acct-1", actor.opts()) == expected
    assert actor.transport.last().query == {"timePreset": ["current_month"]}
    assert actor.sdk.balance.derive_for_period("acct-1", period, actor.opts()) == expected

    page = actor.sdk.balance.derive("acct-1", actor.opts(startingBalance=100, limit=1, offset=1))
    assert page == {
        **expected,
        "startingBalance": 100,
        "computedBalance": 107.75,
        "deltas": [brief(rows[1])],
        "limit": 1,
        "offset": 1,
    }

    months = actor.sdk.balance.derive_months_back("acct-1", 2, actor.opts())
    query = actor.transport.last().query
    window_start = dt.datetime.fromisoformat(query["startDate"][0])
    assert (query["timePreset"], query["endDate"]) == (["custom"], [end.isoformat().replace("+00:00", "Z")])
    assert months == {
        **expected,
        "scope": {**expected["scope"], "kind": "custom", "period": None, "startDate": ts(window_start)},
    }

    empty = actor.sdk.balance.derive_for_period("acct-1", "2020-01", actor.opts())
    assert (
        empty["computedBalance"],
        empty["deltasCount"],
        empty["pendingCount"],
        empty["proofRoot"],
        empty["latestReceiptId"],
        empty["deltas"],
    ) == (0, 0, 0, ZERO_ROOT, None, [])


def test_derive_from_a_starting_checkpoint(actor):
    rows = ledger(actor)
    result = actor.sdk.balance.derive(
        "acct-1", actor.opts(startingCheckpoint=rows[0].proof_hash, startingBalance=10)
    )
    assert (result["scope"]["kind"], result["scope"]["startingCheckpointType"]) == ("checkpoint", "proofRoot")
    assert (result["computedBalance"], result["deltasCount"], result["proofRoot"]) == (
        7.75,
        2,
        root_of(rows[1:]),
    )
    by_record = actor.sdk.balance.derive(
        "acct-1", actor.opts(startingCheckpoint=rows[1].record_id, startingCheckpointType="recordId")
    )
    assert (by_record["computedBalance"], [d["recordId"] for d in by_record["deltas"]]) == (
        0.25,
        [rows[2].record_id],
    )


def test_compare_matches_exactly(actor):
    rows = ledger(actor)
    result = actor.sdk.balance.compare("acct-1", {"yours": 7.75, "theirs": 7.7500001}, actor.opts())
    call = actor.transport.last()
    assert json.loads(call.body) == {
        "customerId": "acct-1",
        "yourBalance": 7.75,
        "theirBalance": 7.7500001,
        "startingBalance": 0,
    }
    period, start, end = current_window()
    compared_at = result.pop("comparedAt")
    assert result == {
        "customerId": "acct-1",
        "customerRecordId": actor.record("acct-1").id,
        "scope": {
            "kind": "period",
            "period": period,
            "startDate": ts(start),
            "endDate": ts(end),
            "startingCheckpoint": None,
            "startingCheckpointType": None,
        },
        "startingBalance": 0,
        "neutralBalance": 7.75,
        "yourBalance": 7.75,
        "theirBalance": 7.7500001,
        "matchesYours": True,
        "matchesTheirs": False,
        "deltasCount": 3,
        "proofRoot": root_of(rows),
    }
    event = Event.objects.get(tenant=actor.persona.tenant, type="customer.compare_run")
    assert (
        event.payload["data"]["matchesYours"],
        event.payload["data"]["matchesTheirs"],
        event.payload["data"]["compareKind"],
        event.payload["data"]["occurredAt"],
    ) == (True, False, "balance", compared_at)

    old = actor.sdk.balance.compare("acct-1", {"yours": 0, "theirs": 7.75}, actor.opts(period="2020-01"))
    assert json.loads(actor.transport.last().body)["period"] == "2020-01"
    assert (
        old["scope"]["period"],
        old["neutralBalance"],
        old["deltasCount"],
        old["matchesYours"],
        old["matchesTheirs"],
        old["proofRoot"],
    ) == ("2020-01", 0, 0, True, False, ZERO_ROOT)
    from_receipt = actor.sdk.balance.compare(
        "acct-1",
        {"yours": 7.75, "theirs": 0.25},
        actor.opts(startingCheckpoint=rows[1].proof_hash, startingBalance=0),
    )
    assert (from_receipt["neutralBalance"], from_receipt["deltasCount"], from_receipt["matchesTheirs"]) == (
        0.25,
        1,
        True,
    )

    # A float sum the SDK sends as 0.30000000000000004 is not 0.3: equality is exact.
    actor.sdk.balance.emit("acct-2", 0.1, "usage", actor.opts())
    actor.sdk.balance.emit("acct-2", 0.2, "usage", actor.opts())
    inexact = actor.sdk.balance.compare("acct-2", {"yours": 0.1 + 0.2, "theirs": 0.3}, actor.opts())
    assert (inexact["neutralBalance"], inexact["matchesYours"], inexact["matchesTheirs"]) == (
        0.3,
        False,
        True,
    )


# --- Checkpoints and receipts -------------------------------------------------------------------------
def test_checkpoint_and_list_checkpoints(actor):
    rows = ledger(actor)
    created = actor.sdk.balance.checkpoint("acct-1", actor.opts())
    assert actor.transport.last().response.status_code == 201
    row = Checkpoint.objects.get(customer_record=actor.record("acct-1"))
    assert created == {**expected_checkpoint(row), "idempotent": False}
    period, start, end = current_window()
    assert (created["status"], created["period"], created["windowStart"], created["windowEnd"]) == (
        "VERIFIED",
        period,
        ts(start),
        ts(end),
    )
    assert (created["recordCount"], created["credits"], created["debits"], created["netChange"]) == (
        3,
        10.25,
        -2.5,
        7.75,
    )
    assert created["proofRoot"] == root_of(rows)
    assert created["verificationReference"] == head_reference(actor.persona)
    assert [d.checkpoint_id for d in actor.deltas("acct-1")] == [row.id] * 3

    again = actor.sdk.balance.checkpoint("acct-1", actor.opts())
    assert actor.transport.last().response.status_code == 200
    assert again == {**created, "idempotent": True}
    keyed = actor.sdk.balance.checkpoint("acct-1", actor.opts(mode="all", idempotencyKey="chk-key-1"))
    replayed = actor.sdk.balance.checkpoint("acct-1", actor.opts(mode="all", idempotencyKey="chk-key-1"))
    assert keyed == replayed == again
    assert actor.transport.last().response.headers["idempotent-replayed"] == "true"
    assert json.loads(actor.transport.last().body) == {"customerId": "acct-1", "mode": "all"}
    assert Checkpoint.objects.filter(tenant=actor.persona.tenant).count() == 1

    listed = actor.sdk.balance.list_checkpoints(actor.opts(customerId="acct-1"))
    assert listed == {"checkpoints": [expected_checkpoint(row)], "total": 1, "limit": 50, "offset": 0}
    assert actor.sdk.balance.list_checkpoints(actor.opts(customerId="acct-1", period="2020-01")) == {
        "checkpoints": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }


def test_checkpoint_without_a_customer_covers_every_active_record(actor):
    actor.sdk.balance.emit("acct-1", 1, "usage", actor.opts())
    actor.sdk.balance.emit("acct-2", 2, "usage", actor.opts())
    if actor.vendor is not None:  # the other vendor account's records are not part of this one's checkpoint
        actor.sdk.balance.emit(
            "acct-3", 3, "usage", {"headers": {VENDOR_HEADER: actor.persona.vendors["b"].id}}
        )
    result = actor.sdk.balance.checkpoint(None, actor.opts())
    assert json.loads(actor.transport.last().body) == {}
    rows = {c.customer_record.customer_id: c for c in Checkpoint.objects.filter(tenant=actor.persona.tenant)}
    assert sorted(rows) == ["acct-1", "acct-2"]
    assert result == {
        "checkpoints": [{**expected_checkpoint(rows[c]), "idempotent": False} for c in ("acct-1", "acct-2")],
        "count": 2,
    }
    # Listed without customerId: the vendor account header alone filters (api.md §2.7), newest first.
    listed = actor.sdk.balance.list_checkpoints(actor.opts())
    assert (listed["total"], sorted(c["checkpointId"] for c in listed["checkpoints"])) == (
        2,
        sorted(c.id for c in rows.values()),
    )


def test_receipt_unscoped_and_scoped(actor):
    rows = ledger(actor)
    receipt = actor.sdk.balance.receipt("acct-1", actor.opts())
    assert actor.transport.last().path == "/api/v1/balance/receipt/acct-1"
    assert MIDDLEWARE_NAME_MARKER.encode() not in actor.transport.last().response.body
    period, start, end = current_window()
    generated_at = receipt.pop("generatedAt")
    assert generated_at.endswith("Z")
    assert receipt == {
        "customerId": "acct-1",
        "customerRecordId": actor.record("acct-1").id,
        "vendorAccountId": actor.vendor_id,
        "identity": actor.identity(),
        "scope": {
            "kind": "all",
            "period": None,
            "startDate": None,
            "endDate": None,
            "startingCheckpoint": None,
            "startingCheckpointType": None,
        },
        "deltasCount": 3,
        "finalBalance": 7.75,
        "proofRoot": root_of(rows),
        "checkpointId": None,
        "receiptId": rows[-1].proof_hash,
        "latestCheckpoint": None,
        **expected_links(actor.record("acct-1"), root_of(rows), publicly_verifiable=False),
        "windowSummaries": [
            {
                "period": period,
                "totalCredits": 10.25,
                "totalDebits": -2.5,
                "netChange": 7.75,
                "deltasCount": 3,
            }
        ],
        "deltas": [brief(r) for r in rows],
        "deltasTruncated": False,
    }

    scoped = actor.sdk.balance.receipt("acct-1", actor.opts(period=period))
    call = actor.transport.last()
    assert (call.path, call.query) == ("/api/v1/balance/invoice-proof/acct-1", {"period": [period]})
    assert call.headers.get(VENDOR_HEADER) == actor.vendor_id
    assert scoped == actor.sdk.balance.invoice_proof("acct-1", actor.opts(period=period))
    assert (scoped["period"], scoped["deltasCount"], scoped["netChange"], scoped["checkpointId"]) == (
        period,
        3,
        7.75,
        None,
    )
    custom = actor.sdk.balance.receipt(
        "acct-1",
        actor.opts(
            startDate=start.strftime("%Y-%m-%d"), endDate=(end + dt.timedelta(days=1)).strftime("%Y-%m-%d")
        ),
    )
    assert actor.transport.last().path == "/api/v1/balance/invoice-proof/acct-1"
    assert (custom["period"], custom["windowStart"], custom["windowEnd"], custom["deltasCount"]) == (
        None,
        ts(start),
        ts(end + dt.timedelta(days=1)),
        3,
    )
    assert set(LINK_KEYS) <= set(custom)


def test_invoice_proof_before_and_after_a_checkpoint(actor):
    rows = ledger(actor)
    period, start, end = current_window()
    before = actor.sdk.balance.invoice_proof("acct-1", actor.opts())
    common = {
        "customerId": "acct-1",
        "customerRecordId": actor.record("acct-1").id,
        "vendorAccountId": actor.vendor_id,
        "identity": actor.identity(),
        "period": period,
        "windowStart": ts(start),
        "windowEnd": ts(end),
        "proofRoot": root_of(rows),
        "deltasCount": 3,
        "netChange": 7.75,
    }
    record = actor.record("acct-1")
    assert before == {
        **common,
        "checkpointId": None,
        "verificationReference": None,
        "publiclyVerifiable": False,
        **expected_links(record, root_of(rows), publicly_verifiable=False),
    }

    checkpoint = actor.sdk.balance.checkpoint("acct-1", actor.opts(period=period))
    after = actor.sdk.balance.invoice_proof("acct-1", actor.opts(period=period))
    root = checkpoint["proofRoot"]
    assert after == {
        **common,
        "checkpointId": checkpoint["checkpointId"],
        "verificationReference": checkpoint["verificationReference"],
        "publiclyVerifiable": True,
        **expected_links(record, root, publicly_verifiable=True),
    }
    assert after["verificationApiUrl"] == f"{PUBLIC_BASE_URL}/api/v1/verify/{root}"
    receipt = actor.sdk.balance.receipt("acct-1", actor.opts())
    assert receipt["latestCheckpoint"] == expected_checkpoint(
        Checkpoint.objects.get(pk=checkpoint["checkpointId"])
    )


# --- Customers, gaps, usage ---------------------------------------------------------------------------
def test_customers_and_customer(actor):
    rows = ledger(actor, "acct-1")
    actor.sdk.balance.emit("acct-2", 5, "usage", actor.opts())
    if actor.vendor is not None:  # the same external id under another vendor account is another record
        actor.sdk.balance.emit(
            "acct-1", 9, "usage", {"headers": {VENDOR_HEADER: actor.persona.vendors["b"].id}}
        )

    def summary(customer_id: str) -> dict[str, Any]:
        deltas = actor.deltas(customer_id)
        return {
            "customerId": customer_id,
            "customerRecordId": actor.record(customer_id).id,
            "vendorAccountId": actor.vendor_id,
            "customerReference": customer_reference(customer_id, actor.vendor_id),
            "totalDeltas": len(deltas),
            "firstDeltaAt": ts(deltas[0].created_at),
            "lastDeltaAt": ts(deltas[-1].created_at),
        }

    listed = actor.sdk.balance.customers(actor.opts())
    assert listed == {
        "customers": [summary("acct-1"), summary("acct-2")],
        "pagination": {"total": 2, "page": 1, "limit": 25, "totalPages": 1},
    }
    assert actor.sdk.balance.customers(actor.opts(search="CT-2", limit=1)) == {
        "customers": [summary("acct-2")],
        "pagination": {"total": 1, "page": 1, "limit": 1, "totalPages": 1},
    }

    detail = actor.sdk.balance.customer("acct-1", actor.opts(deltaLimit=2))
    newest = list(reversed(rows))
    assert detail == {
        **summary("acct-1"),
        "computedBalance": 7.75,
        "latestCheckpoint": None,
        "recentActivity": {
            "items": [
                {
                    "recordId": r.record_id,
                    "delta": json.loads(r.delta_text),
                    "reason": r.reason,
                    "referenceId": r.reference_id,
                    "status": "VERIFIED",
                    "time": ts(r.created_at),
                    "verificationReference": r.verification_reference,
                    "receiptId": r.proof_hash,
                }
                for r in newest[:2]
            ],
            "pagination": {"total": 3, "page": 1, "limit": 2, "totalPages": 2},
        },
    }
    page_two = actor.sdk.balance.customer("acct-1", actor.opts(deltaLimit=2, deltaPage=2))
    assert [i["recordId"] for i in page_two["recentActivity"]["items"]] == [newest[2].record_id]


def test_gaps(actor):
    rows = ledger(actor)[:2]
    actor.sdk.balance.emit("acct-1", 1, "usage", actor.opts())  # sealed: the chain now has 4 links
    with actor.transport.hooks_off():
        pending = actor.sdk.balance.emit("acct-1", 1, "usage", actor.opts())
    deltas = actor.deltas("acct-1")
    gaps = actor.sdk.balance.gaps("acct-1", actor.opts())
    assert gaps == {
        "customerId": "acct-1",
        "customerRecordId": actor.record("acct-1").id,
        "fromSequence": 1,
        "toSequence": 5,
        "lastSequence": 5,
        "gaps": [{"sequence": 5, "recordId": pending["recordId"], "status": "QUEUED", "kind": "pending"}],
        "chain": {
            "intact": True,
            "length": 4,
            "head": deltas[3].proof_hash,
            "checkedFrom": 1,
            "checkedTo": 5,
        },
    }
    ranged = actor.sdk.balance.gaps("acct-1", actor.opts(fromSequence=1, toSequence=2, limit=10))
    assert actor.transport.last().query == {"fromSequence": ["1"], "toSequence": ["2"], "limit": ["10"]}
    assert ranged["gaps"] == [] and ranged["chain"] == {
        "intact": True,
        "length": 2,
        "head": rows[1].proof_hash,
        "checkedFrom": 1,
        "checkedTo": 2,
    }


def test_usage(actor):
    ledger(actor)
    with actor.transport.hooks_off():
        actor.sdk.balance.emit("acct-2", 1, "usage", actor.opts())
    period, _, _ = current_window()
    assert actor.sdk.balance.usage(actor.opts()) == {
        "environment": "sandbox",
        "period": period,
        "acceptedDeltas": 4,
        "verifiedDeltas": 3,
        "failedDeltas": 0,
        "pendingDeltas": 1,
        "allowed": True,
        "remaining": None,
        "limit": None,
    }


# --- Public verify ------------------------------------------------------------------------------------
def test_verify_a_checkpoint_root_and_a_receipt(actor):
    rows = ledger(actor)
    checkpoint = actor.sdk.balance.checkpoint("acct-1", actor.opts())
    row = Checkpoint.objects.get(pk=checkpoint["checkpointId"])
    head = SignedTreeHead.objects.get(log__tenant=actor.persona.tenant, tree_size=row.tree_size)
    result = actor.sdk.verify(checkpoint["proofRoot"])
    call = actor.transport.last()
    assert (call.path, call.query) == (f"/api/v1/verify/{checkpoint['proofRoot']}", {})
    assert "X-Api-Key" not in call.headers and VENDOR_HEADER not in call.headers
    assert MIDDLEWARE_NAME_MARKER.encode() not in call.response.body
    assert result == {
        "verified": True,
        "kind": "checkpoint",
        "proofRoot": row.proof_root,
        "recordedAt": ts(row.verified_at),
        "identity": actor.identity(),
        "environment": "sandbox",
        "summary": {
            "recordCount": 3,
            "netChange": 7.75,
            "firstRecordAt": ts(rows[0].created_at),
            "lastRecordAt": ts(rows[-1].created_at),
        },
        "records": [
            {
                "amount": json.loads(r.delta_text),
                "reason": r.reason,
                "referenceId": r.reference_id,
                "status": "verified",
                "time": ts(r.created_at),
            }
            for r in rows
        ],
        "verification": {
            "verificationReference": row.verification_reference,
            "treeSize": head.tree_size,
            "rootHash": "0x" + bytes(head.root_hash).hex(),
            "logOrigin": head.log.origin,
            "checkpointNote": head.note,
        },
        "message": "Recorded and verified.",
    }
    all_true = dict.fromkeys(("contentHashes", "chain", "proofRoot", "inclusion", "signature"), True)
    for source in ("chain", "both"):
        checked = actor.sdk.verify(checkpoint["proofRoot"], source=source)
        assert actor.transport.last().query == {"source": [source]}
        assert checked == {**result, "checks": all_true}

    receipt = actor.sdk.verify(rows[1].proof_hash, source="both")
    assert (receipt["verified"], receipt["kind"], receipt["summary"]["recordCount"], receipt["checks"]) == (
        True,
        "receipt",
        1,
        all_true,
    )
    assert receipt["records"] == [result["records"][1]]

    with pytest.raises(NotFoundError):
        actor.sdk.verify("0x" + "ab" * 32)
    with pytest.raises(NotFoundError):
        actor.sdk.verify(ZERO_ROOT)
    with pytest.raises(PacSpaceError) as malformed:
        actor.sdk.verify("0x1234")
    assert (malformed.value.status_code, malformed.value.code) == (400, "VALIDATION_ERROR")


# --- Summary batches (the coordinator cannot send headers: direct tenants only) -----------------------
SUMMARIES = [
    {
        "customerId": "acct-1",
        "delta": 120,
        "windowStart": "2026-04-01T00:00:00Z",
        "windowEnd": "2026-04-02T00:00:00Z",
        "metadata": {"source": "meter"},
    },
    {
        "customerId": "acct-2",
        "delta": -0.5,
        "windowStart": "2026-04-01T00:00:00+00:00",
        "windowEnd": "2026-04-02T00:00:00+00:00",
        "reason": "credit_note",
    },
]


def test_summary_batches_flush_and_replay(direct):
    queued = direct.sdk.balance.queue_summaries(SUMMARIES)
    assert direct.sdk.balance.get_summary_queue_state()["queuedCount"] == 2
    first = direct.sdk.balance.flush_summaries()
    call = direct.transport.last()
    assert (call.method, call.path, call.response.status_code) == ("POST", "/api/v1/balance/delta/batch", 200)
    assert {
        k: first[k]
        for k in (
            "attempted",
            "submitted",
            "failed",
            "replayed",
            "requestCount",
            "queuedAfterFlush",
            "failures",
        )
    } == {
        "attempted": 2,
        "submitted": 2,
        "failed": 0,
        "replayed": 0,
        "requestCount": 1,
        "queuedAfterFlush": 0,
        "failures": [],
    }

    rows = list(Delta.objects.filter(tenant=direct.persona.tenant).order_by("customer_id"))
    assert [(r.customer_id, r.delta_text, r.reason, r.reference_id, r.status) for r in rows] == [
        ("acct-1", "120", "usage_summary", queued[0]["referenceId"], "VERIFIED"),
        ("acct-2", "-0.5", "credit_note", queued[1]["referenceId"], "VERIFIED"),
    ]
    assert queued[0]["referenceId"].startswith("sum_")
    assert json.loads(rows[0].metadata_json) == {
        "source": "meter",
        "submissionType": "tenant_summary",
        "summaryProfile": "daily",
        "summaryWindowEnd": "2026-04-02T00:00:00Z",
        "summaryWindowStart": "2026-04-01T00:00:00Z",
    }
    batch = json.loads(call.response.body)["data"]
    assert (batch["totalQueued"], batch["totalFailed"], batch["totalReplayed"]) == (2, 0, 0)
    assert [(r["index"], r["recordId"], r["status"], r["idempotent"]) for r in batch["results"]] == [
        (0, rows[0].record_id, "QUEUED", False),
        (1, rows[1].record_id, "QUEUED", False),
    ]

    direct.sdk.balance.queue_summaries(SUMMARIES)
    second = direct.sdk.balance.flush_summaries()
    assert (second["submitted"], second["replayed"], second["failed"], second["queuedAfterFlush"]) == (
        2,
        2,
        0,
        0,
    )
    replay = json.loads(direct.transport.last().response.body)["data"]
    assert (replay["totalQueued"], replay["totalReplayed"]) == (2, 2)
    assert [(r["recordId"], r["status"], r["idempotent"]) for r in replay["results"]] == [
        (rows[0].record_id, "VERIFIED", True),
        (rows[1].record_id, "VERIFIED", True),
    ]
    assert Delta.objects.filter(tenant=direct.persona.tenant).count() == 2


def test_summary_flush_as_a_middleware_tenant_fails_for_want_of_a_vendor_account(middleware):
    middleware.sdk.balance.queue_summaries(SUMMARIES[:1])
    result = middleware.sdk.balance.flush_summaries()
    assert json.loads(middleware.transport.last().response.body)["error"]["code"] == "VENDOR_ACCOUNT_REQUIRED"
    assert (result["submitted"], result["failed"], result["queuedAfterFlush"]) == (0, 1, 1)
    assert result["failures"][0]["error"] == "Every item needs a vendorAccountId (item or top level)"
    assert Delta.objects.filter(tenant=middleware.persona.tenant).count() == 0


# --- Errors -------------------------------------------------------------------------------------------
def test_an_unknown_customer_is_the_sdks_not_found_error(actor):
    actor.sdk.balance.emit("acct-1", 1, "usage", actor.opts())
    calls = [
        lambda: actor.sdk.balance.derive("nobody", actor.opts()),
        lambda: actor.sdk.balance.customer("nobody", actor.opts()),
        lambda: actor.sdk.balance.receipt("nobody", actor.opts()),
        lambda: actor.sdk.balance.invoice_proof("nobody", actor.opts()),
        lambda: actor.sdk.balance.gaps("nobody", actor.opts()),
        lambda: actor.sdk.balance.compare("nobody", {"yours": 1, "theirs": 1}, actor.opts()),
        lambda: actor.sdk.balance.checkpoint("nobody", actor.opts()),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as caught:
            call()
        assert (caught.value.status_code, caught.value.code) == (404, "NOT_FOUND")
        assert caught.value.api_body["code"] == "CUSTOMER_NOT_FOUND"
    assert Checkpoint.objects.filter(tenant=actor.persona.tenant).count() == 0


def test_a_middleware_emit_without_the_vendor_header_is_vendor_account_required(middleware):
    for emit in (
        lambda: middleware.sdk.balance.emit("acct-1", 1, "usage"),
        lambda: middleware.sdk.balance.emit_and_wait("acct-1", 1, "usage", {"timeout": 500}),
    ):
        with pytest.raises(PacSpaceError) as caught:
            emit()
        assert (type(caught.value), caught.value.status_code, caught.value.code) == (
            PacSpaceError,
            422,
            "VENDOR_ACCOUNT_REQUIRED",
        )
        assert caught.value.api_body["code"] == "VENDOR_ACCOUNT_REQUIRED"
    assert Delta.objects.filter(tenant=middleware.persona.tenant).count() == 0


def test_middleware_reads_address_by_record_id_without_the_header(middleware):
    middleware.sdk.balance.emit("acct-1", 4, "usage", middleware.opts())
    record = middleware.record("acct-1")
    with pytest.raises(PacSpaceError) as caught:
        middleware.sdk.balance.derive("acct-1")
    assert (caught.value.status_code, caught.value.code) == (422, "VENDOR_ACCOUNT_REQUIRED")
    by_id = middleware.sdk.balance.derive(record.id)
    assert (by_id["customerId"], by_id["customerRecordId"], by_id["computedBalance"]) == (
        "acct-1",
        record.id,
        4,
    )


def test_an_unknown_api_key_is_the_sdks_invalid_api_key_error(make_actor, direct_tenant):
    from pacspace_sdk import InvalidApiKeyError

    public_key, _secret = direct_tenant.api_key.split(".")
    impostor = make_actor(Persona(tenant=direct_tenant.tenant, api_key=f"{public_key}.{'A' * 43}", api=None))
    with pytest.raises(InvalidApiKeyError) as caught:
        impostor.sdk.balance.usage()
    assert (caught.value.status_code, caught.value.api_body["code"]) == (401, "INVALID_API_KEY")


def test_a_direct_tenant_sending_the_vendor_header_is_refused(direct, vendor_a):
    with pytest.raises(PacSpaceError) as caught:
        direct.sdk.balance.emit("acct-1", 1, "usage", {"headers": {VENDOR_HEADER: vendor_a.id}})
    assert (caught.value.status_code, caught.value.code) == (422, "VENDOR_ACCOUNT_FORBIDDEN")
    assert Delta.objects.filter(tenant=direct.persona.tenant).count() == 0


# --- Live server: the SDK's own urllib transport over real HTTP ---------------------------------------
CUSTOMER_LIVE = "org:acme.eu-1"  # the SDK percent-encodes ':' in paths; the server must decode it


def _personas(request, kind: str) -> tuple[Persona, VendorAccount | None]:
    if kind == "direct":
        return request.getfixturevalue("direct_tenant"), None
    persona = request.getfixturevalue("middleware_tenant")
    return persona, persona.vendors["a"]


def _headers(vendor: VendorAccount | None) -> dict[str, Any]:
    return {"headers": {VENDOR_HEADER: vendor.id}} if vendor else {}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["direct", "middleware"])
def test_live_server_with_the_default_transport(request, live_server, kind):
    # Transactional: the emit commits, its on_commit hook runs seal_log eagerly (tests run with
    # CELERY_TASK_ALWAYS_EAGER) in the server thread; nothing here seals by hand.
    persona, vendor = _personas(request, kind)
    sdk = sdk_for(persona.api_key, base_url=live_server.url)
    try:
        emitted = sdk.balance.emit(CUSTOMER_LIVE, 10, "usage", {**_headers(vendor), "referenceId": "live-1"})
        row = Delta.objects.get(record_id=emitted["recordId"])
        assert (emitted["customerId"], row.customer_id) == (CUSTOMER_LIVE, CUSTOMER_LIVE)
        assert (emitted["status"], emitted["idempotent"], emitted["vendorAccountId"], emitted["delta"]) == (
            "QUEUED",
            False,
            vendor.id if vendor else None,
            10,
        )
        assert (row.status, row.vendor_account_id) == ("VERIFIED", vendor.id if vendor else None)

        waited = sdk.balance.emit_and_wait(
            CUSTOMER_LIVE, -4, "refund", {**_headers(vendor), "timeout": 10_000, "pollInterval": 100}
        )
        second = Delta.objects.get(record_id=waited["recordId"])
        assert waited == expected_delta(second)
        assert (waited["status"], waited["chainIndex"], waited["previousProofHash"]) == (
            "VERIFIED",
            1,
            row.proof_hash,
        )

        derived = sdk.balance.derive(CUSTOMER_LIVE, _headers(vendor))
        assert (derived["computedBalance"], derived["deltasCount"], derived["proofRoot"]) == (
            6,
            2,
            root_of([row, second]),
        )

        checkpoint = sdk.balance.checkpoint(CUSTOMER_LIVE, _headers(vendor))
        assert checkpoint == {
            **expected_checkpoint(Checkpoint.objects.get(pk=checkpoint["checkpointId"])),
            "idempotent": False,
        }
        assert (checkpoint["status"], checkpoint["recordCount"], checkpoint["netChange"]) == (
            "VERIFIED",
            2,
            6,
        )

        if vendor is not None:  # an error answer over real HTTP (urllib's HTTPError path)
            with pytest.raises(PacSpaceError) as caught:
                sdk.balance.emit(CUSTOMER_LIVE, 1, "usage")
            assert (caught.value.status_code, caught.value.code) == (422, "VENDOR_ACCOUNT_REQUIRED")
        with pytest.raises(NotFoundError) as missing:
            sdk.balance.derive("nobody", _headers(vendor))
        assert missing.value.api_body["code"] == "CUSTOMER_NOT_FOUND"

        verified = sdk.verify(checkpoint["proofRoot"], source="both")
        assert (verified["verified"], verified["kind"], verified["summary"]["recordCount"]) == (
            True,
            "checkpoint",
            2,
        )
        assert verified["checks"] == dict.fromkeys(
            ("contentHashes", "chain", "proofRoot", "inclusion", "signature"), True
        )
    finally:
        sdk.close()


# --- Live server with a real Celery seal worker ---------------------------------------------------------
@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["direct", "middleware"])
def test_emit_and_wait_with_a_real_celery_worker(request, live_server, celery_not_eager, kind):
    from records.tasks import seal_log

    assert seal_log.app.conf.task_always_eager is False  # the seal goes through Redis to the worker
    persona, vendor = _personas(request, kind)
    sdk = sdk_for(persona.api_key, base_url=live_server.url)
    try:
        waited = sdk.balance.emit_and_wait(
            "acct-worker", 3.5, "usage", {**_headers(vendor), "timeout": 30_000, "pollInterval": 200}
        )
        row = Delta.objects.get(record_id=waited["recordId"])
        assert waited == expected_delta(row)
        assert (waited["status"], waited["vendorAccountId"], waited["delta"], row.status) == (
            "VERIFIED",
            vendor.id if vendor else None,
            3.5,
            "VERIFIED",
        )
        assert waited["verificationReference"] == head_reference(persona)
    finally:
        sdk.close()
