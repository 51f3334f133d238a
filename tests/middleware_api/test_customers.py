"""Record card, live view, closed periods and period detail (api.md §4.2, §4.4–4.6)."""

from __future__ import annotations

from decimal import Decimal

from records.models import Checkpoint, CustomerRecord, SharedRecord
from records.proofs import customer_reference
from tests.middleware_api.conftest import (
    BASE,
    data_of,
    entry_json,
    error_of,
    identity_of,
    period_json,
    ts,
)

NO_SUCH_CUSTOMER = "cus_" + "2" * 20
NO_SUCH_CHECKPOINT = "chk_" + "2" * 20


def record_path(vendor: str, external: str) -> str:
    return f"{BASE}/vendors/{vendor}/customers/{external}/record"


def link_of(record) -> str:
    return f"https://records.example.com/c/{SharedRecord.objects.get(customer_record=record).handle}"


# --- 4.2 record card --------------------------------------------------------------------------------
def test_record_card_by_vendor_id(scenario):
    a1, vendor = scenario.records["a1"], scenario.vendor_a
    data = data_of(scenario.api.get(record_path(vendor.id, "acct-1")))
    base = f"{BASE}/customers/{a1.id}"
    assert data == {
        "customerId": a1.id,
        "externalCustomerId": "acct-1",
        "vendorAccountId": vendor.id,
        "vendorAccount": {"id": vendor.id, "displayName": "Acme Inference", "externalId": "acme", "status": "active"},
        "environment": "sandbox",
        "customerReference": customer_reference("acct-1", vendor.id),
        "totalDeltas": 7,
        "computedBalance": Decimal("-44.25"),
        "firstDeltaAt": ts(scenario.deltas["a1_p1_1"].created_at),
        "lastDeltaAt": ts(scenario.deltas["a1_current"].created_at),
        "createdAt": ts(a1.created_at),
        "latestCheckpoint": period_json(scenario.checkpoints[("a1", scenario.p2)]),
        "sharedRecord": {"url": link_of(a1), "status": "active", "policy": "TWO_TIER"},
        "identity": identity_of(vendor),
        "links": {"live": f"{base}/live", "periods": f"{base}/periods", "closePackage": f"{base}/close-package",
                  "accessLink": f"{base}/access-link", "compare": f"{base}/compare", "export": f"{base}/export"},
    }


def test_record_card_by_external_id_resolves_per_vendor(scenario):
    """The same externalCustomerId under two vendor accounts is two records."""
    b1 = data_of(scenario.api.get(record_path("nimbus", "acct-1")))
    a1 = data_of(scenario.api.get(record_path("acme", "acct-1")))
    assert (a1["customerId"], b1["customerId"]) == (scenario.records["a1"].id, scenario.records["b1"].id)
    # Pending deltas count as recorded; only verified ones make the balance.
    assert (b1["totalDeltas"], b1["computedBalance"]) == (3, Decimal("-150"))
    assert b1["identity"] == identity_of(scenario.vendor_b)
    assert b1["latestCheckpoint"]["checkpointId"] == scenario.checkpoints[("b1", scenario.p1)].id


def test_record_card_unknown_vendor_is_404_not_found(scenario):
    for vendor in ("cmw_" + "2" * 20, "nobody"):
        assert error_of(scenario.api.get(record_path(vendor, "acct-1")), 404, "NOT_FOUND")


def test_record_card_before_first_delta_is_customer_not_found(scenario):
    error_of(scenario.api.get(record_path("acme", "acct-9")), 404, "CUSTOMER_NOT_FOUND")


def test_record_card_shows_a_revoked_link_without_url(scenario):
    SharedRecord.objects.filter(customer_record=scenario.records["a2"]).update(status="revoked")
    data = data_of(scenario.api.get(record_path("acme", "acct-2")))
    assert data["sharedRecord"] == {"url": None, "status": "revoked", "policy": "TWO_TIER"}


# --- 4.4 live ----------------------------------------------------------------------------------------
def test_live(scenario):
    a1 = scenario.records["a1"]
    data = data_of(scenario.api.get(scenario.path("a1", "live")))
    newest_first = ["a1_current", "a1_p2_late", "a1_p2_2", "a1_p2_1", "a1_p1_credit", "a1_p1_2", "a1_p1_1"]
    states = ["recorded", "recorded", "verified", "verified", "verified", "verified", "verified"]
    handle = SharedRecord.objects.get(customer_record=a1).handle
    assert data == {
        "customerId": a1.id,
        "externalCustomerId": "acct-1",
        "vendorAccountId": scenario.vendor_a.id,
        "environment": "sandbox",
        "period": scenario.current,
        "recordedThisPeriod": Decimal("-3"),
        "recordCountThisCycle": 1,
        "recordingCount": 0,
        "verifiedThrough": ts(scenario.checkpoints[("a1", scenario.p2)].window_end),
        "recentRecords": [entry_json(scenario.deltas[n], s) for n, s in zip(newest_first, states, strict=True)],
        "link": {"url": f"https://records.example.com/c/{handle}", "host": "records.example.com", "handle": handle,
                 "status": "active"},
        "policy": "TWO_TIER",
        "identity": identity_of(scenario.vendor_a),
    }


def test_live_counts_pending_records_of_this_period(scenario):
    b1 = data_of(scenario.api.get(scenario.path("b1", "live")))
    # b1 has nothing in the current month; its pending delta is dated last month.
    assert (b1["recordedThisPeriod"], b1["recordCountThisCycle"], b1["recordingCount"]) == (0, 0, 0)
    assert b1["recentRecords"][0] == entry_json(scenario.deltas["b1_p2_pending"], "recording")
    assert b1["verifiedThrough"] == ts(scenario.checkpoints[("b1", scenario.p1)].window_end)


