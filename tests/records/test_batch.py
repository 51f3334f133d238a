"""POST /api/v1/balance/delta/batch (api.md §2.2)."""

import pytest

from records.models import Delta
from tests.records.helpers import delta_count, seal

URL = "/api/v1/balance/delta/batch"


def item(customer="acct-1", delta=-1, reason="usage", **extra):
    return {"customerId": customer, "delta": delta, "reason": reason, **extra}


def test_batch_records_good_items_and_reports_bad_ones(direct_tenant):
    response = direct_tenant.api.post(URL, {"deltas": [
        item(referenceId="r1"), item(delta=0), item("acct-2", 5, referenceId="r2"),
    ]})
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["totalQueued"], data["totalFailed"], data["totalReplayed"]) == (2, 1, 0)
    ok, bad, ok2 = data["results"]
    assert [r["index"] for r in data["results"]] == [0, 1, 2]
    assert ok["status"] == "QUEUED" and ok["error"] is None and ok["idempotent"] is False
    assert Delta.objects.get(record_id=ok["recordId"]).reference_id == "r1"
    assert bad == {
        "index": 1, "status": "FAILED", "recordId": None, "customerId": "acct-1", "customerRecordId": None,
        "delta": None, "referenceId": None, "contentHash": None, "idempotent": False,
        "error": {"code": "VALIDATION_ERROR", "message": "deltas.1.delta: must be non-zero",
                  "details": {"fields": {"deltas.1.delta": ["must be non-zero"]}}},
    }
    assert ok2["delta"] == 5 and ok2["customerId"] == "acct-2"
    assert delta_count(direct_tenant.tenant) == 2


def test_batch_replay_marks_items_idempotent(direct_tenant):
    body = {"deltas": [item(referenceId="r1"), item(delta=-2, referenceId="r2")]}
    first = direct_tenant.api.post(URL, body).json()["data"]
    seal(direct_tenant)
    again = direct_tenant.api.post(URL, body).json()["data"]
    assert (again["totalQueued"], again["totalFailed"], again["totalReplayed"]) == (2, 0, 2)
    assert [r["recordId"] for r in again["results"]] == [r["recordId"] for r in first["results"]]
    assert [r["status"] for r in again["results"]] == ["VERIFIED", "VERIFIED"]
    assert all(r["idempotent"] for r in again["results"])
    assert delta_count(direct_tenant.tenant) == 2


def test_item_may_adjust_an_earlier_item_of_the_same_batch(direct_tenant):
    data = direct_tenant.api.post(URL, {"deltas": [
        item(referenceId="usage:1", delta=-10),
        item(delta=2.5, reason="credit", adjusts={"referenceId": "usage:1"}),
        item(delta=1, reason="credit", adjusts={"referenceId": "usage:later"}),
        item(referenceId="usage:later", delta=-3),
    ]}).json()["data"]
    first, credit, early, later = data["results"]
    assert credit["error"] is None
    assert Delta.objects.get(record_id=credit["recordId"]).adjusts_delta.record_id == first["recordId"]
    assert early["error"]["code"] == "ADJUSTS_TARGET_NOT_FOUND"
    assert later["error"] is None
    assert seal(direct_tenant) == 3


def test_reference_conflict_fails_only_that_item(direct_tenant):
    data = direct_tenant.api.post(URL, {"deltas": [item(referenceId="r1"), item(delta=-9, referenceId="r1")]}).json()["data"]
    assert data["results"][1]["error"] == {
        "code": "REFERENCE_CONFLICT", "message": "referenceId already used with different content",
        "details": {"recordId": data["results"][0]["recordId"]},
    }
    assert delta_count(direct_tenant.tenant) == 1


@pytest.mark.parametrize("count", [0, 1001])
def test_item_count_limits(direct_tenant, count):
    response = direct_tenant.api.post(URL, {"deltas": [item(delta=i + 1) for i in range(count)]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert delta_count(direct_tenant.tenant) == 0


def test_thousand_items_are_accepted(direct_tenant):
    response = direct_tenant.api.post(URL, {"deltas": [item(f"acct-{i % 7}", i + 1) for i in range(1000)]})
    assert response.json()["data"]["totalQueued"] == 1000
    assert seal(direct_tenant) == 1000
    assert Delta.objects.filter(tenant=direct_tenant.tenant, status="VERIFIED").count() == 1000


@pytest.mark.parametrize("body", [{"deltas": "x"}, {"deltas": None}, [], {"nope": []}])
def test_malformed_body_rejects_everything(direct_tenant, body):
    response = direct_tenant.api.post(URL, body)
    assert response.status_code == 400
    assert delta_count(direct_tenant.tenant) == 0


class TestBatchVendorRule:
    def test_top_level_vendor_applies_to_items(self, middleware_tenant, vendor_a):
        data = middleware_tenant.api.post(URL, {"vendorAccountId": vendor_a.id, "deltas": [item(), item("b")]}).json()["data"]
        assert {Delta.objects.get(record_id=r["recordId"]).vendor_account_id for r in data["results"]} == {vendor_a.id}

    def test_header_acts_as_top_level(self, middleware_tenant, vendor_a):
        response = middleware_tenant.api.post(URL, {"deltas": [item()]}, headers={"X-Vendor-Account-Id": vendor_a.id})
        assert response.json()["data"]["totalQueued"] == 1

    @pytest.mark.parametrize(
        ("shape", "code"),
        [("missing_on_one", "VENDOR_ACCOUNT_REQUIRED"), ("two_vendors", "VENDOR_ACCOUNT_MISMATCH")],
    )
    def test_whole_batch_refused(self, middleware_tenant, vendor_a, vendor_b, shape, code):
        if shape == "missing_on_one":
            deltas = [item(vendorAccountId=vendor_a.id), item()]
        else:
            deltas = [item(vendorAccountId=vendor_a.id), item(vendorAccountId=vendor_b.id)]
        response = middleware_tenant.api.post(URL, {"deltas": deltas})
        assert response.status_code == 422 and response.json()["error"]["code"] == code
        assert delta_count(middleware_tenant.tenant) == 0

    def test_direct_tenant_batch_with_vendor_is_refused(self, direct_tenant, vendor_a):
        response = direct_tenant.api.post(URL, {"deltas": [item(vendorAccountId=vendor_a.id)]})
        assert response.status_code == 422 and response.json()["error"]["code"] == "VENDOR_ACCOUNT_FORBIDDEN"
        assert delta_count(direct_tenant.tenant) == 0
