"""Queue messages for deliveries. The database decides what is due; a message only says "look now"."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.db import transaction


def is_eager() -> bool:
    """Embedded mode: tasks run in-process at enqueue time, so nothing may be enqueued for later."""
    from webhooks.tasks import deliver

    return bool(deliver.app.conf.task_always_eager)


def enqueue(delivery_ids: Iterable[str], *, countdown: float | None = None) -> None:
    from webhooks.tasks import deliver

    if is_eager():  # no broker to talk to: each delivery runs here and now
        for delivery_id in delivery_ids:
            deliver.apply_async((delivery_id,))
        return
    # One producer (and broker connection) for the whole batch: a transaction may write thousands.
    with deliver.app.producer_or_acquire() as producer:
        for delivery_id in delivery_ids:
            deliver.apply_async((delivery_id,), countdown=countdown, producer=producer)


def enqueue_on_commit(delivery_ids: list[str], *, countdown: float | None = None) -> None:
    """Send after commit; `robust` because the row is committed by then and `dispatch_due` recovers a
    message the broker did not take, so a broker hiccup must not fail the request that wrote it."""
    if delivery_ids:
        transaction.on_commit(partial(enqueue, delivery_ids, countdown=countdown), robust=True)
