"""`/api/v1/webhooks/endpoints…` and `/api/v1/webhooks/deliveries/:id` (api.md §6)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from pacspace.crypto import decrypt
from records.proofs import format_timestamp
from tests.conftest import make_persona
from tests.webhooks.conftest import make_endpoint, record_events
from webhooks.models import Delivery, Endpoint, Event

ENDPOINTS = "/api/v1/webhooks/endpoints"
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")
MISSING = "whe_aaaaaaaaaaaaaaaaaaaa"


def _data(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


def _create(persona, url: str = "https://hooks.example.com/in", **fields) -> dict:
    return _data(persona.api.post(ENDPOINTS, {"url": url, **fields}), 201)


def test_create_returns_the_endpoint_and_its_secret_once(direct_tenant, clock):
    data = _create(direct_tenant, description="billing", enabled=True)
    endpoint = Endpoint.objects.get()
    stamp = format_timestamp(endpoint.created_at)
    assert data == {
        "id": endpoint.pk,
        "url": "https://hooks.example.com/in",
        "description": "billing",
        "enabled": True,
        "environment": "sandbox",
        "disabledReason": None,
        "disabledAt": None,
        "createdAt": stamp,
        "updatedAt": format_timestamp(endpoint.updated_at),
        "lastDeliveryAt": None,
        "successCount": 0,
        "failureCount": 0,
        "secretRotatedAt": None,
        "previousSecretExpiresAt": None,
        "secret": data["secret"],
    }
    assert SECRET.fullmatch(data["secret"])
    assert (
        data["secret"] not in endpoint.secret_encrypted
        and decrypt(endpoint.secret_encrypted) == data["secret"]
    )
    listed = _data(direct_tenant.api.get(ENDPOINTS))
    assert listed == {
        "items": [{k: v for k, v in data.items() if k != "secret"}],
        "total": 1,
        "limit": 50,
        "offset": 0,
    }
    assert "secret" not in _data(direct_tenant.api.get(f"{ENDPOINTS}/{endpoint.pk}"))


def test_created_disabled_endpoint_is_manually_disabled(direct_tenant):
    data = _create(direct_tenant, enabled=False)
    assert (data["enabled"], data["disabledReason"]) == (False, "manual")
    assert data["disabledAt"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": None}, "url"),
        ({"url": 5}, "url"),
        ({"url": "ftp://hooks.example.com/"}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * 2048}, "url"),
        ({"url": "https://hooks.example.com/", "description": "d" * 201}, "description"),
        ({"url": "https://hooks.example.com/", "description": 3}, "description"),
        ({"url": "https://hooks.example.com/", "enabled": "yes"}, "enabled"),
        ({"url": "https://hooks.example.com/", "enabled": 1}, "enabled"),
    ],
)
def test_invalid_fields_are_400_and_nothing_is_created(direct_tenant, body, field):
    error = _error(direct_tenant.api.post(ENDPOINTS, body), 400, "VALIDATION_ERROR")
    assert list(error["details"]["fields"]) == [field]
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in", "https://user:pw@hooks.example.com/", "https://localhost/in",
        "https://LOCALHOST./in", "https://api.localhost/in", "https://metadata/", "https://metadata.google.internal/",
        "https://127.0.0.1/", "https://10.1.2.3/", "https://172.16.0.1/", "https://192.168.0.1/",
        "https://100.64.0.1/", "https://169.254.169.254/latest/meta-data", "https://0.0.0.0/", "https://224.0.0.1/",
        "https://[::1]/", "https://[fc00::1]/", "https://[fe80::1]/", "https://[::ffff:127.0.0.1]/",
    ],
)  # fmt: skip
def test_private_targets_are_refused_when_the_guard_is_on(direct_tenant, settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    error = _error(direct_tenant.api.post(ENDPOINTS, {"url": url}), 400, "VALIDATION_ERROR")
    assert list(error["details"]["fields"]) == ["url"]
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/in?x=1", "https://93.184.216.34/in", "https://[2606:2800:220:1::1]/"]
)
def test_public_targets_are_accepted_when_the_guard_is_on(direct_tenant, settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    assert _create(direct_tenant, url)["url"] == url


def test_at_most_ten_endpoints_per_tenant_and_environment(direct_tenant):
    created = [_create(direct_tenant)["id"] for _ in range(10)]
    error = _error(
        direct_tenant.api.post(ENDPOINTS, {"url": "https://hooks.example.com/11"}), 400, "VALIDATION_ERROR"
    )
    assert error["details"] == {"fields": {"url": ["at most 10 endpoints per tenant and environment"]}}
    live = make_persona(direct_tenant.tenant, environment="live")
    _create(live)  # the other environment has its own ten
    assert direct_tenant.api.delete(f"{ENDPOINTS}/{created[0]}").status_code == 200
    _create(direct_tenant)  # a deleted endpoint no longer counts
    assert Endpoint.objects.filter(tenant=direct_tenant.tenant, environment="sandbox").count() == 11


def test_list_pages(direct_tenant):
    ids = [_create(direct_tenant)["id"] for _ in range(3)]
    page = _data(direct_tenant.api.get(ENDPOINTS, limit=2, offset=1))
    assert ([item["id"] for item in page["items"]], page["total"], page["limit"], page["offset"]) == (
        ids[1:],
        3,
        2,
        1,
    )
    _error(direct_tenant.api.get(ENDPOINTS, limit=0), 400, "VALIDATION_ERROR")


def test_patch_changes_url_and_description(direct_tenant):
    endpoint = _create(direct_tenant)
    data = _data(
        direct_tenant.api.patch(
            f"{ENDPOINTS}/{endpoint['id']}", {"url": "https://b.example.com/", "description": None}
        )
    )
    assert (data["url"], data["description"], data["enabled"]) == ("https://b.example.com/", "", True)
    assert (
        _data(direct_tenant.api.patch(f"{ENDPOINTS}/{endpoint['id']}", {}))["url"] == "https://b.example.com/"
    )
    _error(direct_tenant.api.patch(f"{ENDPOINTS}/{endpoint['id']}", {"url": "nope"}), 400, "VALIDATION_ERROR")
    assert Endpoint.objects.get().url == "https://b.example.com/"


def test_patch_disable_fails_pending_deliveries_and_enable_clears_the_streak(direct_tenant, receiver, clock):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    (event,) = record_events(direct_tenant)
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=clock.now - timedelta(days=1))
    data = _data(direct_tenant.api.patch(f"{ENDPOINTS}/{endpoint.pk}", {"enabled": False}))
    assert (data["enabled"], data["disabledReason"], data["disabledAt"]) == (
        False,
        "manual",
        format_timestamp(clock.now),
    )
    delivery = Delivery.objects.get(event=event)
    assert (delivery.status, delivery.last_error) == ("FAILED", "ENDPOINT_DISABLED")
    data = _data(direct_tenant.api.patch(f"{ENDPOINTS}/{endpoint.pk}", {"enabled": True}))
    assert (data["enabled"], data["disabledReason"], data["disabledAt"]) == (True, None, None)
    assert Endpoint.objects.get(pk=endpoint.pk).failing_since is None
    assert Delivery.objects.get(event=event).status == "FAILED"  # re-enabling does not resend
    assert receiver.requests == []


def test_delete_hides_the_endpoint_and_fails_its_pending_deliveries(direct_tenant, receiver):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    (event,) = record_events(direct_tenant)
    assert _data(direct_tenant.api.delete(f"{ENDPOINTS}/{endpoint.pk}")) == {
        "id": endpoint.pk,
        "deleted": True,
    }
    _error(direct_tenant.api.get(f"{ENDPOINTS}/{endpoint.pk}"), 404, "NOT_FOUND")
    _error(direct_tenant.api.delete(f"{ENDPOINTS}/{endpoint.pk}"), 404, "NOT_FOUND")
    assert _data(direct_tenant.api.get(ENDPOINTS))["total"] == 0
    delivery = Delivery.objects.get(event=event)
    assert (delivery.status, delivery.last_error) == ("FAILED", "ENDPOINT_DISABLED")
    record_events(direct_tenant)
    assert Delivery.objects.count() == 1  # a deleted endpoint gets no rows for new events
    log = _data(direct_tenant.api.get("/api/v1/balance/webhooks"))
    assert [item["endpointId"] for item in log["items"]] == [endpoint.pk]  # the log keeps its history


def test_rotate_secret_returns_the_new_secret_once(direct_tenant, clock):
    endpoint, old = make_endpoint(direct_tenant, "https://hooks.example.com/in")
    data = _data(direct_tenant.api.post(f"{ENDPOINTS}/{endpoint.pk}/rotate-secret"))
    assert SECRET.fullmatch(data["secret"]) and data["secret"] != old
    assert (data["secretRotatedAt"], data["previousSecretExpiresAt"]) == (
        format_timestamp(clock.now), format_timestamp(clock.now + timedelta(hours=24))
    )  # fmt: skip
    endpoint.refresh_from_db()
    assert (decrypt(endpoint.secret_encrypted), decrypt(endpoint.previous_secret_encrypted)) == (
        data["secret"],
        old,
    )
    assert "secret" not in _data(direct_tenant.api.get(f"{ENDPOINTS}/{endpoint.pk}"))


def test_test_route_sends_one_test_event_synchronously(direct_tenant, receiver, clock):
    endpoint, secret = make_endpoint(direct_tenant, receiver.url)
    make_endpoint(direct_tenant, receiver.url + "/elsewhere")
    receiver.secrets = [secret]
    data = _data(direct_tenant.api.post(f"{ENDPOINTS}/{endpoint.pk}/test"))
    event = Event.objects.get(type="webhook.test")
    delivery = Delivery.objects.get(event=event)
    assert data == {
        "eventId": event.pk,
        "deliveryId": delivery.pk,
        "success": True,
        "statusCode": 200,
        "latencyMs": data["latencyMs"],
        "responseBody": '{"ok":true}',
        "error": None,
    }
    (request,) = receiver.requests
    assert request.path == "/hooks" and request.verified == {secret: (True, True)}
    assert event.payload["data"] == {"endpointId": endpoint.pk, "message": "test delivery"}
    assert (delivery.status, delivery.endpoint_id) == ("DELIVERED", endpoint.pk)


def test_test_route_reports_failures(direct_tenant, stopped_receiver):
    endpoint, _ = make_endpoint(direct_tenant, stopped_receiver.url)
    data = _data(direct_tenant.api.post(f"{ENDPOINTS}/{endpoint.pk}/test"))
    assert (data["success"], data["statusCode"], data["error"], data["responseBody"]) == (
        False, None, "CONNECTION_ERROR", ""
    )  # fmt: skip
    assert Endpoint.objects.get(pk=endpoint.pk).failing_since is None


def test_delivery_detail_has_the_request_body_and_each_response(direct_tenant, receiver, committed, clock):
    make_endpoint(direct_tenant, receiver.url)
    receiver.statuses = [500]
    receiver.response_body = b"boom"
    with committed():
        (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    data = _data(direct_tenant.api.get(f"/api/v1/webhooks/deliveries/{delivery.pk}"))
    assert data["requestBody"] == bytes(event.body).decode()
    assert data["attemptLog"] == [
        {
            "attempt": 1,
            "at": format_timestamp(clock.now),
            "statusCode": 500,
            "latencyMs": data["attemptLog"][0]["latencyMs"],
            "error": "HTTP_STATUS",
            "manual": False,
            "responseBody": "boom",
        }
    ]
    assert (data["id"], data["deliveryStatus"], data["status"], data["lastError"]) == (
        delivery.pk, "PENDING", "QUEUED", "HTTP_STATUS"
    )  # fmt: skip


# ------------------------------------------------------------------------------------- other tenants
def test_another_tenants_endpoint_is_404_and_unchanged(direct_tenant, other_tenant, receiver):
    endpoint, _ = make_endpoint(other_tenant, receiver.url)
    before = Endpoint.objects.values().get(pk=endpoint.pk)
    path = f"{ENDPOINTS}/{endpoint.pk}"
    for response in (
        direct_tenant.api.get(path),
        direct_tenant.api.patch(path, {"enabled": False, "url": "https://evil.example.com/"}),
        direct_tenant.api.delete(path),
        direct_tenant.api.post(f"{path}/rotate-secret"),
        direct_tenant.api.post(f"{path}/test"),
    ):
        _error(response, 404, "NOT_FOUND")
    assert Endpoint.objects.values().get(pk=endpoint.pk) == before
    assert (Event.objects.count(), receiver.requests) == (0, [])
    assert _data(direct_tenant.api.get(ENDPOINTS))["total"] == 0


def test_the_other_environment_is_invisible(direct_tenant):
    endpoint = _create(direct_tenant)
    live = make_persona(direct_tenant.tenant, environment="live")
    _error(live.api.get(f"{ENDPOINTS}/{endpoint['id']}"), 404, "NOT_FOUND")
    assert _data(live.api.get(ENDPOINTS))["total"] == 0


def test_another_tenants_delivery_is_404(direct_tenant, other_tenant, receiver):
    make_endpoint(other_tenant, receiver.url)
    (event,) = record_events(other_tenant)
    delivery = Delivery.objects.get(event=event)
    _error(direct_tenant.api.get(f"/api/v1/webhooks/deliveries/{delivery.pk}"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{ENDPOINTS}/{MISSING}"),
        ("GET", f"{ENDPOINTS}/"),
        ("GET", f"{ENDPOINTS}/{MISSING}/"),
        ("POST", f"{ENDPOINTS}/{MISSING}/test"),
        ("GET", "/api/v1/webhooks/deliveries/dlv_aaaaaaaaaaaaaaaaaaaa"),
    ],
)
def test_unknown_ids_and_trailing_slashes_are_404(direct_tenant, method, path):
    _error(direct_tenant.api.request(method, path, {} if method == "POST" else None), 404, "NOT_FOUND")


def test_routes_need_a_key(anonymous, direct_tenant):
    _error(anonymous.get(ENDPOINTS), 401, "INVALID_API_KEY")
    _error(anonymous.post(ENDPOINTS, {"url": "https://hooks.example.com/"}), 401, "INVALID_API_KEY")
    assert not Endpoint.objects.exists()


def test_wrong_method_is_405(direct_tenant):
    _error(direct_tenant.api.request("PUT", ENDPOINTS, {}), 405, "METHOD_NOT_ALLOWED")
