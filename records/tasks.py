"""Celery tasks: thin interfaces over services. Idempotent: they re-read state under locks."""

from __future__ import annotations

import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from records.models import Delta, DeltaStatus, IdempotencyKey
from records.services.sealing import seal_claim, seal_run

SEAL_TASK_BUDGET_SECONDS = 20


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=60)
def seal_log(tenant_id: str, environment: str) -> int:
    """Seal batches of one log until it is idle or the time budget is spent; then re-enqueue."""
    deadline = time.monotonic() + SEAL_TASK_BUDGET_SECONDS
    processed = 0
    while True:
        claimed = seal_claim(tenant_id=tenant_id, environment=environment)
        result = seal_run(tenant_id=tenant_id, environment=environment)
        processed += len(result.verified) + len(result.failed)
        if claimed == 0:
            return processed
        if time.monotonic() > deadline:
            seal_log.delay(tenant_id, environment)
            return processed


@shared_task(acks_late=True, reject_on_worker_lost=True)
def seal_pending() -> int:
    """Beat: enqueue a seal for every log that has QUEUED or PROCESSING deltas or QUEUED checkpoints."""
    from records.models import Checkpoint

    logs = set(
        Delta.objects.filter(status__in=[DeltaStatus.QUEUED, DeltaStatus.PROCESSING])
        .values_list("tenant_id", "environment")
        .distinct()
    )
    logs |= set(
        Checkpoint.objects.filter(status=Checkpoint.Status.QUEUED).values_list("tenant_id", "environment").distinct()
    )
    for tenant_id, environment in sorted(logs):
        seal_log.delay(tenant_id, environment)
    return len(logs)


@shared_task(acks_late=True)
def prune_idempotency_keys() -> int:
    """Beat: drop completed keys older than IDEMPOTENCY_KEY_TTL_HOURS (a pruned key counts as new)."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(is_completed=True, completed_at__lt=cutoff).delete()
    return deleted
