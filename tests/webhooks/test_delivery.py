"""Outbox, attempts, retry schedule and endpoint disabling (webhooks.md §5), in embedded mode: the first
attempt runs right after commit, later ones when `dispatch_due` finds them due on a frozen clock."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import transaction

from pacspace.crypto import decrypt
from tests.webhooks.conftest import make_endpoint, record_events
from webhooks import transport
from webhooks.models import Attempt, Delivery, Endpoint, Event
from webhooks.schedule import RETRY_DELAYS
from webhooks.services import claims as claims_module
from webhooks.services import deliveries as deliveries_module
from webhooks.services import (
    deliveries_dispatch_due,
    deliveries_prune,
    delivery_attempt,
    delivery_retry,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_test,
    endpoint_update,
    event_record,
)
from webhooks.services import scheduling as scheduling_module

PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"


def _attempts(delivery: Delivery) -> list[tuple]:
    return list(
        Attempt.objects.filter(delivery=delivery)
        .order_by("number")
        .values_list("number", "status_code", "error", "is_manual")
    )


# ----------------------------------------------------------------------------------------------- outbox
def test_event_record_writes_one_delivery_per_endpoint_of_tenant_and_environment(
    direct_tenant, other_tenant, receiver, clock
):
    on, _ = make_endpoint(direct_tenant, receiver.url)
    off, _ = make_endpoint(direct_tenant, receiver.url, enabled=False)
    gone, _ = make_endpoint(direct_tenant, receiver.url)
    endpoint_delete(endpoint=gone)
    endpoint_create(tenant=direct_tenant.tenant, environment="production", url=receiver.url)
    make_endpoint(other_tenant, receiver.url)

    (event,) = record_events(direct_tenant)

    rows = {d.endpoint_id: d for d in Delivery.objects.filter(event=event)}
    assert set(rows) == {on.pk, off.pk}
    assert (rows[on.pk].status, rows[on.pk].next_attempt_at, rows[on.pk].last_error) == (
        PENDING,
        clock.now,
        "",
    )
    assert (rows[off.pk].status, rows[off.pk].next_attempt_at, rows[off.pk].last_error) == (
        FAILED, None, "ENDPOINT_DISABLED"
    )  # fmt: skip
    assert all(d.tenant_id == direct_tenant.tenant.pk and d.environment == "sandbox" for d in rows.values())
    assert receiver.requests == []  # nothing is sent before the caller's transaction commits


def test_event_body_is_serialized_once_and_sent_byte_for_byte(direct_tenant, receiver, committed, clock):
    make_endpoint(direct_tenant, receiver.url)
    with committed():
        with transaction.atomic():
            event = event_record(
                tenant_id=direct_tenant.tenant.pk,
                environment="sandbox",
                event_type="customer.created",
                data={
                    "customerId": "cus_x",
                    "note": "Grüße €",
                    "amount": __import__("decimal").Decimal("-12.50"),
                },
            )
    stamp = clock.now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    expected = (
        '{"id":"%s","event":"customer.created","tenantId":"%s","environment":"sandbox",'
        '"createdAt":"%s","timestamp":"%s","data":{"customerId":"cus_x","note":"Grüße €","amount":-12.5}}'
        % (event.pk, direct_tenant.tenant.pk, stamp, stamp)
    ).encode()
    assert bytes(event.body) == expected
    assert [r.body for r in receiver.requests] == [expected]


def test_rolled_back_change_emits_no_event_and_no_delivery(
    direct_tenant, receiver, django_capture_on_commit_callbacks
):
    make_endpoint(direct_tenant, receiver.url)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError, match="state change failed"):
            with transaction.atomic():
                record_events(direct_tenant, 3)
                raise RuntimeError("state change failed")
    assert (Event.objects.count(), Delivery.objects.count(), callbacks, receiver.requests) == (0, 0, [], [])


@pytest.mark.django_db(transaction=True)
def test_event_record_outside_a_transaction_is_refused(direct_tenant):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        event_record(tenant_id=direct_tenant.tenant.pk, environment="sandbox", event_type="x", data={})


# ---------------------------------------------------------------------------------------------- attempts
def test_first_attempt_runs_right_after_commit_with_every_header(direct_tenant, receiver, committed, clock):
    endpoint, secret = make_endpoint(direct_tenant, receiver.url)
    before = int(time.time())
    with committed():
        (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)

    (request,) = receiver.requests
    headers = request.headers
    stamp = headers["X-PacSpace-Timestamp"]
    assert before <= int(stamp) <= int(time.time())
    assert {k: v for k, v in headers.items() if k not in ("X-PacSpace-Signature", "webhook-signature")} == {
        "Host": f"127.0.0.1:{receiver.port}",
        "Accept-Encoding": "identity",
        "User-Agent": transport.USER_AGENT,
        "Content-Length": str(len(event.body)),
        "Content-Type": "application/json",
        "X-PacSpace-Timestamp": stamp,
        "X-Webhook-Event": "delta.verified",
        "X-Event-ID": event.pk,
        "webhook-id": event.pk,
        "webhook-timestamp": stamp,
        "X-Delivery-ID": delivery.pk,
        "X-Delivery-Attempt": "1",
    }
    from webhooks.signing import pacspace_signature, standard_signature

    assert headers["X-PacSpace-Signature"] == "v1=" + pacspace_signature(secret, int(stamp), request.body)
    assert headers["webhook-signature"] == "v1," + standard_signature(
        secret, event.pk, int(stamp), request.body
    )
    assert (delivery.status, delivery.attempt_count, delivery.delivered_at, delivery.last_status_code) == (
        DELIVERED, 1, clock.now, 200
    )  # fmt: skip
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.at, attempt.status_code, attempt.error, attempt.response_body) == (
        1, clock.now, 200, "", '{"ok":true}'
    )  # fmt: skip
    assert (attempt.address_check, attempt.addresses, attempt.url, attempt.is_manual) == (
        "skipped", ["127.0.0.1"], receiver.url, False
    )  # fmt: skip
    assert isinstance(attempt.latency_ms, int) and attempt.latency_ms >= 0
    endpoint.refresh_from_db()
    assert (endpoint.success_count, endpoint.failure_count, endpoint.last_delivery_at) == (1, 0, clock.now)


def test_500_then_200_logs_each_attempt_on_the_schedule(direct_tenant, receiver, committed, clock):
    make_endpoint(direct_tenant, receiver.url)
    receiver.statuses = [500, 500]
    start = clock.now
    with committed():
        (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    # Retry 1 is "immediately": due at once, picked up by the next dispatch.
    assert (delivery.status, delivery.next_attempt_at, delivery.last_error) == (PENDING, start, "HTTP_STATUS")
    assert deliveries_dispatch_due() == [delivery.pk]
    delivery.refresh_from_db()
    wait = delivery.next_attempt_at - start
    assert timedelta(seconds=4.5) <= wait <= timedelta(seconds=5.5)  # retry 2: 5 s ± 10 %
    assert deliveries_dispatch_due() == []  # not due yet
    clock.advance(seconds=6)
    assert deliveries_dispatch_due() == [delivery.pk]
    delivery.refresh_from_db()
    assert _attempts(delivery) == [
        (1, 500, "HTTP_STATUS", False),
        (2, 500, "HTTP_STATUS", False),
        (3, 200, "", False),
    ]
    assert list(delivery.attempts.values_list("at", flat=True)) == [
        start,
        start,
        start + timedelta(seconds=6),
    ]
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at, delivery.delivered_at) == (
        DELIVERED, 3, None, clock.now
    )  # fmt: skip
    assert [r.headers["X-Delivery-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert {r.event_id for r in receiver.requests} == {event.pk}  # the event id never changes


def test_schedule_ends_in_failed_after_eleven_attempts(direct_tenant, receiver, committed, clock):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.default_status = 503
    with committed():
        (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    for base in RETRY_DELAYS:
        delivery.refresh_from_db()
        previous = delivery.last_attempt_at
        assert base * 0.9 <= delivery.next_attempt_at - previous <= base * 1.1
        clock.now = delivery.next_attempt_at
        assert deliveries_dispatch_due() == [delivery.pk]
    delivery.refresh_from_db()
    times = list(delivery.attempts.values_list("at", flat=True))
    assert (delivery.status, delivery.attempt_count, delivery.scheduled_attempts, len(times)) == (
        FAILED,
        11,
        11,
        11,
    )
    assert (delivery.next_attempt_at, delivery.last_error, delivery.last_status_code) == (
        None,
        "HTTP_STATUS",
        503,
    )
    assert timedelta(hours=68) < times[-1] - times[0] < timedelta(hours=83)  # about 75.6 h
    clock.advance(days=2)
    assert deliveries_dispatch_due() == []
    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.failure_count, endpoint.failing_since) == (True, 11, times[0])


def test_410_disables_the_endpoint_and_fails_its_pending_deliveries(
    direct_tenant, receiver, committed, clock
):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.statuses = [500]
    with committed():
        (first,) = record_events(direct_tenant)  # fails once, waits for retry 1
    receiver.statuses = [410]
    with committed():
        (second,) = record_events(direct_tenant)
    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at) == (False, "gone", clock.now)
    gone = Delivery.objects.get(event=second)
    assert (gone.status, gone.last_error, gone.last_status_code, gone.next_attempt_at) == (
        FAILED, "ENDPOINT_DISABLED", 410, None
    )  # fmt: skip
    assert _attempts(gone) == [(1, 410, "HTTP_STATUS", False)]
    waiting = Delivery.objects.get(event=first)
    assert (waiting.status, waiting.last_error, waiting.attempt_count) == (FAILED, "ENDPOINT_DISABLED", 1)
    assert deliveries_dispatch_due() == []
    with committed():
        (third,) = record_events(direct_tenant)
    assert Delivery.objects.get(event=third).status == FAILED
    assert len(receiver.requests) == 2


def test_five_days_of_only_failures_disable_the_endpoint(direct_tenant, receiver, committed, clock, settings):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.default_status = 500
    start = clock.now
    with committed():
        record_events(direct_tenant)
    endpoint.refresh_from_db()
    assert endpoint.failing_since == start
    clock.advance(days=settings.WEBHOOK_AUTO_DISABLE_DAYS, seconds=-1)
    with committed():
        record_events(direct_tenant)
    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.failing_since) == (True, start)
    clock.advance(seconds=1)
    with committed():
        (last,) = record_events(direct_tenant)
    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at) == (
        False,
        "failing",
        clock.now,
    )
    assert set(Delivery.objects.values_list("status", "last_error")) == {(FAILED, "ENDPOINT_DISABLED")}
    assert Delivery.objects.get(event=last).last_status_code == 500


def test_a_success_ends_the_failure_streak(direct_tenant, receiver, committed, clock):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.statuses = [500]
    with committed():
        record_events(direct_tenant)
    assert Endpoint.objects.get(pk=endpoint.pk).failing_since == clock.now
    deliveries_dispatch_due()
    endpoint.refresh_from_db()
    assert (endpoint.failing_since, endpoint.success_count, endpoint.failure_count) == (None, 1, 1)


def test_reenabling_clears_reason_and_streak_and_does_not_resend(direct_tenant, receiver, committed, clock):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.statuses = [410]
    with committed():
        (event,) = record_events(direct_tenant)
    endpoint = endpoint_update(endpoint=endpoint, enabled=True)
    assert (endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at, endpoint.failing_since) == (
        True, "", None, None
    )  # fmt: skip
    assert deliveries_dispatch_due() == []
    assert Delivery.objects.get(event=event).status == FAILED  # only a manual retry sends it again
    assert len(receiver.requests) == 1


def test_private_address_is_refused_at_send_time_when_the_guard_is_on(
    direct_tenant, receiver, committed, clock, settings, monkeypatch
):
    endpoint, _ = make_endpoint(direct_tenant, "https://hooks.example.com/in")
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    # The name now answers with a loopback address (a re-bound or hostile DNS record).
    monkeypatch.setattr(transport, "resolve", lambda host, port, timeout: ("93.184.216.34", "127.0.0.1"))
    with committed():
        (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    attempt = delivery.attempts.get()
    logged = (
        attempt.error,
        attempt.address_check,
        attempt.addresses,
        attempt.status_code,
        attempt.latency_ms,
    )
    assert logged == (
        "TARGET_NOT_ALLOWED", "refused", ["93.184.216.34", "127.0.0.1"], None, None
    )  # fmt: skip
    assert (delivery.status, delivery.last_error) == (PENDING, "TARGET_NOT_ALLOWED")
    assert receiver.requests == []


def test_receiver_down_then_up_gets_every_event_exactly_once(
    direct_tenant, stopped_receiver, committed, clock
):
    receiver = stopped_receiver
    make_endpoint(direct_tenant, receiver.url)
    with committed():
        events = record_events(direct_tenant, 5)
    deliveries_dispatch_due()  # retry 1, still down
    assert set(Attempt.objects.values_list("error", flat=True)) == {"CONNECTION_ERROR"}
    receiver.start()
    clock.advance(seconds=6)
    assert len(deliveries_dispatch_due()) == 5
    clock.advance(minutes=10)
    assert deliveries_dispatch_due() == []
    assert receiver.processed == {event.pk: 1 for event in events}
    assert len(receiver.requests) == 5  # not only deduplicated: nothing was sent twice
    assert set(Delivery.objects.values_list("status", "attempt_count")) == {(DELIVERED, 3)}


# ------------------------------------------------------------------------------------ claims and dispatch
def test_a_leased_delivery_is_not_sent_again(direct_tenant, receiver, clock):
    make_endpoint(direct_tenant, receiver.url)
    (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    Delivery.objects.filter(pk=delivery.pk).update(lease_expires_at=clock.now + timedelta(seconds=30))
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert receiver.requests == []
    clock.advance(seconds=31)  # the lease holder died: its lease runs out and the work is taken over
    assert delivery_attempt(delivery_id=delivery.pk).number == 1
    assert delivery_attempt(delivery_id=delivery.pk) is None  # a duplicate queue message is harmless
    assert len(receiver.requests) == 1


def test_an_attempt_number_is_never_reused_after_a_worker_dies(direct_tenant, receiver, clock):
    make_endpoint(direct_tenant, receiver.url)
    (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    assert claims_module.claim_one(delivery.pk, clock.now).number == 1  # claimed, then the worker died
    clock.advance(seconds=61)
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert (attempt.number, receiver.requests[0].headers["X-Delivery-Attempt"]) == (2, "2")
    assert Delivery.objects.get(pk=delivery.pk).status == DELIVERED


def test_dispatch_due_sends_due_unleased_deliveries_whose_message_may_be_lost(
    direct_tenant, receiver, clock, monkeypatch
):
    make_endpoint(direct_tenant, receiver.url)
    sent: list[str] = []
    monkeypatch.setattr(scheduling_module, "enqueue", lambda pairs: sent.extend(d for _, d in pairs))
    fresh, leased, lost, expired, later = (
        Delivery.objects.get(event=e) for e in record_events(direct_tenant, 5)
    )
    now = clock.now
    Delivery.objects.filter(pk=leased.pk).update(
        enqueued_at=None, lease_expires_at=now + timedelta(seconds=1)
    )
    Delivery.objects.filter(pk=lost.pk).update(enqueued_at=now - timedelta(seconds=60))
    Delivery.objects.filter(pk=expired.pk).update(enqueued_at=None, lease_expires_at=now)
    Delivery.objects.filter(pk=later.pk).update(enqueued_at=None, next_attempt_at=now + timedelta(seconds=1))
    assert sorted(deliveries_dispatch_due()) == sorted([lost.pk, expired.pk]) == sorted(sent)
    assert deliveries_dispatch_due() == []  # marked as sent: the next run does not repeat them
    assert Delivery.objects.get(pk=lost.pk).enqueued_at == now
    assert fresh.enqueued_at == now  # its on-commit message is recent


def test_a_slow_endpoint_gets_one_delivery_in_flight(direct_tenant, receiver, clock):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.delay = 1.05
    first, second = (Delivery.objects.get(event=e) for e in record_events(direct_tenant, 2))
    delivery_attempt(delivery_id=first.pk)
    endpoint.refresh_from_db()
    assert endpoint.is_slow is True
    Delivery.objects.filter(pk=first.pk).update(
        status=PENDING, lease_expires_at=clock.now + timedelta(seconds=30)
    )
    assert delivery_attempt(delivery_id=second.pk) is None  # parked while the other one is in flight
    second.refresh_from_db()
    assert (second.status, second.attempt_count, second.enqueued_at) == (PENDING, 0, clock.now)
    Delivery.objects.filter(pk=first.pk).update(status=DELIVERED, lease_expires_at=None)
    receiver.delay = 0
    assert delivery_attempt(delivery_id=second.pk).status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.is_slow is False
    assert len(receiver.requests) == 2


def test_pending_delivery_to_an_endpoint_disabled_meanwhile_fails_without_sending(
    direct_tenant, receiver, clock
):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    (event,) = record_events(direct_tenant)
    Endpoint.objects.filter(pk=endpoint.pk).update(is_enabled=False, disabled_reason="manual")
    assert delivery_attempt(delivery_id=Delivery.objects.get(event=event).pk) is None
    assert Delivery.objects.get(event=event).last_error == "ENDPOINT_DISABLED"
    assert receiver.requests == []


# ---------------------------------------------------------------------------------------- manual retry
def test_manual_retry_of_a_delivered_delivery_sends_once_more(direct_tenant, receiver, committed, clock):
    make_endpoint(direct_tenant, receiver.url)
    with committed():
        (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    clock.advance(hours=1)
    with committed():
        retried = delivery_retry(
            tenant_id=direct_tenant.tenant.pk, environment="sandbox", target_id=delivery.pk
        )
        assert retried == (
            event.pk, [delivery.pk]
        )  # fmt: skip
    delivery.refresh_from_db()
    assert _attempts(delivery) == [(1, 200, "", False), (2, 200, "", True)]
    assert (delivery.status, delivery.delivered_at, delivery.next_attempt_at) == (DELIVERED, clock.now, None)
    assert [r.body for r in receiver.requests] == [bytes(event.body)] * 2


def test_manual_retry_of_a_failed_delivery_is_one_attempt_without_a_new_schedule(
    direct_tenant, receiver, committed, clock
):
    make_endpoint(direct_tenant, receiver.url)
    receiver.default_status = 500
    (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    Delivery.objects.filter(pk=delivery.pk).update(status=FAILED, next_attempt_at=None, scheduled_attempts=11)
    with committed():
        delivery_retry(tenant_id=direct_tenant.tenant.pk, environment="sandbox", target_id=event.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at, delivery.scheduled_attempts) == (FAILED, None, 11)
    assert _attempts(delivery) == [(1, 500, "HTTP_STATUS", True)]


def test_manual_retry_of_a_pending_delivery_makes_it_due_and_keeps_the_schedule(
    direct_tenant, receiver, committed, clock
):
    make_endpoint(direct_tenant, receiver.url)
    receiver.default_status = 500
    with committed():
        (event,) = record_events(direct_tenant)
    deliveries_dispatch_due()  # retry 1; retry 2 is 5 s away
    with committed():
        delivery_retry(tenant_id=direct_tenant.tenant.pk, environment="sandbox", target_id=event.pk)
    delivery = Delivery.objects.get(event=event)
    assert _attempts(delivery) == [
        (1, 500, "HTTP_STATUS", False),
        (2, 500, "HTTP_STATUS", False),
        (3, 500, "HTTP_STATUS", True),
    ]
    assert (delivery.status, delivery.scheduled_attempts) == (PENDING, 3)
    assert timedelta(minutes=4.5) <= delivery.next_attempt_at - clock.now <= timedelta(minutes=5.5)


# ------------------------------------------------------------------------------- rotation and test sends
def test_second_rotation_drops_the_oldest_secret(direct_tenant):
    endpoint, first = make_endpoint(direct_tenant, "https://hooks.example.com/in")
    endpoint, second = endpoint_rotate_secret(endpoint=endpoint)
    endpoint, third = endpoint_rotate_secret(endpoint=endpoint)
    assert (decrypt(endpoint.secret_encrypted), decrypt(endpoint.previous_secret_encrypted)) == (
        third,
        second,
    )
    assert first not in (third, second)


def test_test_send_reaches_a_disabled_endpoint_and_leaves_its_streak_alone(direct_tenant, receiver, clock):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    other, _ = make_endpoint(direct_tenant, receiver.url + "/other")
    streak = clock.now - timedelta(days=4)
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=streak, failure_count=7)
    endpoint = endpoint_update(endpoint=endpoint, enabled=False)
    receiver.statuses = [500]
    attempt = endpoint_test(endpoint=endpoint)
    assert (attempt.status_code, attempt.error, attempt.is_manual, attempt.number) == (
        500,
        "HTTP_STATUS",
        True,
        1,
    )
    (request,) = receiver.requests
    assert (request.path, request.headers["X-Webhook-Event"]) == ("/hooks", "webhook.test")
    endpoint.refresh_from_db()
    assert (endpoint.failing_since, endpoint.failure_count, endpoint.success_count, endpoint.is_enabled) == (
        streak, 7, 0, False
    )  # fmt: skip
    assert Delivery.objects.get(pk=attempt.delivery_id).status == FAILED
    assert not Delivery.objects.filter(endpoint=other).exists()


# ---------------------------------------------------------------------------------------------- pruning
def test_prune_removes_old_finished_deliveries_and_events_but_never_pending_work(
    direct_tenant, receiver, clock, settings
):
    make_endpoint(direct_tenant, receiver.url)
    old_done, old_pending, old_failed = record_events(direct_tenant, 3)
    assert delivery_attempt(delivery_id=Delivery.objects.get(event=old_done).pk).status_code == 200
    Delivery.objects.filter(event=old_failed).update(status=FAILED)
    clock.advance(days=settings.WEBHOOK_LOG_RETENTION_DAYS, seconds=1)
    (recent,) = record_events(direct_tenant)
    Delivery.objects.filter(event=recent).update(status=DELIVERED)

    assert deliveries_prune() == 2
    assert set(Event.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}
    assert set(Delivery.objects.values_list("event_id", flat=True)) == {old_pending.pk, recent.pk}
    assert Attempt.objects.count() == 0


def test_attempts_and_disabling_are_counted_in_metrics(direct_tenant, receiver, committed, clock):
    from webhooks.metrics import ATTEMPTS, ENDPOINTS_DISABLED

    def value(metric, **labels) -> float:
        return metric.labels(**labels)._value.get()

    before = (value(ATTEMPTS, outcome="success"), value(ATTEMPTS, outcome="http_status"))
    gone_before = value(ENDPOINTS_DISABLED, reason="gone")
    make_endpoint(direct_tenant, receiver.url)
    receiver.statuses = [200, 410]
    with committed():
        record_events(direct_tenant)
    with committed():
        record_events(direct_tenant)
    after = (value(ATTEMPTS, outcome="success"), value(ATTEMPTS, outcome="http_status"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
    assert value(ENDPOINTS_DISABLED, reason="gone") - gone_before == 1


def test_a_success_after_the_lease_was_taken_over_is_still_recorded(direct_tenant, receiver, clock):
    make_endpoint(direct_tenant, receiver.url)
    (event,) = record_events(direct_tenant)
    delivery = Delivery.objects.get(event=event)
    claim = claims_module.claim_one(delivery.pk, clock.now)
    takeover = clock.now + timedelta(seconds=90)  # this worker stalled; another one claimed after expiry
    Delivery.objects.filter(pk=delivery.pk).update(lease_expires_at=takeover, attempt_count=2)
    attempt = deliveries_module.send_and_record(claim)
    delivery.refresh_from_db()
    assert (attempt.number, attempt.status_code) == (1, 200)
    # The receiver has it, so it is DELIVERED; the other worker's lease stays for it to find that out.
    assert (delivery.status, delivery.lease_expires_at, delivery.attempt_count) == (DELIVERED, takeover, 2)


def test_parked_deliveries_go_on_when_the_attempt_ahead_ends(
    direct_tenant, receiver, committed, clock, monkeypatch
):
    """Whichever way the attempt ahead is recorded, the parked one is sent on (broker mode)."""
    monkeypatch.setattr(deliveries_module, "is_eager", lambda: False)
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    Endpoint.objects.filter(pk=endpoint.pk).update(is_slow=True)
    ahead, parked = (Delivery.objects.get(event=e) for e in record_events(direct_tenant, 2))
    claim = claims_module.claim_one(ahead.pk, clock.now)
    assert delivery_attempt(delivery_id=parked.pk) is None
    assert receiver.requests == []
    with committed():
        deliveries_module.send_and_record(claim)  # prompt this time: the endpoint is no longer slow
    assert [r.headers["X-Delivery-ID"] for r in receiver.requests] == [ahead.pk, parked.pk]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DELIVERED}
    assert Endpoint.objects.get(pk=endpoint.pk).is_slow is False
