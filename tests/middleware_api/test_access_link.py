"""The Shared Record link of a customer record and its management (api.md §4.8–4.9)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from records.models import AccessLogEntry, SharedRecord
from records.services.shared_records import access_code, code_hash
from tests.middleware_api.conftest import data_of, error_of, fail_step_up, ts


def _shared(scenario, key: str = "a1") -> SharedRecord:
    return SharedRecord.objects.get(customer_record=scenario.records[key])


def _tenant_log(scenario, key: str = "a1") -> list[tuple]:
    return list(AccessLogEntry.objects.filter(customer_record=scenario.records[key]).order_by("id").values_list(
        "action", "actor_type", "handle", "detail"))


def test_get_access_link(scenario):
    shared = _shared(scenario)
    data = data_of(scenario.api.get(scenario.path("a1", "access-link")))
    assert data == {
        "customerId": scenario.records["a1"].id,
        "handle": shared.handle,
        "url": f"https://records.example.com/c/{shared.handle}",
        "host": "records.example.com",
        "status": "active",
        "policy": "TWO_TIER",
        "accessCode": {"status": "ready", "code": access_code(shared), "rotatedAt": ts(shared.code_rotated_at)},
        "stepUp": {"lockedUntil": None, "failuresInWindow": 0},
        "issuedAt": ts(shared.issued_at),
        "reissueCount": 0,
        "readiness": {"link": True, "accessCode": True},
    }
    assert len(data["accessCode"]["code"]) == 6
    assert _tenant_log(scenario) == []  # reading the link is not an access-log event


def test_step_up_state_is_reported(scenario):
    fail_step_up(scenario.records["a1"], times=2)
    data = data_of(scenario.api.get(scenario.path("a1", "access-link")))
    assert data["stepUp"] == {"lockedUntil": None, "failuresInWindow": 2}
    fail_step_up(scenario.records["a1"], times=3)
    shared = _shared(scenario)
    data = data_of(scenario.api.get(scenario.path("a1", "access-link")))
    assert data["stepUp"] == {"lockedUntil": ts(shared.locked_until), "failuresInWindow": 0}


def test_stale_step_up_counters_read_as_zero(scenario):
    old = timezone.now() - dt.timedelta(hours=2)
    SharedRecord.objects.filter(customer_record=scenario.records["a1"]).update(
        failure_count=3, failure_window_start=old, locked_until=old)
    data = data_of(scenario.api.get(scenario.path("a1", "access-link")))
    assert data["stepUp"] == {"lockedUntil": None, "failuresInWindow": 0}


def test_patch_policy(scenario):
    data = data_of(scenario.api.patch(scenario.path("a1", "access-link"), {"policy": "OPEN", "ignored": True}))
    assert (data["policy"], data["accessCode"]["status"], data["readiness"]) == (
        "OPEN", "not_required", {"link": True, "accessCode": True})
    assert _shared(scenario).policy == "OPEN"
    assert _tenant_log(scenario) == [("policy_changed", "tenant_api", data["handle"], {"policy": "OPEN"})]


@pytest.mark.parametrize("body", [{"policy": "SECRET"}, {}, {"policy": 1}])
def test_patch_bad_policy_is_400_and_changes_nothing(scenario, body, unchanged):
    with unchanged():
        error = error_of(scenario.api.patch(scenario.path("a1", "access-link"), body), 400, "VALIDATION_ERROR")
    assert list(error["details"]["fields"]) == ["policy"]


def test_patch_needs_a_json_object(scenario):
    error_of(scenario.api.patch(scenario.path("a1", "access-link"), ["OPEN"]), 400, "VALIDATION_ERROR")
    response = scenario.api.request("PATCH", scenario.path("a1", "access-link"), raw=b"policy=OPEN",
                                    content_type="application/x-www-form-urlencoded")
    error_of(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_rotate_code(scenario):
    before = _shared(scenario)
    data = data_of(scenario.api.post(scenario.path("a1", "access-link/rotate-code")))
    after = _shared(scenario)
    assert data["accessCode"] == {"status": "ready", "code": access_code(after), "rotatedAt": ts(after.code_rotated_at)}
    assert after.access_code_hash == code_hash(after.customer_record_id, data["accessCode"]["code"])
    assert (after.code_version, after.handle) == (before.code_version + 1, before.handle)
    assert _tenant_log(scenario) == [("code_rotated", "tenant_api", before.handle, {})]


def test_reissue(scenario):
    before = _shared(scenario)
    data = data_of(scenario.api.post(scenario.path("a1", "access-link/reissue"), {"rotateCode": True}))
    after = _shared(scenario)
    assert data["handle"] == after.handle != before.handle
    assert data["url"] == f"https://records.example.com/c/{after.handle}"
    assert (data["reissueCount"], data["issuedAt"]) == (1, ts(after.issued_at))
    assert data["accessCode"]["code"] == access_code(after) != access_code(before)
    assert _tenant_log(scenario) == [("link_reissued", "tenant_api", before.handle, {"rotateCode": True})]


def test_reissue_keeps_the_code_by_default_and_reactivates(scenario):
    before = _shared(scenario)
    data_of(scenario.api.post(scenario.path("a1", "access-link/revoke")))
    data = data_of(scenario.api.post(scenario.path("a1", "access-link/reissue")))
    assert (data["status"], data["accessCode"]["code"]) == ("active", access_code(before))


def test_reissue_rotate_code_must_be_boolean(scenario, unchanged):
    with unchanged():
        error = error_of(scenario.api.post(scenario.path("a1", "access-link/reissue"), {"rotateCode": "yes"}), 400,
                         "VALIDATION_ERROR")
    assert error["details"] == {"fields": {"rotateCode": ["must be a boolean"]}}


def test_revoke(scenario):
    handle = _shared(scenario).handle
    data = data_of(scenario.api.post(scenario.path("a1", "access-link/revoke")))
    assert (data["status"], data["handle"], data["url"], data["readiness"]) == (
        "revoked", None, None, {"link": False, "accessCode": True})
    assert _shared(scenario).status == "revoked"
    assert _tenant_log(scenario) == [("link_revoked", "tenant_api", handle, {})]


def test_unknown_customer_changes_nothing(scenario, unchanged):
    missing = "cus_" + "2" * 20
    with unchanged():
        for method, suffix, body in (("PATCH", "", {"policy": "OPEN"}), ("POST", "/rotate-code", {}),
                                     ("POST", "/reissue", {}), ("POST", "/revoke", {})):
            response = scenario.api.request(method, f"/api/v1/middleware/customers/{missing}/access-link{suffix}",
                                            body)
            error_of(response, 404, "CUSTOMER_NOT_FOUND")
