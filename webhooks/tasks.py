"""Celery interface of the `webhooks` queue (operations.md §5): each task calls one service.

Tasks are idempotent: `deliver_batch` re-claims under a lease and skips deliveries that are already
sent, not due or held by another worker, so duplicate and late queue messages are harmless.
"""

from __future__ import annotations

from celery import shared_task

from webhooks.services import deliveries_attempt, deliveries_dispatch_due, deliveries_prune

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


# The time limits sit above a batch's send budget plus one 15-s attempt timeout and its short
# transactions, and below the 60-s lease (services/deliveries.py).
@shared_task(name="webhooks.tasks.deliver_batch", soft_time_limit=40, time_limit=50, **TASK_OPTIONS)
def deliver_batch(delivery_ids: list[str]) -> None:
    deliveries_attempt(delivery_ids=delivery_ids)


# One delivery per message, as enqueued before batches existed; kept so such messages still work.
@shared_task(name="webhooks.tasks.deliver", soft_time_limit=40, time_limit=50, **TASK_OPTIONS)
def deliver(delivery_id: str) -> None:
    deliveries_attempt(delivery_ids=[delivery_id])


@shared_task(name="webhooks.tasks.dispatch_due", soft_time_limit=30, time_limit=40, **TASK_OPTIONS)
def dispatch_due() -> int:
    return len(deliveries_dispatch_due())


@shared_task(name="webhooks.tasks.prune_deliveries", soft_time_limit=600, time_limit=660, **TASK_OPTIONS)
def prune_deliveries() -> int:
    return deliveries_prune()
