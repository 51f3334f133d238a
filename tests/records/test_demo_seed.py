import datetime as dt
from decimal import Decimal

import pytest

from records.models import Checkpoint, CustomerRecord, Delta, Tenant
from records.services.demo import demo_seed
from tests.conftest import ApiClient

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_demo_seed_builds_sealed_history_and_last_month_checkpoints():
    result = demo_seed(now=NOW)
    tenant = Tenant.objects.get(pk=result["tenantId"])
    assert (tenant.name, tenant.kind) == ("Demo Middleware", "BILLING_MIDDLEWARE")
    assert list(tenant.vendor_accounts.order_by("created_at").values_list("display_name", "external_id")) == [
        ("Acme Inference", "acme"), ("Nimbus Models", "nimbus")]
    assert len(result["customerIds"]) == 6
    # 30 April days + 3 finished May days per customer, plus one credit per vendor.
    assert Delta.objects.filter(tenant=tenant).count() == 6 * 33 + 2
    assert not Delta.objects.filter(tenant=tenant).exclude(status="VERIFIED").exists()
    checkpoints = Checkpoint.objects.filter(tenant=tenant)
    assert checkpoints.count() == 6 and set(checkpoints.values_list("period", "status")) == {("2026-04", "VERIFIED")}
    record = CustomerRecord.objects.get(tenant=tenant, customer_id="acct-1001")
    first = Delta.objects.filter(customer_record=record).order_by("intake_sequence").first()
    assert (first.created_at, first.reference_id) == (dt.datetime(2026, 4, 1, 23, 59, tzinfo=dt.UTC), "usage:acct-1001:2026-04-01")
    credit = Delta.objects.get(customer_record=record, reason="credit: duplicate flush")
    assert credit.amount == Decimal("2.5") and credit.adjusts_delta.reference_id == "usage:acct-1001:2026-04-03"
    april = checkpoints.get(customer_record=record)
    assert april.record_count == 31  # 30 daily flushes and the credit
    assert ApiClient(result["apiKey"]).get("/api/v1/balance/customers").json()["data"]["pagination"]["total"] == 6


@pytest.mark.django_db
def test_demo_seed_reuses_or_resets():
    first = demo_seed(now=NOW)
    again = demo_seed(now=NOW)
    assert again["tenantId"] == first["tenantId"] and again["apiKey"] != first["apiKey"]
    reset = demo_seed(reset=True, now=NOW)
    assert reset["tenantId"] != first["tenantId"]
    assert Tenant.objects.filter(name="Demo Middleware").count() == 1
    assert Delta.objects.count() == 6 * 33 + 2
