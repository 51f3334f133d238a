"""`GET /api/v1/balance/webhooks` and `POST /api/v1/balance/webhooks/:eventId/retry` (api.md §2.16–2.17),
over HTTP and through the official SDK."""

from __future__ import annotations

import pytest

from records.proofs import format_timestamp
from tests.webhooks.conftest import make_endpoint, record_events, sdk_for
from webhooks.models import Attempt, Delivery, Endpoint

LOG = "/api/v1/balance/webhooks"


def _data(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()["data"]


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def _retry(persona, target: str, **kwargs):
    return persona.api.post(f"{LOG}/{target}/retry", **kwargs)


@pytest.fixture
def three_outcomes(direct_tenant, receiver, committed, clock):
    """One delivered, one pending (after a 500), one failed (disabled endpoint); oldest first."""
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    disabled, _ = make_endpoint(direct_tenant, receiver.url + "/off", enabled=False)
    with committed():
        (delivered,) = record_events(direct_tenant)
    clock.advance(seconds=1)
    receiver.statuses = [500]
    with committed():
        (pending,) = record_events(direct_tenant, event_type="customer.created")
    return endpoint, disabled, delivered, pending


def test_list_item_has_every_field(direct_tenant, three_outcomes, clock):
    endpoint, _, delivered, _ = three_outcomes
    delivery = Delivery.objects.get(event=delivered, endpoint=endpoint)
    page = _data(direct_tenant.api.get(LOG, event="delta.verified", endpointId=endpoint.pk))
    at = format_timestamp(delivery.created_at)
    assert page == {
        "items": [
            {
                "id": delivery.pk,
                "eventId": delivered.pk,
                "event": "delta.verified",
                "endpointId": endpoint.pk,
                "url": endpoint.url,
                "deliveryStatus": "DELIVERED",
                "status": "VERIFIED",
                "attempts": 1,
                "nextAttemptAt": None,
                "lastAttemptAt": at,
                "lastStatusCode": 200,
                "lastError": None,
                "createdAt": at,
                "deliveredAt": at,
                "attemptLog": [
                    {
                        "attempt": 1,
                        "at": at,
                        "statusCode": 200,
                        "latencyMs": delivery.attempts.get().latency_ms,
                        "error": None,
                        "manual": False,
                    }
                ],
            }
        ],
        "total": 1,
        "limit": 50,
        "offset": 0,
    }


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("pending", ["PENDING"]), ("QUEUED", ["PENDING"]), ("Delivered", ["DELIVERED"]),
        ("VERIFIED", ["DELIVERED"]), ("failed", ["FAILED", "FAILED"]), ("FAILED", ["FAILED", "FAILED"]),
        ("", ["DELIVERED", "FAILED", "FAILED", "PENDING"]),
    ],
)  # fmt: skip
def test_status_filter_takes_both_vocabularies(direct_tenant, three_outcomes, word, expected):
    items = _data(direct_tenant.api.get(LOG, status=word) if word else direct_tenant.api.get(LOG))["items"]
    assert sorted(item["deliveryStatus"] for item in items) == expected


def test_unknown_status_word_is_400(direct_tenant):
    _error(direct_tenant.api.get(LOG, status="PROCESSING"), 400, "VALIDATION_ERROR")


def test_paging_and_event_filter(direct_tenant, three_outcomes):
    _, _, delivered, pending = three_outcomes
    newest_first = [item["eventId"] for item in _data(direct_tenant.api.get(LOG))["items"]]
    assert newest_first == [pending.pk, pending.pk, delivered.pk, delivered.pk]
    page = _data(direct_tenant.api.get(LOG, limit=1, offset=1))
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (1, 4, 1, 1)
    items = _data(direct_tenant.api.get(LOG, event="customer.created"))["items"]
    assert {item["eventId"] for item in items} == {pending.pk}
    _error(direct_tenant.api.get(LOG, offset=-1), 400, "VALIDATION_ERROR")


def test_retry_by_event_targets_every_delivery_of_the_event(
    direct_tenant, three_outcomes, receiver, committed
):
    endpoint, disabled, _, pending = three_outcomes
    enabled_one = Delivery.objects.get(event=pending, endpoint=endpoint)
    disabled_one = Delivery.objects.get(event=pending, endpoint=disabled)
    with committed():
        data = _data(_retry(direct_tenant, pending.pk), 202)
    ordered = sorted([enabled_one, disabled_one], key=lambda d: d.pk)
    # The answer is built before the worker runs (here: before the test's commit hooks).
    states = {enabled_one.pk: ("PENDING", "QUEUED"), disabled_one.pk: ("FAILED", "FAILED")}
    assert data == {
        "eventId": pending.pk,
        "deliveries": [
            {"id": d.pk, "deliveryStatus": states[d.pk][0], "status": states[d.pk][1]} for d in ordered
        ],
    }
    assert Delivery.objects.get(pk=enabled_one.pk).status == "DELIVERED"
    assert list(Attempt.objects.filter(delivery=enabled_one).values_list("number", "is_manual")) == [
        (1, False),
        (2, True),
    ]
    assert not Attempt.objects.filter(delivery=disabled_one).exists()  # its endpoint is disabled: left alone