def test_unknown_or_malformed_customer_is_customer_not_found(scenario):
    for customer in (NO_SUCH_CUSTOMER, "acct-1", scenario.vendor_a.id):
        error = error_of(scenario.api.get(f"{BASE}/customers/{customer}/live"), 404, "CUSTOMER_NOT_FOUND")
        assert error["message"] == "No customer record with this id"


# --- 4.5 periods ---------------------------------------------------------------------------------------
def test_periods_newest_window_first(scenario):
    data = data_of(scenario.api.get(scenario.path("a1", "periods")))
    p1, p2 = scenario.checkpoints[("a1", scenario.p1)], scenario.checkpoints[("a1", scenario.p2)]
    assert data == {"items": [period_json(p2), period_json(p1)], "total": 2, "limit": 50, "offset": 0}
    assert [(i["recordCount"], i["credits"], i["debits"], i["netChange"]) for i in data["items"]] == [
        (2, 0, Decimal("-27.5"), Decimal("-27.5")),
        (3, Decimal("2.5"), Decimal("-15"), Decimal("-12.5")),
    ]


def test_periods_paging(scenario):
    data = data_of(scenario.api.get(scenario.path("a1", "periods"), limit=1, offset=1))
    assert ([i["period"] for i in data["items"]], data["total"], data["limit"], data["offset"]) == (
        [scenario.p1], 2, 1, 1)
    error_of(scenario.api.get(scenario.path("a1", "periods"), limit=0), 400, "VALIDATION_ERROR")


def test_periods_hide_superseded_unless_asked(scenario):
    scenario.close(scenario.vendor_a, scenario.p2, "acct-1")  # covers the late delta, supersedes the old one
    old, new = Checkpoint.objects.filter(customer_record=scenario.records["a1"], period=scenario.p2).order_by(
        "created_at")
    old.refresh_from_db()
    assert (old.superseded_by_id, new.supersedes_id, new.record_count) == (new.id, old.id, 3)
    default = data_of(scenario.api.get(scenario.path("a1", "periods")))
    assert [i["checkpointId"] for i in default["items"]] == [new.id, scenario.checkpoints[("a1", scenario.p1)].id]
    everything = data_of(scenario.api.get(scenario.path("a1", "periods"), includeSuperseded="true"))
    assert [i["checkpointId"] for i in everything["items"]] == [
        new.id, old.id, scenario.checkpoints[("a1", scenario.p1)].id]
    assert everything["items"][1]["supersededBy"] == new.id
    error = error_of(scenario.api.get(scenario.path("a1", "periods"), includeSuperseded="maybe"), 400,
                     "VALIDATION_ERROR")
    assert list(error["details"]["fields"]) == ["includeSuperseded"]


# --- 4.6 period detail ----------------------------------------------------------------------------------
def test_period_detail_and_alias(scenario):
    checkpoint = scenario.checkpoints[("a1", scenario.p1)]
    expected = {
        "period": period_json(checkpoint),
        "identity": identity_of(scenario.vendor_a),
        "customerId": scenario.records["a1"].id,
        "externalCustomerId": "acct-1",
        "vendorAccountId": scenario.vendor_a.id,
        "records": {
            "items": [entry_json(scenario.deltas[n], "verified") for n in ("a1_p1_1", "a1_p1_2", "a1_p1_credit")],
            "total": 3, "limit": 500, "offset": 0,
        },
    }
    assert data_of(scenario.api.get(scenario.path("a1", f"periods/{checkpoint.id}"))) == expected
    assert data_of(scenario.api.get(scenario.path("a1", f"period/{checkpoint.id}"))) == expected
    assert expected["records"]["items"][2]["adjusts"] == {"referenceId": "u1"}


def test_period_detail_manifest_paging(scenario):
    checkpoint = scenario.checkpoints[("a1", scenario.p1)]
    data = data_of(scenario.api.get(scenario.path("a1", f"periods/{checkpoint.id}"), limit=1, offset=1))
    assert data["records"] == {"items": [entry_json(scenario.deltas["a1_p1_2"], "verified")], "total": 3,
                               "limit": 1, "offset": 1}
    for limit in (0, 1001):
        error_of(scenario.api.get(scenario.path("a1", f"periods/{checkpoint.id}"), limit=limit), 400,
                 "VALIDATION_ERROR")


def test_period_detail_of_another_record_or_malformed_id_is_404(scenario):
    others = scenario.checkpoints[("a2", scenario.p1)].id
    for checkpoint_id in (others, NO_SUCH_CHECKPOINT, "not-an-id"):
        error_of(scenario.api.get(scenario.path("a1", f"periods/{checkpoint_id}")), 404, "NOT_FOUND")


def test_period_detail_of_a_queued_checkpoint_is_404(scenario):
    scenario.close(scenario.vendor_b, scenario.p2)  # b1 has a pending delta in P2: stays QUEUED
    queued = scenario.checkpoints[("b1", scenario.p2)]
    assert queued.status == "QUEUED"
    error_of(scenario.api.get(scenario.path("b1", f"periods/{queued.id}")), 404, "NOT_FOUND")


def test_production_key_does_not_see_sandbox_records(scenario):
    from tests.conftest import make_persona

    live = make_persona(scenario.tenant, environment="live")
    error_of(live.api.get(scenario.path("a1", "live")), 404, "CUSTOMER_NOT_FOUND")
    error_of(live.api.get(record_path("acme", "acct-1")), 404, "CUSTOMER_NOT_FOUND")
    assert CustomerRecord.objects.filter(tenant=scenario.tenant, environment="production").count() == 0
