"""The Shared Record tests' scenario and helpers, written through the internal services with
backdated `createdAt` (HTTP cannot backdate).

Record `main` (Acme Inference, under the middleware tenant whose name carries the marker):

| month         | deltas                                            | state                       |
|---------------|---------------------------------------------------|-----------------------------|
| p1 (two back) | -10 (u1), -5 (u2), +2.5 credit adjusting u1       | closed: checkpoint verified |
| p2 (previous) | -20 (u3), -7.5 (u4)                               | closed: checkpoint verified |
| current       | -3 (u5) sealed, -1.25 (u6) not sealed yet         | recorded / recording        |

Record `other` (Nimbus Models): one sealed delta this month, its own link. Used for cookie scope.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from records.models import Checkpoint, CustomerRecord, Delta, Environment, SharedRecord, Tenant
from records.scopes import Scope, month_window, period_of
from records.services.checkpoints import checkpoints_commit
from records.services.deltas import deltas_accept
from records.services.sealing import seal_until_idle
from records.services.shared_records import access_code, shared_record_of
from records.validation import parse_delta_item
from tests.conftest import Persona

# The customer-facing JSON shapes are the middleware API's too; one set of expectations serves both.
from tests.middleware_api.conftest import (  # noqa: F401 - re-exported for the Shared Record tests
    data_of,
    entry_json,
    error_of,
    identity_of,
    month_start,
    period_json,
    ts,
)

STAFF = {"type": "staff"}
CLIENT_IP = "203.0.113.77"
OTHER_IP = "198.51.100.23"


@dataclass
class SharedScenario:
    persona: Persona
    p1: str
    p2: str
    current: str
    records: dict[str, CustomerRecord] = field(default_factory=dict)
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    deltas: dict[str, Delta] = field(default_factory=dict)

    def shared(self, key: str = "main") -> SharedRecord:
        return SharedRecord.objects.get(customer_record=self.records[key])

    def handle(self, key: str = "main") -> str:
        return self.shared(key).handle

    def code(self, key: str = "main") -> str:
        return access_code(self.shared(key))

    def api(self, key: str = "main", suffix: str = "") -> str:
        return f"/api/v1/c/{self.handle(key)}{suffix}"

    def page(self, key: str = "main", suffix: str = "") -> str:
        return f"/c/{self.handle(key)}{suffix}"

    def set_policy(self, policy: str, key: str = "main") -> None:
        SharedRecord.objects.filter(customer_record=self.records[key]).update(policy=policy)

    def accept(self, key: str, vendor, external: str, moment: dt.datetime, name: str, **raw: Any) -> Delta:
        outcome, = deltas_accept(tenant=self.persona.tenant, environment=Environment.SANDBOX, vendor=vendor,
                                 items=[parse_delta_item({"customerId": external, **raw})], actor=STAFF,
                                 created_at=moment)
        assert outcome.error is None, outcome.error
        self.records[key] = CustomerRecord.objects.get(pk=outcome.delta.customer_record_id)
        self.deltas[name] = outcome.delta
        return outcome.delta

    def seal(self) -> None:
        seal_until_idle(tenant_id=self.persona.tenant.id, environment=Environment.SANDBOX)

    def close(self, vendor, period: str) -> None:
        start, end = month_window(int(period[:4]), int(period[5:]))
        for result in checkpoints_commit(tenant=self.persona.tenant, environment=Environment.SANDBOX, vendor=vendor,
                                         customer_id=None, scope=Scope(kind="period", start=start, end=end,
                                                                       period=period)):
            self.checkpoints[period] = result.checkpoint

    def delta(self, name: str) -> Delta:
        return Delta.objects.get(pk=self.deltas[name].pk)


def build_scenario(persona: Persona, vendor_a, vendor_b) -> SharedScenario:
    now = timezone.now()
    current, p1_start, p2_start = month_start(now, 0), month_start(now, 2), month_start(now, 1)
    s = SharedScenario(persona, period_of(p1_start), period_of(p2_start), period_of(now))

    def day(start: dt.datetime, n: int) -> dt.datetime:
        return start + dt.timedelta(days=n - 1, hours=23, minutes=59)

    a = vendor_a
    s.accept("main", a, "acct-1", day(p1_start, 1), "u1", delta="-10", reason=f"daily_usage_flush:{s.p1}-01",
             referenceId="u1")
    s.accept("main", a, "acct-1", day(p1_start, 2), "u2", delta="-5", reason=f"daily_usage_flush:{s.p1}-02",
             referenceId="u2")
    s.accept("main", a, "acct-1", day(p1_start, 3), "credit", delta="2.5", reason="credit: duplicate flush",
             adjusts={"referenceId": "u1"}, metadata={"ticket": "T-1"})
    s.accept("main", a, "acct-1", day(p2_start, 1), "u3", delta="-20", reason=f"daily_usage_flush:{s.p2}-01",
             referenceId="u3")
    s.accept("main", a, "acct-1", day(p2_start, 2), "u4", delta="-7.5", reason=f"daily_usage_flush:{s.p2}-02",
             referenceId="u4")
    s.accept("other", vendor_b, "acct-9", current + (now - current) / 3, "o1", delta="-4", reason="usage",
             referenceId="o1")
    s.seal()
    s.close(a, s.p1)
    s.close(a, s.p2)
    s.accept("main", a, "acct-1", current + (now - current) / 2, "u5", delta="-3",
             reason=f"daily_usage_flush:{s.current}", referenceId="u5")
    s.seal()
    s.accept("main", a, "acct-1", current + (now - current) * 3 / 4, "u6", delta="-1.25",
             reason=f"daily_usage_flush:{s.current}-b", referenceId="u6")  # stays QUEUED: recording
    for record in s.records.values():
        shared_record_of(record)
    for checkpoint in s.checkpoints.values():
        checkpoint.refresh_from_db()
    return s


@pytest.fixture
def scenario(middleware_tenant, vendor_a, vendor_b) -> SharedScenario:
    return build_scenario(middleware_tenant, vendor_a, vendor_b)


@pytest.fixture(autouse=True)
def roomy_public_rate_limit(settings) -> None:
    """These tests send many requests from one address; the per-address limit has its own tests."""
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 1_000_000


# --- Clients and assertions ----------------------------------------------------------------------------
def browser(ip: str = CLIENT_IP, user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0 Safari/537.36") -> Client:
    """A visitor: one client address and user agent, cookies kept, CSRF enforced."""
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent)


def post_json(client: Client, path: str, body: Any):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def unlock(client: Client, scenario: SharedScenario, key: str = "main"):
    response = post_json(client, scenario.api(key, "/access/verify"), {"factor": "ACCESS_HINT",
                                                                       "value": scenario.code(key)})
    assert response.status_code == 200, response.content
    return response


def assert_shared_headers(response) -> None:
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Robots-Tag"] == "noindex"


POLICIES = (Tenant.Policy.TWO_TIER, Tenant.Policy.GATED, Tenant.Policy.OPEN)


def brief_json(delta: Delta, state: str) -> dict[str, Any]:
    return {"recordedAt": ts(delta.created_at), "amount": Decimal(delta.delta_text), "state": state}
