import pytest
from django.core.management import call_command
from django.db import transaction

from records.models import Tenant
from webhooks.models import Event
from webhooks.services import event_record


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_check(client, settings):
    response = client.get("/readyz")
    body = response.json()
    assert set(body["checks"]) >= {"database", "migrations", "broker", "signingKey"}
    assert body["checks"]["database"] == "ok" and body["checks"]["signingKey"] == "ok"
    expected = 200 if body["checks"]["broker"] in ("ok", "embedded") else 503
    assert response.status_code == expected


def test_openapi_schema_builds_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/middleware/vendor-accounts" in text


@pytest.mark.django_db
def test_swagger_ui_uses_local_assets(client):
    html = client.get("/api/docs").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn." not in html and "unpkg" not in html


@pytest.mark.django_db(transaction=True)
def test_event_outbox_commits_and_rolls_back_with_the_change():
    tenant = Tenant.objects.create(name="T", kind=Tenant.Kind.DIRECT_INFERENCE_VENDOR)
    with transaction.atomic():
        kept = event_record(tenant_id=tenant.id, environment="sandbox", event_type="webhook.test", data={"x": 1})
    with pytest.raises(RuntimeError), transaction.atomic():
        event_record(tenant_id=tenant.id, environment="sandbox", event_type="webhook.test", data={"x": 2})
        raise RuntimeError("the state change failed")
    assert list(Event.objects.values_list("id", flat=True)) == [kept.id]
    assert bytes(kept.body).startswith(b'{"id":"' + kept.id.encode() + b'","event":"webhook.test"')


@pytest.mark.django_db(transaction=True)
def test_event_record_refuses_to_run_outside_a_transaction():
    tenant = Tenant.objects.create(name="T", kind=Tenant.Kind.DIRECT_INFERENCE_VENDOR)
    with pytest.raises(RuntimeError):
        event_record(tenant_id=tenant.id, environment="sandbox", event_type="webhook.test", data={})
