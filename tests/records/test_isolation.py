"""Cross-tenant, cross-vendor and cross-environment isolation of Balance routes: 404, nothing changed."""

import pytest

from records.models import Checkpoint, CustomerRecord, Delta, IdempotencyKey
from records.services.tenants import api_key_create
from tests.conftest import ApiClient
from tests.records.helpers import emit, seal
from webhooks.models import Event


def _snapshot():
    return (
        list(Delta.objects.order_by("id").values()),
        list(CustomerRecord.objects.order_by("id").values()),
        list(Checkpoint.objects.order_by("id").values()),
        Event.objects.count(),
        IdempotencyKey.objects.count(),
    )


@pytest.fixture
def owned(middleware_tenant, vendor_a):
    data = emit(middleware_tenant, "acct-1", -1, vendor=vendor_a, referenceId="r1").json()["data"]
    seal(middleware_tenant)
    middleware_tenant.api.post("/api/v1/balance/checkpoint", {"customerId": "acct-1", "vendorAccountId": vendor_a.id})
    return data


def _reads(record_id, record_cus, checkpoint_id):
    return [
        ("GET", f"/api/v1/balance/delta/{record_id}", None),
        ("GET", f"/api/v1/balance/derive/{record_cus}", None),
        ("GET", f"/api/v1/balance/customers/{record_cus}", None),
        ("GET", f"/api/v1/balance/gaps/{record_cus}", None),
        ("GET", f"/api/v1/balance/receipt/{record_cus}", None),
        ("GET", f"/api/v1/balance/invoice-proof/{record_cus}", None),
        ("GET", f"/api/v1/balance/checkpoints/{checkpoint_id}", None),
        ("POST", "/api/v1/balance/compare", {"customerId": record_cus, "yourBalance": 0, "theirBalance": 0}),
        ("POST", "/api/v1/balance/checkpoint", {"customerId": record_cus, "vendorAccountId": "x"}),
    ]


def test_other_tenant_sees_nothing_and_changes_nothing(owned, other_tenant):
    checkpoint_id = Checkpoint.objects.get().id
    before = _snapshot()
    for method, path, body in _reads(owned["recordId"], owned["customerRecordId"], checkpoint_id):
        response = other_tenant.api.request(method, path, body)
        assert response.status_code in (404, 422), (path, response.content)
        assert response.json()["success"] is False
        assert owned["customerRecordId"] not in response.content.decode()
    assert other_tenant.api.get("/api/v1/balance/customers").json()["data"]["customers"] == []
    assert other_tenant.api.get("/api/v1/balance/checkpoints").json()["data"]["total"] == 0
    assert _snapshot() == before


def test_other_vendor_account_of_same_tenant_does_not_see_the_record(owned, middleware_tenant, vendor_b):
    response = middleware_tenant.api.get("/api/v1/balance/derive/acct-1", vendorAccountId=vendor_b.id)
    assert response.status_code == 404 and response.json()["error"]["code"] == "CUSTOMER_NOT_FOUND"


def test_middleware_read_without_vendor_needs_record_id(owned, middleware_tenant, vendor_a):
    assert middleware_tenant.api.get("/api/v1/balance/derive/acct-1").json()["error"]["code"] == "VENDOR_ACCOUNT_REQUIRED"
    by_id = middleware_tenant.api.get(f"/api/v1/balance/derive/{owned['customerRecordId']}")
    assert by_id.status_code == 200 and by_id.json()["data"]["deltasCount"] == 1
    by_header = middleware_tenant.api.request("GET", "/api/v1/balance/derive/acct-1",
                                              headers={"X-Vendor-Account-Id": vendor_a.id})
    assert by_header.status_code == 200


def test_direct_tenant_reads_refuse_vendor(direct_tenant):
    emit(direct_tenant, "acct-1", -1)
    response = direct_tenant.api.get("/api/v1/balance/derive/acct-1", vendorAccountId="cmw_aaaaaaaaaaaaaaaaaaaa")
    assert response.status_code == 422 and response.json()["error"]["code"] == "VENDOR_ACCOUNT_FORBIDDEN"
    customers = direct_tenant.api.get("/api/v1/balance/customers", vendorAccountId="cmw_aaaaaaaaaaaaaaaaaaaa")
    assert customers.json()["error"]["code"] == "VENDOR_ACCOUNT_FORBIDDEN"


def test_live_key_does_not_see_sandbox_records(owned, middleware_tenant):
    _key, live = api_key_create(tenant=middleware_tenant.tenant, environment="live")
    before = _snapshot()
    api = ApiClient(live)
    assert api.get(f"/api/v1/balance/delta/{owned['recordId']}").status_code == 404
    assert api.get(f"/api/v1/balance/derive/{owned['customerRecordId']}").status_code == 404
    assert api.get("/api/v1/balance/customers").json()["data"]["customers"] == []
    assert api.get("/api/v1/log/checkpoint").status_code == 404
    assert _snapshot() == before


def test_no_key_is_401_everywhere(owned, anonymous):
    for path in ("/api/v1/balance/usage", f"/api/v1/balance/delta/{owned['recordId']}", "/api/v1/log/checkpoint"):
        response = anonymous.get(path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "INVALID_API_KEY"
