"""Idempotency-Key (api.md §1.9)."""

from datetime import timedelta
from unittest import mock

from django.utils import timezone

from records.models import CustomerRecord, Delta, IdempotencyKey
from records.services import deltas as delta_service
from records.tasks import prune_idempotency_keys
from tests.records.helpers import delta_count

URL = "/api/v1/balance/delta"
BODY = {"customerId": "acct-1", "delta": -1, "reason": "usage"}


def post(persona, body=BODY, key="key-1", **headers):
    return persona.api.post(URL, body, headers={"Idempotency-Key": key, **headers})


def test_replay_is_byte_identical_with_header(direct_tenant):
    first = post(direct_tenant)
    second = post(direct_tenant)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert delta_count(direct_tenant.tenant) == 1


def test_same_key_different_body_is_conflict(direct_tenant):
    post(direct_tenant)
    response = post(direct_tenant, {**BODY, "delta": -2})
    assert response.status_code == 409 and response.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert delta_count(direct_tenant.tenant) == 1


def test_vendor_header_is_part_of_the_fingerprint(middleware_tenant, vendor_a, vendor_b):
    assert post(middleware_tenant, **{"X-Vendor-Account-Id": vendor_a.id}).status_code == 201
    response = post(middleware_tenant, **{"X-Vendor-Account-Id": vendor_b.id})
    assert response.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"


def test_key_scope_is_per_route(direct_tenant):
    post(direct_tenant)
    batch = direct_tenant.api.post(URL + "/batch", {"deltas": [BODY]}, headers={"Idempotency-Key": "key-1"})
    assert batch.status_code == 200
    assert "Idempotent-Replayed" not in batch


def test_in_flight_key_answers_202_pending(direct_tenant):
    IdempotencyKey.objects.create(tenant=direct_tenant.tenant, environment="sandbox", route="balance.delta",
                                  key="key-1", fingerprint=_fingerprint(BODY))
    response = post(direct_tenant)
    assert response.status_code == 202
    assert response["Retry-After"] == "1"
    assert response.json() == {"success": False, "error": {
        "code": "IDEMPOTENCY_PENDING", "message": "A request with this Idempotency-Key is still in flight",
        "retryAfterSeconds": 1}}
    assert delta_count(direct_tenant.tenant) == 0


def test_abandoned_marker_is_taken_over(direct_tenant):
    marker = IdempotencyKey.objects.create(
        tenant=direct_tenant.tenant, environment="sandbox", route="balance.delta", key="key-1",
        fingerprint=_fingerprint(BODY))
    IdempotencyKey.objects.filter(pk=marker.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    assert post(direct_tenant).status_code == 201
    assert IdempotencyKey.objects.get(pk=marker.pk).is_completed


def test_4xx_outcomes_are_stored_and_replayed(direct_tenant):
    bad = {**BODY, "delta": 0}
    first = post(direct_tenant, bad)
    second = post(direct_tenant, bad)
    assert first.status_code == second.status_code == 400
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"


def test_failed_write_leaves_no_claimed_key_and_retry_counts_once(direct_tenant):
    # A real database error after the delta INSERT was sent, in the same transaction: the intake head
    # UPDATE names a table that does not exist.
    broken = "UPDATE no_such_table SET a = %s, b = %s WHERE id = %s"
    with mock.patch.object(delta_service, "HEAD_UPDATE", broken):
        failed = post(direct_tenant, {**BODY, "referenceId": "r-1"})
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "INTERNAL_ERROR"
    assert not IdempotencyKey.objects.filter(key="key-1").exists()
    assert delta_count(direct_tenant.tenant) == 0
    assert CustomerRecord.objects.filter(tenant=direct_tenant.tenant).count() == 0
    retried = post(direct_tenant, {**BODY, "referenceId": "r-1"})
    assert retried.status_code == 201
    assert Delta.objects.filter(tenant=direct_tenant.tenant, reference_id="r-1").count() == 1
    assert IdempotencyKey.objects.get(key="key-1").is_completed


def test_invalid_key_is_400(direct_tenant):
    for key in ("has space", "x" * 256, "é"):
        response = direct_tenant.api.post(URL, BODY, headers={"Idempotency-Key": key})
        assert response.status_code == 400, key
    assert delta_count(direct_tenant.tenant) == 0


def test_prune_drops_only_expired_completed_keys(direct_tenant, settings):
    post(direct_tenant, key="old")
    post(direct_tenant, {**BODY, "delta": -2}, key="fresh")
    IdempotencyKey.objects.filter(key="old").update(completed_at=timezone.now() - timedelta(hours=25))
    assert prune_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    # A pruned key counts as new: the same request runs again (and is deduped only by its content rules).
    assert post(direct_tenant, key="old").status_code == 201


def _fingerprint(body):
    import json

    from records.services.idempotency import fingerprint

    return fingerprint(None, json.dumps(body).encode())
