"""Two-period compare from the tenant side (api.md §4.11)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from records.models import AccessLogEntry
from tests.middleware_api.conftest import data_of, entry_json, error_of, identity_of, ts
from webhooks.models import Event


def _compare(scenario, body, key: str = "a1"):
    return scenario.api.post(scenario.path(key, "compare"), body)


def test_compare_two_closed_periods(scenario):
    c1, c2 = scenario.checkpoints[("a1", scenario.p1)], scenario.checkpoints[("a1", scenario.p2)]
    data = data_of(_compare(scenario, {"fromPeriod": scenario.p1, "toPeriod": scenario.p2}))
    assert {k: data[k] for k in ("customerId", "externalCustomerId", "vendorAccountId", "identity")} == {
        "customerId": scenario.records["a1"].id, "externalCustomerId": "acct-1",
        "vendorAccountId": scenario.vendor_a.id, "identity": identity_of(scenario.vendor_a)}
    assert data["from"] == {
        "basis": "checkpoint", "period": scenario.p1, "checkpointId": c1.id, "windowStart": ts(c1.window_start),
        "windowEnd": ts(c1.window_end), "proofRoot": c1.proof_root, "recordCount": 3, "credits": Decimal("2.5"),
        "debits": Decimal("-15"), "netChange": Decimal("-12.5")}
    assert data["to"] == {
        "basis": "checkpoint", "period": scenario.p2, "checkpointId": c2.id, "windowStart": ts(c2.window_start),
        "windowEnd": ts(c2.window_end), "proofRoot": c2.proof_root, "recordCount": 2, "credits": 0,
        "debits": Decimal("-27.5"), "netChange": Decimal("-27.5")}
    assert data["difference"] == {"recordCount": -1, "credits": Decimal("-2.5"), "debits": Decimal("-12.5"),
                                  "netChange": Decimal("-15")}
    assert data["byReason"] == [
        {"reasonGroup": "credit", "from": {"recordCount": 1, "netChange": Decimal("2.5")},
         "to": {"recordCount": 0, "netChange": 0}, "difference": {"recordCount": -1, "netChange": Decimal("-2.5")}},
        {"reasonGroup": "daily_usage_flush", "from": {"recordCount": 2, "netChange": Decimal("-15")},
         "to": {"recordCount": 2, "netChange": Decimal("-27.5")},
         "difference": {"recordCount": 0, "netChange": Decimal("-12.5")}},
    ]
    assert data["onlyInFrom"] == {"total": 3, "truncated": False, "items": [
        entry_json(scenario.deltas[n], "verified") for n in ("a1_p1_1", "a1_p1_2", "a1_p1_credit")]}
    assert data["onlyInTo"]["total"] == 2


def test_compare_logs_and_fires_compare_run(scenario):
    c1, c2 = scenario.checkpoints[("a1", scenario.p1)], scenario.checkpoints[("a1", scenario.p2)]
    data_of(_compare(scenario, {"fromCheckpointId": c1.id, "toCheckpointId": c2.id}))
    entry = AccessLogEntry.objects.get(customer_record=scenario.records["a1"], action="compare")
    assert (entry.actor_type, entry.viewer_hash) == ("tenant_api", "")
    event = Event.objects.get(tenant=scenario.tenant, type="customer.compare_run").payload["data"]
    assert {k: v for k, v in event.items() if k != "occurredAt"} == {
        "customerId": scenario.records["a1"].id, "externalCustomerId": "acct-1",
        "vendorAccountId": scenario.vendor_a.id,
        "actor": {"type": "tenant_api", "apiKeyId": scenario.tenant.api_keys.get().id},
        "compareKind": "periods",
        "from": {"basis": "checkpoint", "period": scenario.p1, "checkpointId": c1.id},
        "to": {"basis": "checkpoint", "period": scenario.p2, "checkpointId": c2.id},
        "difference": {"recordCount": -1, "netChange": -15},
    }


def test_period_without_checkpoint_compares_live(scenario):
    data = data_of(_compare(scenario, {"fromPeriod": scenario.p2, "toPeriod": scenario.current}, key="b1"))
    assert (data["from"]["basis"], data["from"]["checkpointId"], data["from"]["proofRoot"]) == ("live", None, None)
    # Live sides hold every non-FAILED delta of the month, pending ones included.
    assert (data["from"]["recordCount"], data["from"]["netChange"]) == (2, Decimal("-52"))
    assert (data["to"]["recordCount"], data["to"]["netChange"]) == (0, 0)


@pytest.mark.parametrize("body", [
    {},
    {"fromPeriod": "2026-01"},
    {"fromCheckpointId": "chk_" + "2" * 20},
    {"fromPeriod": "2026-01", "toCheckpointId": "chk_" + "2" * 20},
    {"fromPeriod": "2026-01", "toPeriod": "2026-02", "fromCheckpointId": "chk_" + "2" * 20},
])
def test_mixed_or_missing_sides_are_invalid_scope_combination(scenario, body, unchanged):
    with unchanged():
        error_of(_compare(scenario, body), 400, "INVALID_SCOPE_COMBINATION")


def test_malformed_period_is_400(scenario, unchanged):
    with unchanged():
        error_of(_compare(scenario, {"fromPeriod": "2026-13", "toPeriod": scenario.p2}), 400, "VALIDATION_ERROR")


def test_future_period_is_400(scenario):
    error = error_of(_compare(scenario, {"fromPeriod": scenario.p1, "toPeriod": "2999-01"}), 400, "VALIDATION_ERROR")
    assert error["details"] == {"fields": {"toPeriod": ["must not be after the current period"]}}


def test_checkpoint_of_another_record_is_404(scenario, unchanged):
    other = scenario.checkpoints[("a2", scenario.p1)].id
    with unchanged():
        error_of(_compare(scenario, {"fromCheckpointId": other, "toCheckpointId": other}), 404, "NOT_FOUND")
        error_of(_compare(scenario, {"fromCheckpointId": "nope", "toCheckpointId": "nope"}), 404, "NOT_FOUND")


def test_queued_checkpoint_is_period_not_closed(scenario):
    scenario.close(scenario.vendor_b, scenario.p2)
    queued, closed = scenario.checkpoints[("b1", scenario.p2)], scenario.checkpoints[("b1", scenario.p1)]
    error_of(_compare(scenario, {"fromCheckpointId": closed.id, "toCheckpointId": queued.id}, key="b1"), 409,
             "PERIOD_NOT_CLOSED")


def test_body_must_be_a_json_object(scenario):
    error_of(_compare(scenario, ["fromPeriod"]), 400, "VALIDATION_ERROR")
    error_of(scenario.api.request("POST", scenario.path("a1", "compare"), raw=b"{bad"), 400, "VALIDATION_ERROR")
