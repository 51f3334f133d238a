"""Operator screens for webhooks (operations.md §2)."""

from __future__ import annotations

import re

from django.contrib.admin.utils import quote

from pacspace.crypto import decrypt
from tests.webhooks.conftest import make_endpoint, record_events
from webhooks.models import Attempt, Delivery, Endpoint

SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")
ENDPOINTS = "/admin/webhooks/endpoint/"



def _secrets_in(response) -> set[str]:
    return set(SECRET.findall(response.content.decode()))


def test_create_shows_the_secret_once(staff, direct_tenant):
    response = staff.post(
        f"{ENDPOINTS}add/",
        {"tenant": direct_tenant.tenant.pk, "environment": "production", "url": "https://hooks.example.com/in",
         "description": "ops"},
    )  # fmt: skip
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    (secret,) = _secrets_in(response)
    endpoint = Endpoint.objects.get()
    assert (endpoint.environment, endpoint.url, decrypt(endpoint.secret_encrypted)) == (
        "production", "https://hooks.example.com/in", secret
    )  # fmt: skip
    for page in (f"{ENDPOINTS}{quote(endpoint.pk)}/change/", ENDPOINTS):
        assert _secrets_in(staff.get(page)) == set()


def test_create_applies_the_url_rules(staff, direct_tenant, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    response = staff.post(
        f"{ENDPOINTS}add/",
        {"tenant": direct_tenant.tenant.pk, "environment": "sandbox", "url": "https://10.0.0.1/"},
    )
    assert response.status_code == 200 and "url address is not a public address" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_change_form_reenabling_clears_the_reason(staff, direct_tenant):
    endpoint, _ = make_endpoint(direct_tenant, "https://hooks.example.com/in", enabled=False)
    response = staff.post(
        f"{ENDPOINTS}{quote(endpoint.pk)}/change/",
        {"url": "https://hooks.example.com/new", "description": "", "is_enabled": "on"},
    )
    assert (response.status_code, response["Location"]) == (302, ENDPOINTS)
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.is_enabled, endpoint.disabled_reason) == (
        "https://hooks.example.com/new",
        True,
        "",
    )


def test_rotate_action_shows_the_new_secret_once(staff, direct_tenant):
    endpoint, old = make_endpoint(direct_tenant, "https://hooks.example.com/in")
    response = staff.post(ENDPOINTS, {"action": "rotate_secret", "_selected_action": [endpoint.pk]})
    (new,) = _secrets_in(response)
    endpoint.refresh_from_db()
    assert (decrypt(endpoint.secret_encrypted), decrypt(endpoint.previous_secret_encrypted)) == (new, old)


def test_rotate_action_refuses_several_endpoints(staff, direct_tenant):
    first, _ = make_endpoint(direct_tenant, "https://a.example.com/")
    second, _ = make_endpoint(direct_tenant, "https://b.example.com/")
    staff.post(ENDPOINTS, {"action": "rotate_secret", "_selected_action": [first.pk, second.pk]})
    assert not Endpoint.objects.filter(secret_rotated_at__isnull=False).exists()


def test_send_test_action(staff, direct_tenant, receiver):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    response = staff.post(ENDPOINTS, {"action": "send_test", "_selected_action": [endpoint.pk]}, follow=True)
    assert f"Test event to {receiver.url}: HTTP 200 in " in response.content.decode()
    assert [r.headers["X-Webhook-Event"] for r in receiver.requests] == ["webhook.test"]


def test_retry_action_follows_manual_retry_rules(
    staff, direct_tenant, receiver, django_capture_on_commit_callbacks
):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    disabled, _ = make_endpoint(direct_tenant, receiver.url, enabled=False)
    (event,) = record_events(direct_tenant)
    Delivery.objects.filter(endpoint=endpoint).update(status="FAILED", next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/admin/webhooks/delivery/", {"action": "retry", "_selected_action": list(
            Delivery.objects.values_list("pk", flat=True))})  # fmt: skip
    sent = Delivery.objects.get(endpoint=endpoint)
    assert (sent.status, list(Attempt.objects.values_list("is_manual", flat=True))) == ("DELIVERED", [True])
    assert Delivery.objects.get(endpoint=disabled).attempt_count == 0
    assert len(receiver.requests) == 1


def test_events_deliveries_and_attempts_are_read_only(staff, direct_tenant, receiver):
    make_endpoint(direct_tenant, receiver.url)
    (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get()
    assert staff.get("/admin/webhooks/delivery/add/").status_code == 403
    assert staff.get("/admin/webhooks/event/add/").status_code == 403
    assert staff.get(f"/admin/webhooks/delivery/{quote(delivery.pk)}/change/").status_code == 200
    assert staff.post(f"/admin/webhooks/delivery/{quote(delivery.pk)}/delete/").status_code == 403
    assert staff.get("/admin/webhooks/delivery/?status__exact=PENDING").status_code == 200


def test_change_form_keeps_the_streak_when_enabled_is_untouched(staff, direct_tenant, clock):
    endpoint, _ = make_endpoint(direct_tenant, "https://hooks.example.com/in")
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=clock.now)
    response = staff.post(
        f"{ENDPOINTS}{quote(endpoint.pk)}/change/",
        {"url": "https://hooks.example.com/in", "description": "renamed", "is_enabled": "on"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.description, endpoint.failing_since) == ("renamed", clock.now)
