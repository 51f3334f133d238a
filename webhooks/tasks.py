"""Celery interface of the `webhooks` queue (operations.md §5): each task calls one service.

Tasks are idempotent: `deliver` re-claims under a lease and does nothing when the delivery is already
sent, not due or held by another worker, so duplicate and late queue messages are harmless.
"""

from __future__ import annotations

from celery import shared_task

from webhooks.services import deliveries_dispatch_due, deliveries_prune, delivery_attempt

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


# The time limits sit above the 15-s attempt timeout plus two short transactions, below the 60-s lease.
@shared_task(name="webhooks.tasks.deliver", soft_time_limit=40, time_limit=50, **TASK_OPTIONS)
def deliver(delivery_id: str) -> None:
    delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.tasks.dispatch_due", soft_time_limit=30, time_limit=40, **TASK_OPTIONS)
def dispatch_due() -> int:
    return len(deliveries_dispatch_due())


@shared_task(name="webhooks.tasks.prune_deliveries", soft_time_limit=600, time_limit=660, **TASK_OPTIONS)
def prune_deliveries() -> int:
    return deliveries_prune()
