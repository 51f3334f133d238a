"""Deliveries in batches of one endpoint (services/dispatch.py, services/deliveries.py): one message, one
claim and one recording transaction per batch, and a batch that stops where the endpoint says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from tests.webhooks.conftest import make_endpoint, record_events
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.services import deliveries as deliveries_module
from webhooks.services import deliveries_attempt, deliveries_dispatch_due, event_record
from webhooks.services.claims import LEASE
from webhooks.services.dispatch import BATCH_SIZE, batches

PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"


def _ids(events) -> list[str]:
    return [Delivery.objects.get(event=event).pk for event in events]


def _rows(ids: list[str]) -> list[tuple]:
    by_id = {d.pk: d for d in Delivery.objects.filter(pk__in=ids)}
    return [(by_id[i].status, by_id[i].attempt_count, by_id[i].lease_expires_at) for i in ids]


# -------------------------------------------------------------------------------------------- messages
def test_batches_hold_one_endpoint_each_and_endpoints_take_turns():
    pairs = [("whe_a", f"a{i}") for i in range(BATCH_SIZE + 2)] + [("whe_b", "b0"), ("whe_a", "a_last")]
    assert batches(pairs) == [
        [f"a{i}" for i in range(BATCH_SIZE)],
        ["b0"],
        [f"a{BATCH_SIZE}", f"a{BATCH_SIZE + 1}", "a_last"],
    ]
    assert batches([]) == []


def test_one_transaction_sends_full_batches_however_many_calls_wrote_it(
    direct_tenant, receiver, committed, monkeypatch
):
    a, _ = make_endpoint(direct_tenant, receiver.url)
    b, _ = make_endpoint(direct_tenant, receiver.url)
    sent: list[list[str]] = []
    monkeypatch.setattr("webhooks.tasks.deliver_batch.apply_async", lambda args, **kw: sent.append(args[0]))
    with committed():
        with transaction.atomic():
            for index in range(BATCH_SIZE + 5):  # one event_record call per event, as domain services do
                event_record(
                    tenant_id=direct_tenant.tenant.pk,
                    environment="sandbox",
                    event_type="delta.verified",
                    data={"recordId": f"rec_{index}"},
                )
    by_endpoint = dict(Delivery.objects.values_list("pk", "endpoint_id"))
    assert [len(batch) for batch in sent] == [BATCH_SIZE, BATCH_SIZE, 5, 5]
    assert [{by_endpoint[i] for i in batch} for batch in sent] == [{a.pk}, {b.pk}, {a.pk}, {b.pk}]
    assert sorted(i for batch in sent for i in batch) == sorted(by_endpoint)


def test_a_rolled_back_savepoint_takes_its_sends_with_it(direct_tenant, receiver, committed, monkeypatch):
    make_endpoint(direct_tenant, receiver.url)
    sent: list[list[str]] = []
    monkeypatch.setattr("webhooks.tasks.deliver_batch.apply_async", lambda args, **kw: sent.append(args[0]))
    with committed():
        with transaction.atomic():
            (kept,) = record_events(direct_tenant)
            try:
                with transaction.atomic():
                    record_events(direct_tenant)
                    raise RuntimeError("the inner change fails")
            except RuntimeError:
                pass
    assert sent == [[Delivery.objects.get(event=kept).pk]]
    assert Delivery.objects.count() == 1


# ---------------------------------------------------------------------------------------------- sending
@pytest.mark.postgres  # the one-statement claim and recording are PostgreSQL's (services/fastpath.py)
@pytest.mark.parametrize("count", [3, 7])
def test_a_batch_is_one_claim_and_one_recording_transaction(
    direct_tenant, receiver, clock, django_assert_num_queries, count
):
    endpoint, secret = make_endpoint(direct_tenant, receiver.url)
    receiver.secrets = [secret]
    ids = _ids(record_events(direct_tenant, count))
    # Claim; then savepoint, endpoint row lock, DELIVERED + attempts, endpoint counters, release.
    with django_assert_num_queries(6):
        attempts = deliveries_attempt(delivery_ids=ids)
    assert [(a.delivery_id, a.number, a.status_code, a.at) for a in attempts] == [
        (i, 1, 200, clock.now) for i in ids
    ]
    assert _rows(ids) == [(DELIVERED, 1, None)] * count
    assert Attempt.objects.filter(delivery_id__in=ids).count() == count
    assert [r.headers["X-Delivery-ID"] for r in receiver.requests] == ids
    assert all(r.verified == {secret: (True, True)} for r in receiver.requests)
    endpoint.refresh_from_db()
    assert (endpoint.success_count, endpoint.failure_count) == (count, 0)
    assert endpoint.last_delivery_at == clock.now
    assert deliveries_attempt(delivery_ids=ids) == []  # a duplicate message sends nothing
    assert len(receiver.requests) == count


def test_a_batch_skips_what_is_not_its_to_send(direct_tenant, receiver, clock):
    make_endpoint(direct_tenant, receiver.url)
    free, leased, done = _ids(record_events(direct_tenant, 3))
    lease = clock.now + LEASE
    Delivery.objects.filter(pk=leased).update(lease_expires_at=lease)
    Delivery.objects.filter(pk=done).update(status=DELIVERED, next_attempt_at=None)
    attempts = deliveries_attempt(delivery_ids=[free, leased, done, "dlv_doesnotexist00000000"])
    assert [(a.delivery_id, a.number) for a in attempts] == [(free, 1)]
    assert _rows([free, leased, done]) == [(DELIVERED, 1, None), (PENDING, 0, lease), (DELIVERED, 0, None)]


def test_failures_do_not_stop_a_batch_and_are_recorded_in_send_order(direct_tenant, receiver, clock):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.statuses = [500, 500, 200]
    first, second, third = ids = _ids(record_events(direct_tenant, 3))
    attempts = deliveries_attempt(delivery_ids=ids)
    assert [(a.number, a.status_code, a.error) for a in attempts] == [
        (1, 500, "HTTP_STATUS"), (1, 500, "HTTP_STATUS"), (1, 200, "")
    ]  # fmt: skip
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=ids)}
    assert [(rows[i].status, rows[i].next_attempt_at) for i in ids] == [
        (PENDING, clock.now), (PENDING, clock.now), (DELIVERED, None)
    ]  # fmt: skip — retry 1 follows a failure at once (webhooks.md §5.4)
    endpoint.refresh_from_db()
    # The success came last, so the failure streak is over.
    assert (endpoint.success_count, endpoint.failure_count, endpoint.failing_since) == (1, 2, None)


def test_immediate_retries_of_a_failed_batch_leave_as_one_message(
    direct_tenant, receiver, committed, clock, monkeypatch
):
    monkeypatch.setattr(deliveries_module, "is_eager", lambda: False)  # broker mode: retries get messages
    sent: list[list[str]] = []
    monkeypatch.setattr("webhooks.tasks.deliver_batch.apply_async", lambda args, **kw: sent.append(args[0]))
    make_endpoint(direct_tenant, receiver.url)
    receiver.default_status = 500
    ids = _ids(record_events(direct_tenant, 3))
    with committed():
        deliveries_attempt(delivery_ids=ids)
    assert sent == [ids]  # retry 1 follows at once (webhooks.md §5.4): one batch, not three messages
    assert _rows(ids) == [(PENDING, 1, None)] * 3


def test_a_410_stops_the_batch_and_fails_the_rest_unsent(direct_tenant, receiver, clock):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.statuses = [200, 410]
    ids = _ids(record_events(direct_tenant, 4))
    attempts = deliveries_attempt(delivery_ids=ids)
    assert [(a.delivery_id, a.status_code) for a in attempts] == [(ids[0], 200), (ids[1], 410)]
    assert len(receiver.requests) == 2
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=ids)}
    assert [(rows[i].status, rows[i].attempt_count, rows[i].last_error) for i in ids] == [
        (DELIVERED, 1, ""),
        (FAILED, 1, "ENDPOINT_DISABLED"),
        (FAILED, 0, "ENDPOINT_DISABLED"),  # never sent: its attempt number was handed back
        (FAILED, 0, "ENDPOINT_DISABLED"),
    ]
    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.disabled_reason) == (False, "gone")


def test_the_five_day_rule_stops_a_batch_at_the_failure_that_disables(
    direct_tenant, receiver, clock, settings
):
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.default_status = 503
    ids = _ids(record_events(direct_tenant, 3))
    failing_for = timedelta(days=settings.WEBHOOK_AUTO_DISABLE_DAYS)
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=clock.now - failing_for)
    attempts = deliveries_attempt(delivery_ids=ids)
    assert [(a.delivery_id, a.status_code) for a in attempts] == [(ids[0], 503)]
    assert [status for status, _, _ in _rows(ids)] == [FAILED] * 3
    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.disabled_reason) == (False, "failing")


def test_a_slow_answer_stops_the_batch_and_parks_the_rest(direct_tenant, receiver, clock, monkeypatch):
    parked_sends: list[list[tuple[str, str]]] = []
    monkeypatch.setattr(deliveries_module, "is_eager", lambda: False)  # broker mode: parked ones get messages
    monkeypatch.setattr(deliveries_module, "enqueue_on_commit", lambda pairs: parked_sends.append(pairs))
    endpoint, _ = make_endpoint(direct_tenant, receiver.url)
    receiver.delay = 1.05
    ids = _ids(record_events(direct_tenant, 3))
    attempts = deliveries_attempt(delivery_ids=ids)
    assert [(a.delivery_id, a.status_code) for a in attempts] == [(ids[0], 200)]
    assert len(receiver.requests) == 1
    assert _rows(ids) == [(DELIVERED, 1, None), (PENDING, 0, None), (PENDING, 0, None)]
    assert Endpoint.objects.get(pk=endpoint.pk).is_slow is True
    # Exactly one parked delivery goes on, as the slow attempt ends; the other waits behind it.
    assert parked_sends == [[(endpoint.pk, ids[1])]]


def test_a_spent_budget_hands_the_rest_back_for_the_next_sweep(direct_tenant, receiver, clock, monkeypatch):
    monkeypatch.setattr(deliveries_module, "BATCH_SEND_SECONDS", 0)
    make_endpoint(direct_tenant, receiver.url)
    ids = _ids(record_events(direct_tenant, 3))
    assert [a.delivery_id for a in deliveries_attempt(delivery_ids=ids)] == [ids[0]]
    assert _rows(ids) == [(DELIVERED, 1, None), (PENDING, 0, None), (PENDING, 0, None)]
    # Embedded mode: no message, so dispatch_due (every 10 s) takes them, one batch per run here.
    assert deliveries_dispatch_due() == ids[1:]
    assert deliveries_dispatch_due() == [ids[2]]
    assert _rows(ids) == [(DELIVERED, 1, None)] * 3
    assert [r.headers["X-Delivery-Attempt"] for r in receiver.requests] == ["1", "1", "1"]
