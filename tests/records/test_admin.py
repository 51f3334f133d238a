import re

from django.test import Client

from pacspace.auth import hash_secret
from records.models import ApiKey
from tests.conftest import ApiClient



def test_admin_shows_new_key_once(staff, direct_tenant):
    response = staff.post(
        "/admin/records/apikey/add/",
        {"tenant": direct_tenant.tenant.id, "environment": "production", "name": "billing"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    shown = re.findall(r"pk_live_[a-z2-7]{16}\.[A-Za-z0-9_-]{43}", html)
    assert len(set(shown)) == 1
    plaintext = shown[0]
    key = ApiKey.objects.get(tenant=direct_tenant.tenant, environment="production")
    assert key.secret_sha256 == hash_secret(plaintext.split(".")[1]) and key.name == "billing"
    assert "no-store" in response["Cache-Control"]
    # Never again: not on the change page, not in the list, not in messages.
    for page in (f"/admin/records/apikey/{key.pk}/change/", "/admin/records/apikey/"):
        assert plaintext.split(".")[1] not in staff.get(page).content.decode()
    assert ApiClient(plaintext).get("/api/v1/balance/usage").status_code in (200, 404)


def test_ledger_admins_are_read_only(staff):
    for model in ("delta", "checkpoint", "customerrecord", "logstate", "signedtreehead", "idempotencykey"):
        assert staff.get(f"/admin/records/{model}/add/").status_code == 403
    assert staff.get("/admin/webhooks/event/add/").status_code == 403


def test_admin_requires_staff(db):
    assert Client().get("/admin/records/tenant/").status_code == 302


def test_admin_commits_previous_month_checkpoint(staff, direct_tenant):
    import datetime as dt

    from records.models import Checkpoint, CustomerRecord
    from records.scopes import previous_period
    from records.services.deltas import deltas_accept
    from records.services.sealing import seal_until_idle
    from records.validation import parse_delta_item

    last_month_day = dt.datetime.now(dt.UTC).replace(day=1, hour=12) - dt.timedelta(days=2)
    deltas_accept(tenant=direct_tenant.tenant, environment="sandbox", vendor=None, actor={"type": "staff"},
                  items=[parse_delta_item({"customerId": "acct-1", "delta": -4, "reason": "usage"})],
                  created_at=last_month_day)
    seal_until_idle(tenant_id=direct_tenant.tenant.id, environment="sandbox")
    record = CustomerRecord.objects.get()
    response = staff.post("/admin/records/customerrecord/", {
        "action": "commit_previous_period", "_selected_action": [record.pk]}, follow=True)
    assert response.status_code == 200
    checkpoint = Checkpoint.objects.get()
    assert (checkpoint.period, checkpoint.status, checkpoint.record_count) == (previous_period(), "VERIFIED", 1)
    staff.post("/admin/records/customerrecord/", {"action": "commit_previous_period", "_selected_action": [record.pk]})
    assert Checkpoint.objects.count() == 1
