"""Step-up on the Shared Record (api.md §5.1–5.2): the cookie, wrong codes, lockout (also under real
concurrency), and how rotation, reissue and revocation end access."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from records.models import AccessLogEntry, SharedRecord
from records.services.shared_records import (
    shared_record_reissue,
    shared_record_revoke,
    shared_record_rotate_code,
    viewer_hash,
)
from tests.records.shared_record_support import (
    CLIENT_IP,
    OTHER_IP,
    STAFF,
    browser,
    data_of,
    error_of,
    post_json,
    roomy_public_rate_limit,  # noqa: F401 - autouse fixture
    scenario,  # noqa: F401 - fixture
    ts,
    unlock,
)
from webhooks.models import Event

LOCKED_EVENT = "customer.step_up_failed_repeatedly"


def attempt(client: Client, s, value, key: str = "main"):
    return post_json(client, s.api(key, "/access/verify"), {"factor": "ACCESS_HINT", "value": value})


def detail_status(client: Client, s, key: str = "main") -> int:
    return client.get(s.api(key, "/activity")).status_code


# --- The cookie ------------------------------------------------------------------------------------------------
def test_right_code_sets_one_scoped_cookie(scenario):
    s, client = scenario, browser()
    before = timezone.now()
    response = unlock(client, s)
    data = data_of(response)
    assert data["unlocked"] is True and data["policy"] == "TWO_TIER"
    expires = dt.datetime.fromisoformat(data["expiresAt"].replace("Z", "+00:00"))
    assert before + dt.timedelta(minutes=29) < expires <= timezone.now() + dt.timedelta(minutes=30)
    assert list(response.cookies) == [f"psr_{s.handle()}"]
    cookie = response.cookies[f"psr_{s.handle()}"]
    assert (cookie["max-age"], cookie["path"], cookie["httponly"], cookie["samesite"], cookie["secure"]) == (
        1800, "/", True, "Lax", "")
    assert s.code() not in cookie.value
    assert detail_status(client, s) == 200


def test_cookie_is_secure_over_https(scenario):
    s = scenario
    response = Client().post(s.api(suffix="/access/verify"), data={"factor": "ACCESS_HINT", "value": s.code()},
                             content_type="application/json", secure=True)
    assert response.cookies[f"psr_{s.handle()}"]["secure"] is True


@pytest.mark.parametrize("spelling", [lambda c: c.lower(), lambda c: f"{c[:3]}-{c[3:]}", lambda c: f" {c[:3]} {c[3:]} "])
def test_code_is_normalized(scenario, spelling):
    s = scenario
    assert attempt(browser(), s, spelling(s.code())).status_code == 200


def test_open_policy_answers_without_a_cookie(scenario):
    s = scenario
    s.set_policy("OPEN")
    response = attempt(browser(), s, "anything")
    assert data_of(response) == {"unlocked": True, "policy": "OPEN", "expiresAt": None}
    assert not response.cookies
    assert AccessLogEntry.objects.filter(customer_record=s.records["main"]).count() == 0


def test_cookie_for_one_handle_does_not_open_another(scenario):
    s, client = scenario, browser()
    token = unlock(client, s).cookies[f"psr_{s.handle()}"].value
    assert detail_status(client, s) == 200
    assert detail_status(client, s, "other") == 403
    client.cookies[f"psr_{s.handle('other')}"] = token  # the same token under the other handle's name
    error_of(client.get(s.api("other", "/activity")), 403, "STEP_UP_REQUIRED")


@pytest.mark.parametrize("value", ["", "garbage", "psr.tampered:signature"])
def test_forged_cookies_open_nothing(scenario, value):
    s, client = scenario, browser()
    client.cookies[f"psr_{s.handle()}"] = value
    error_of(client.get(s.api(suffix="/periods")), 403, "STEP_UP_REQUIRED")


def test_cookie_expires_after_thirty_minutes(scenario, monkeypatch):
    s, client = scenario, browser()
    unlock(client, s)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 30 * 60 + 5)
    error_of(client.get(s.api(suffix="/activity")), 403, "STEP_UP_REQUIRED")


# --- Wrong codes and the lockout -------------------------------------------------------------------------------
def test_wrong_codes_count_down_then_lock(scenario):
    s, client = scenario, browser()
    remaining = [error_of(attempt(client, s, "WRONG1"), 403, "ACCESS_CODE_INVALID")["details"]["attemptsRemaining"]
                 for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    shared = s.shared()
    assert shared.locked_until is not None and shared.failure_count == 0
    locked = attempt(client, s, s.code())  # even the right code is refused while locked
    error = error_of(locked, 429, "STEP_UP_LOCKED")
    assert 899 <= error["retryAfterSeconds"] <= 901 and locked["Retry-After"] == str(error["retryAfterSeconds"])
    assert not locked.cookies
    event = Event.objects.get(type=LOCKED_EVENT).payload["data"]
    assert {k: event[k] for k in ("failedAttempts", "windowMinutes", "lockedUntil", "distinctViewers", "actor")} == {
        "failedAttempts": 5, "windowMinutes": 15, "lockedUntil": ts(shared.locked_until), "distinctViewers": 1,
        "actor": {"type": "shared_record_visitor", "viewerHash": viewer_hash(s.records["main"].id, CLIENT_IP)[:16]},
    }
    actions = list(AccessLogEntry.objects.filter(customer_record=s.records["main"]).order_by("id")
                   .values_list("action", "detail"))
    assert actions == [("step_up_failure", {})] * 4 + [
        ("step_up_failure", {"lockedUntil": ts(shared.locked_until)}), ("step_up_locked", {})]


def test_attempts_while_locked_are_not_counted_and_fire_nothing_more(scenario):
    s, client = scenario, browser()
    for _ in range(5):
        attempt(client, s, "WRONG1")
    until = s.shared().locked_until
    for _ in range(3):
        error_of(attempt(client, s, "WRONG1"), 429, "STEP_UP_LOCKED")
    assert Event.objects.filter(type=LOCKED_EVENT).count() == 1
    assert (s.shared().locked_until, s.shared().failure_count) == (until, 0)


def test_lock_leaves_the_summary_and_existing_cookies_working(scenario):
    s, holder, attacker = scenario, browser(CLIENT_IP), browser(OTHER_IP)
    unlock(holder, s)
    for _ in range(5):
        attempt(attacker, s, "WRONG1")
    assert attacker.get(s.api()).status_code == 200
    assert detail_status(holder, s) == 200


def test_distinct_viewers_are_counted(scenario):
    s = scenario
    for ip in (CLIENT_IP, OTHER_IP, CLIENT_IP, OTHER_IP, CLIENT_IP):
        attempt(browser(ip), s, "WRONG1")
    assert Event.objects.get(type=LOCKED_EVENT).payload["data"]["distinctViewers"] == 2


def test_failures_outside_the_window_start_over(scenario):
    s, client = scenario, browser()
    for _ in range(4):
        attempt(client, s, "WRONG1")
    SharedRecord.objects.filter(pk=s.shared().pk).update(
        failure_window_start=timezone.now() - dt.timedelta(minutes=16))
    assert error_of(attempt(client, s, "WRONG1"), 403, "ACCESS_CODE_INVALID")["details"] == {"attemptsRemaining": 4}


def test_lock_ends_after_fifteen_minutes(scenario):
    s, client = scenario, browser()
    for _ in range(5):
        attempt(client, s, "WRONG1")
    SharedRecord.objects.filter(pk=s.shared().pk).update(locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert attempt(client, s, s.code()).status_code == 200


def test_right_code_resets_the_count(scenario):
    s, client = scenario, browser()
    for _ in range(3):
        attempt(client, s, "WRONG1")
    unlock(client, s)
    assert error_of(attempt(client, s, "WRONG1"), 403, "ACCESS_CODE_INVALID")["details"] == {"attemptsRemaining": 4}


@pytest.mark.parametrize("body", [
    {"factor": "SMS", "value": "ABC123"}, {"factor": "ACCESS_HINT"}, {"factor": "ACCESS_HINT", "value": ""},
    {"value": "ABC123"}, {"factor": "ACCESS_HINT", "value": "A" * 65}, {"factor": "ACCESS_HINT", "value": None},
    ["ACCESS_HINT"],
])
def test_malformed_attempts_are_400_and_not_counted(scenario, body):
    s = scenario
    error_of(post_json(browser(), s.api(suffix="/access/verify"), body), 400, "VALIDATION_ERROR")
    assert s.shared().failure_count == 0
    assert not AccessLogEntry.objects.filter(customer_record=s.records["main"]).exists()


def test_non_json_attempt_is_415(scenario):
    s = scenario
    response = browser().post(s.api(suffix="/access/verify"), data="code=ABC", content_type="text/plain")
    error_of(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert s.shared().failure_count == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_wrong_codes_lock_once(scenario):
    s = scenario
    path = s.api(suffix="/access/verify")
    start = threading.Barrier(10)
    answers: list[tuple[int, str]] = []

    def wrong(n: int) -> None:
        try:
            start.wait()
            response = post_json(browser(f"192.0.2.{n + 1}"), path, {"factor": "ACCESS_HINT", "value": "WRONG1"})
            answers.append((response.status_code, response.json()["error"]["code"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=wrong, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [(403, "ACCESS_CODE_INVALID")] * 5 + [(429, "STEP_UP_LOCKED")] * 5
    assert Event.objects.filter(type=LOCKED_EVENT).count() == 1
    shared = s.shared()
    assert shared.locked_until is not None and shared.locked_until > timezone.now()
    assert Event.objects.get(type=LOCKED_EVENT).payload["data"]["distinctViewers"] == 5
    error_of(attempt(browser(), s, s.code()), 429, "STEP_UP_LOCKED")


# --- Rotation, reissue, revocation --------------------------------------------------------------------------------
def test_rotating_the_code_ends_existing_unlocks(scenario):
    s, client = scenario, browser()
    old_code = s.code()
    unlock(client, s)
    _shared, new_code = shared_record_rotate_code(shared=s.shared(), actor=STAFF)
    error_of(client.get(s.api(suffix="/activity")), 403, "STEP_UP_REQUIRED")
    assert data_of(client.get(s.api()))["unlocked"] is False
    error_of(attempt(client, s, old_code), 403, "ACCESS_CODE_INVALID")
    assert attempt(client, s, new_code).status_code == 200
    assert detail_status(client, s) == 200


def test_reissue_kills_the_old_handle_at_once(scenario):
    s, client = scenario, browser()
    old = s.handle()
    token = unlock(client, s).cookies[f"psr_{old}"].value
    shared = shared_record_reissue(shared=s.shared(), actor=STAFF)
    for path in (f"/api/v1/c/{old}", f"/api/v1/c/{old}/activity"):
        error_of(client.get(path), 404, "NOT_FOUND")
    assert data_of(client.get(f"/api/v1/c/{shared.handle}"))["unlocked"] is False
    client.cookies[f"psr_{shared.handle}"] = token
    error_of(client.get(f"/api/v1/c/{shared.handle}/activity"), 403, "STEP_UP_REQUIRED")
    assert attempt(client, s, s.code()).status_code == 200  # the code survives a reissue unless rotated


def test_revoke_is_404_until_reissued(scenario):
    s, client = scenario, browser()
    handle = s.handle()
    unlock(client, s)
    shared_record_revoke(shared=s.shared(), actor=STAFF)
    error_of(client.get(f"/api/v1/c/{handle}"), 404, "NOT_FOUND")
    error_of(client.get(f"/api/v1/c/{handle}/activity"), 404, "NOT_FOUND")
    error_of(attempt(client, s, s.code()), 404, "NOT_FOUND")
    shared = shared_record_reissue(shared=s.shared(), actor=STAFF)
    assert data_of(client.get(f"/api/v1/c/{shared.handle}"))["handle"] == shared.handle
