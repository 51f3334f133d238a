"""Celery tasks: thin interfaces over services. Idempotent: they re-read state under locks."""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from pacspace.ratelimit import redis_client
from records.models import Checkpoint, Delta, DeltaStatus, IdempotencyKey
from records.services.exports import export_render, exports_expire, exports_requeue_stale
from records.services.checkpoints import checkpoint_mark_coverage
from records.services.sealing import seal_batches

SEAL_TASK_BUDGET_SECONDS = 20
PENDING_MARKER_SECONDS = 30


def _pending_key(tenant_id: str, environment: str) -> str:
    return f"seal-pending:{tenant_id}:{environment}"


def seal_soon(tenant_id: str, environment: str) -> None:
    """Enqueue a seal of this log unless one is already waiting (a Redis SET NX marker).

    One emit used to mean one queued task; under load the seal queue grew faster than it drained. The
    marker is cleared when the task starts, so work committed after that start is always picked up by
    a later task; beat's seal_pending covers a lost marker or message.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL:
        seal_log.delay(tenant_id, environment)
        return
    try:
        fresh = redis_client().set(_pending_key(tenant_id, environment), "1", nx=True, ex=PENDING_MARKER_SECONDS)
    except Exception:  # noqa: BLE001 - without the marker we simply enqueue
        fresh = True
    if fresh:
        seal_log.delay(tenant_id, environment)


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=60)
def seal_log(tenant_id: str, environment: str) -> int:
    """Seal batches of one log until it is idle or the time budget is spent; then re-enqueue."""
    if settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER:
        with contextlib.suppress(Exception):
            redis_client().delete(_pending_key(tenant_id, environment))
    processed, idle = seal_batches(
        tenant_id=tenant_id, environment=environment, deadline=time.monotonic() + SEAL_TASK_BUDGET_SECONDS
    )
    if not idle:
        seal_log.delay(tenant_id, environment)
    return processed


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=600)
def mark_checkpoint_coverage(checkpoint_id: str) -> int:
    """Mark a large checkpoint's covered deltas in chunks (records.services.checkpoints)."""
    return checkpoint_mark_coverage(checkpoint_id=checkpoint_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def seal_pending() -> int:
    """Beat: enqueue a seal for every log that has QUEUED or PROCESSING deltas or QUEUED checkpoints."""
    logs = set(
        Delta.objects.filter(status__in=[DeltaStatus.QUEUED, DeltaStatus.PROCESSING])
        .values_list("tenant_id", "environment")
        .distinct()
    )
    logs |= set(
        Checkpoint.objects.filter(status=Checkpoint.Status.QUEUED).values_list("tenant_id", "environment").distinct()
    )
    for tenant_id, environment in sorted(logs):
        seal_soon(tenant_id, environment)
    # A marking message lost with Redis is found again here.
    unmarked = Checkpoint.objects.filter(status=Checkpoint.Status.VERIFIED, coverage_marked=False)
    for checkpoint_id in unmarked.values_list("id", flat=True):
        mark_checkpoint_coverage.delay(checkpoint_id)
    return len(logs)


@shared_task(acks_late=True)
def prune_idempotency_keys() -> int:
    """Beat: drop completed keys older than IDEMPOTENCY_KEY_TTL_HOURS (a pruned key counts as new)."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(is_completed=True, completed_at__lt=cutoff).delete()
    return deleted


# --- Exports (operations.md §5.1: queue `exports`, soft limit 300 s, up to 3 attempts) ---------------
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, soft_time_limit=300, time_limit=330,
             max_retries=2)
def render_export(self, export_id: str) -> None:
    """Render one QUEUED export; the service counts attempts, this only schedules the backoff retry."""
    retry_in = export_render(export_id=export_id)
    while retry_in is not None and self.request.is_eager:
        # Embedded mode runs this right after a request's commit: retry in place, never raise Retry there.
        retry_in = export_render(export_id=export_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def requeue_stale_exports() -> int:
    """Beat (5 min): re-enqueue exports QUEUED > 5 min or RENDERING > 10 min."""
    return exports_requeue_stale()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_exports() -> int:
    """Beat (1 h): delete the files of exports past EXPORT_TTL_HOURS and mark them EXPIRED."""
    return exports_expire()