def test_retry_by_delivery_id_answers_before_the_worker_runs(direct_tenant, three_outcomes):
    _, _, delivered, _ = three_outcomes
    delivery = Delivery.objects.get(event=delivered, endpoint__is_enabled=True)
    data = _data(_retry(direct_tenant, delivery.pk, raw=b""), 202)  # no commit hooks: the worker has not run
    assert data == {
        "eventId": delivered.pk,
        "deliveries": [{"id": delivery.pk, "deliveryStatus": "PENDING", "status": "QUEUED"}],
    }


def test_retry_when_every_endpoint_is_disabled_is_409_and_changes_nothing(direct_tenant, three_outcomes):
    endpoint, disabled, delivered, _ = three_outcomes
    Endpoint.objects.filter(pk=endpoint.pk).update(is_enabled=False, disabled_reason="gone")
    before = list(Delivery.objects.values().order_by("pk"))
    _error(_retry(direct_tenant, delivered.pk), 409, "ENDPOINT_DISABLED")
    _error(
        _retry(direct_tenant, Delivery.objects.get(event=delivered, endpoint=disabled).pk),
        409,
        "ENDPOINT_DISABLED",
    )
    assert list(Delivery.objects.values().order_by("pk")) == before


def test_retry_of_an_event_without_deliveries_has_nothing_to_do(direct_tenant):
    (event,) = record_events(direct_tenant)  # no endpoints
    assert _data(_retry(direct_tenant, event.pk), 202) == {"eventId": event.pk, "deliveries": []}


@pytest.mark.parametrize(
    "target", ["evt_aaaaaaaaaaaaaaaaaaaa", "dlv_aaaaaaaaaaaaaaaaaaaa", "rec_aaaaaaaaaaaaaaaaaaaa", "x"]
)
def test_retry_of_unknown_ids_is_404(direct_tenant, target):
    _error(_retry(direct_tenant, target), 404, "NOT_FOUND")


def test_retry_body_must_be_empty_or_an_object(direct_tenant, three_outcomes):
    _, _, delivered, _ = three_outcomes
    _error(_retry(direct_tenant, delivered.pk, raw=b"[1]"), 400, "VALIDATION_ERROR")
    _error(
        _retry(direct_tenant, delivered.pk, raw=b"x=1", content_type="text/plain"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )


def test_another_tenants_deliveries_are_invisible_and_cannot_be_retried(
    direct_tenant, other_tenant, receiver
):
    make_endpoint(other_tenant, receiver.url)
    (event,) = record_events(other_tenant)
    delivery = Delivery.objects.get(event=event)
    before = Delivery.objects.values().get(pk=delivery.pk)
    assert _data(direct_tenant.api.get(LOG))["total"] == 0
    assert _data(direct_tenant.api.get(LOG, endpointId=delivery.endpoint_id))["total"] == 0
    _error(_retry(direct_tenant, event.pk), 404, "NOT_FOUND")
    _error(_retry(direct_tenant, delivery.pk), 404, "NOT_FOUND")
    assert Delivery.objects.values().get(pk=delivery.pk) == before
    assert receiver.requests == []


# -------------------------------------------------------------------------------------------- the SDK
def test_sdk_lists_deliveries_and_keeps_the_true_status_in_delivery_status(direct_tenant, three_outcomes):
    sdk = sdk_for(direct_tenant)
    listed = sdk.balance.list_webhook_deliveries({"status": "FAILED", "limit": 10})
    assert [(i["status"], i["deliveryStatus"]) for i in listed["items"]] == [("FAILED", "FAILED")] * 2
    everything = sdk.balance.list_webhook_deliveries()
    assert sorted((i["status"], i["deliveryStatus"]) for i in everything["items"]) == [
        ("FAILED", "FAILED"), ("FAILED", "FAILED"), ("QUEUED", "PENDING"), ("VERIFIED", "DELIVERED")
    ]  # fmt: skip
    assert everything["total"] == 4
    queued = sdk.balance.list_webhook_deliveries({"status": "QUEUED"})
    assert [i["deliveryStatus"] for i in queued["items"]] == ["PENDING"]


def test_sdk_retries_an_event(direct_tenant, three_outcomes, committed):
    endpoint, _, _, pending = three_outcomes
    sdk = sdk_for(direct_tenant)
    with committed():
        result = sdk.balance.retry_webhook(pending.pk)
    enabled_one = Delivery.objects.get(event=pending, endpoint=endpoint)
    assert result["eventId"] == pending.pk
    assert {d["id"]: (d["status"], d["deliveryStatus"]) for d in result["deliveries"]}[enabled_one.pk] == (
        "QUEUED", "PENDING"
    )  # fmt: skip
    assert Delivery.objects.get(pk=enabled_one.pk).status == "DELIVERED"


def test_sdk_sees_404_and_409_as_errors(direct_tenant, three_outcomes):
    from pacspace_sdk.errors import PacSpaceError

    endpoint, _, delivered, _ = three_outcomes
    sdk = sdk_for(direct_tenant)
    with pytest.raises(PacSpaceError) as missing:
        sdk.balance.retry_webhook("evt_aaaaaaaaaaaaaaaaaaaa")
    assert (missing.value.status_code, missing.value.code) == (404, "NOT_FOUND")
    Endpoint.objects.filter(pk=endpoint.pk).update(is_enabled=False)
    with pytest.raises(PacSpaceError) as disabled:
        sdk.balance.retry_webhook(delivered.pk)
    assert (disabled.value.status_code, disabled.value.code) == (409, "ENDPOINT_DISABLED")
