"""At-least-once with a real Celery worker process on the `webhooks` queue, Redis and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.webhooks.conftest import Receiver, make_endpoint, record_events, wait_until
from webhooks.models import Attempt, Delivery
from webhooks.services import deliveries_dispatch_due

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _status(event) -> str:
    return Delivery.objects.get(event=event).status


def test_a_worker_killed_mid_send_delivers_after_restart(direct_tenant, receiver, celery_worker_process):
    _, secret = make_endpoint(direct_tenant, receiver.url)
    receiver.secrets = [secret]
    receiver.hold = threading.Event()  # the first request is held open: the worker is mid-send
    (event,) = record_events(direct_tenant)  # commits; the on-commit message goes to Redis
    assert receiver.arrived.wait(30), "the worker never sent the first attempt"
    celery_worker_process.kill()
    receiver.hold.set()  # the receiver answers into a dead connection and handles the event
    receiver.wait_for(1)
    delivery = Delivery.objects.get(event=event)
    assert (delivery.status, delivery.attempt_count, Attempt.objects.count()) == ("PENDING", 1, 0)

    celery_worker_process.start()
    # The dead worker's lease would run out after 60 s; move it (and its message's age) into the past
    # instead of waiting, then let the beat task find the delivery as it would.
    past = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(pk=delivery.pk).update(
        lease_expires_at=past, enqueued_at=past - timedelta(minutes=1)
    )
    assert deliveries_dispatch_due() == [delivery.pk]
    wait_until(lambda: _status(event) == "DELIVERED", what="delivery after restart")

    delivery.refresh_from_db()
    assert (delivery.attempt_count, list(delivery.attempts.values_list("number", "status_code"))) == (
        2,
        [(2, 200)],
    )
    assert [r.headers["X-Delivery-Attempt"] for r in receiver.requests] == ["1", "2"]
    assert {r.event_id for r in receiver.requests} == {event.pk}
    assert all(r.verified == {secret: (True, True)} for r in receiver.requests)
    assert receiver.processed == {event.pk: 1}  # twice on the wire, once after the receiver's dedupe


def test_receiver_down_then_up_gets_each_event_once(direct_tenant, stopped_receiver, celery_worker_process):
    receiver = stopped_receiver
    make_endpoint(direct_tenant, receiver.url)
    events = record_events(direct_tenant, 3)
    # Attempt 1 and the immediate retry 1 fail; retry 2 comes 5 s (± 10 %) later from a delayed message.
    wait_until(lambda: Attempt.objects.filter(number=2).count() == 3, what="two failed attempts per delivery")
    receiver.start()
    wait_until(lambda: all(_status(e) == "DELIVERED" for e in events), timeout=20, what="all delivered")
    assert receiver.processed == {e.pk: 1 for e in events}
    assert len(receiver.requests) == 3
    assert set(Attempt.objects.values_list("number", "error")) == {
        (1, "CONNECTION_ERROR"),
        (2, "CONNECTION_ERROR"),
        (3, ""),
    }


def test_a_worker_killed_mid_batch_leaves_the_unsent_ones_to_be_delivered(
    direct_tenant, receiver, celery_worker_process
):
    """One message carries all three; the worker dies holding the first send open. The unsent two were
    claimed (leased, attempt numbers taken) and are sent again with the first once the lease runs out."""
    make_endpoint(direct_tenant, receiver.url)
    receiver.hold = threading.Event()
    events = record_events(direct_tenant, 3)  # one transaction: one deliver_batch message
    assert receiver.arrived.wait(30), "the worker never sent the first attempt"
    celery_worker_process.kill()
    receiver.hold.set()
    receiver.wait_for(1)
    rows = Delivery.objects.filter(event__in=events)
    assert sorted(rows.values_list("status", "attempt_count")) == [("PENDING", 1)] * 3
    assert rows.filter(lease_expires_at__isnull=True).count() == 0
    assert Attempt.objects.count() == 0

    celery_worker_process.start()
    past = timezone.now() - timedelta(seconds=1)
    rows.update(lease_expires_at=past, enqueued_at=past - timedelta(minutes=1))
    assert sorted(deliveries_dispatch_due()) == sorted(rows.values_list("pk", flat=True))
    wait_until(lambda: all(_status(e) == "DELIVERED" for e in events), what="all delivered after restart")

    assert sorted(Attempt.objects.values_list("number", "status_code")) == [(2, 200)] * 3
    first = receiver.requests[0].event_id
    assert len(receiver.requests) == 4  # the held first send, then the three again
    assert receiver.processed == {e.pk: 1 for e in events}
    assert [r.headers["X-Delivery-Attempt"] for r in receiver.requests if r.event_id == first] == ["1", "2"]


def test_a_slow_endpoint_does_not_hold_up_another_endpoints_deliveries(
    direct_tenant, receiver, two_worker_processes
):
    """Two pool processes; the slow endpoint's batch is queued first. The fast endpoint's deliveries are
    all DELIVERED before the slow receiver has given its first (2-s) answer, and the slow endpoint has
    one delivery in flight at a time."""
    slow_receiver = Receiver()
    slow_receiver.delay = 2.0
    slow_receiver.start()
    try:
        slow, _ = make_endpoint(direct_tenant, slow_receiver.url)
        fast, _ = make_endpoint(direct_tenant, receiver.url)
        record_events(direct_tenant, 3)
        fast_rows = Delivery.objects.filter(endpoint=fast)
        wait_until(lambda: fast_rows.filter(status="DELIVERED").count() == 3, what="fast deliveries")
        assert slow_receiver.requests == []  # its first answer is still on the way
        assert len(receiver.requests) == 3
        slow_rows = Delivery.objects.filter(endpoint=slow)
        wait_until(lambda: slow_rows.filter(status="DELIVERED").count() == 3, timeout=20, what="slow ones")
    finally:
        slow_receiver.stop()
    assert sorted(slow_rows.values_list("attempt_count", flat=True)) == [1, 1, 1]
    # One at a time: each request arrived after the previous answer (2 s apart at least).
    arrivals = sorted(Attempt.objects.filter(delivery__endpoint=slow).values_list("at", flat=True))
    assert all((later - earlier).total_seconds() >= 2 for earlier, later in zip(arrivals, arrivals[1:]))
