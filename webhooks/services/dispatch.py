"""Queue messages for deliveries. The database decides what is due; a message only says "look now".

A message carries up to BATCH_SIZE deliveries of one endpoint: one worker sends them one after another,
so a message per delivery (and a claim, a commit and a broker round trip per delivery) is not paid, while
a slow endpoint's batch only ever holds up its own deliveries (webhooks.md §5.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from itertools import zip_longest

from django.db import transaction

# 25 loopback deliveries take ~50 ms: large enough that the per-message cost is noise, small enough that
# two workers share a burst evenly and a batch stays far inside its lease (services/deliveries.py).
BATCH_SIZE = 25


def is_eager() -> bool:
    """Embedded mode: tasks run in-process at enqueue time, so nothing may be enqueued for later."""
    from webhooks.tasks import deliver_batch

    return bool(deliver_batch.app.conf.task_always_eager)


def batches(deliveries: Iterable[tuple[str, str]]) -> list[list[str]]:
    """(endpoint id, delivery id) pairs as lists of delivery ids, each of one endpoint and at most
    BATCH_SIZE long, in the order given; endpoints take turns, so none waits behind another's burst."""
    by_endpoint: dict[str, list[str]] = {}
    for endpoint_id, delivery_id in deliveries:
        by_endpoint.setdefault(endpoint_id, []).append(delivery_id)
    chunked = [
        [ids[start : start + BATCH_SIZE] for start in range(0, len(ids), BATCH_SIZE)]
        for ids in by_endpoint.values()
    ]
    return [batch for turn in zip_longest(*chunked) for batch in turn if batch]


def enqueue(deliveries: Iterable[tuple[str, str]], *, countdown: float | None = None) -> None:
    """One `deliver_batch` message per batch of (endpoint id, delivery id) pairs."""
    from webhooks.tasks import deliver_batch

    if is_eager():  # no broker to talk to: each batch runs here and now
        for batch in batches(deliveries):
            deliver_batch.apply_async((batch,))
        return
    # One producer (and broker connection) for all of them: a transaction may write thousands.
    with deliver_batch.app.producer_or_acquire() as producer:
        for batch in batches(deliveries):
            deliver_batch.apply_async((batch,), countdown=countdown, producer=producer)


def enqueue_on_commit(deliveries: list[tuple[str, str]], *, countdown: float | None = None) -> None:
    """Send after commit; `robust` because the row is committed by then and `dispatch_due` recovers a
    message the broker did not take, so a broker hiccup must not fail the request that wrote it.

    Calls in one transaction (under the same savepoints) join one callback, so deliveries written by
    many `event_record` calls (a caller's loop) still leave as full batches, not a message each."""
    if not deliveries:
        return
    if countdown:  # a later message of its own; an immediate retry (0) joins the others
        transaction.on_commit(partial(enqueue, deliveries, countdown=countdown), robust=True)
        return
    connection = transaction.get_connection()
    pending = getattr(connection, "webhooks_pending_send", None)
    if pending is not None and _joinable(connection, pending):
        pending.deliveries.extend(deliveries)
        return
    pending = _PendingSend(list(deliveries))
    connection.webhooks_pending_send = pending
    transaction.on_commit(pending, robust=True)  # outside a transaction this sends at once


def _joinable(connection, pending: _PendingSend) -> bool:
    """Still registered and not run, under the same savepoints: these deliveries commit or roll back
    exactly when the ones already in it do. (A rollback drops the callback from `run_on_commit`.)"""
    savepoints = set(connection.savepoint_ids)
    return not pending.is_sent and any(
        callback is pending and registered_in == savepoints
        for registered_in, callback, _ in reversed(connection.run_on_commit)  # ours is usually last
    )


class _PendingSend:
    """The one on-commit callback of a transaction; deliveries enqueued later in it join its list."""

    def __init__(self, deliveries: list[tuple[str, str]]) -> None:
        self.deliveries, self.is_sent = deliveries, False

    def __call__(self) -> None:
        self.is_sent = True  # before sending: deliveries enqueued from here on need a callback of their own
        enqueue(self.deliveries)
