"""What gets attempted when, besides the first attempt: the dispatch sweep, manual retries, pruning."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pacspace.errors import DomainError, not_found
from pacspace.ids import is_id
from webhooks.models import Delivery, Event
from webhooks.services.claims import LEASE, PENDING, lease_free
from webhooks.services.dispatch import enqueue, enqueue_on_commit

# A queue message older than this may be lost (a worker died holding it); dispatch_due sends another.
REDISPATCH_AFTER = LEASE
DISPATCH_BATCH = 500
PRUNE_BATCH = 1000


def deliveries_dispatch_due(*, now: datetime | None = None, limit: int = DISPATCH_BATCH) -> list[str]:
    """Every due, unleased PENDING delivery whose last queue message may be lost gets a new one."""
    now = now or timezone.now()
    with transaction.atomic():
        due = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(lease_free(now), status=PENDING, next_attempt_at__lte=now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=now - REDISPATCH_AFTER))
            .order_by("next_attempt_at")
            .values_list("endpoint_id", "pk")[:limit]
        )
        pairs = list(due)
        ids = [delivery_id for _, delivery_id in pairs]
        Delivery.objects.filter(pk__in=ids).update(enqueued_at=now)
    enqueue(pairs)
    return ids


def deliveries_prune(*, now: datetime | None = None) -> int:
    """Finished deliveries and their events go after WEBHOOK_LOG_RETENTION_DAYS; pending work never does."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    pruned = 0
    finished = Delivery.objects.filter(created_at__lt=cutoff).exclude(status=PENDING)
    while ids := list(finished.values_list("pk", flat=True)[:PRUNE_BATCH]):
        pruned += Delivery.objects.filter(pk__in=ids).delete()[1].get(Delivery._meta.label, 0)
    Event.objects.filter(created_at__lt=cutoff, deliveries__isnull=True).delete()
    return pruned


def delivery_retry(
    *, tenant_id: str, environment: str, target_id: str, now: datetime | None = None
) -> tuple[str, list[str]]:
    """Manual retry (webhooks.md §5.5) of one delivery or of every delivery of one event; refused only
    when none of their endpoints is enabled. Returns the event id and the targeted delivery ids."""
    now = now or timezone.now()
    with transaction.atomic():
        deliveries = _retry_targets(tenant_id, environment, target_id)
        event_id = (
            deliveries[0].event_id if deliveries else _event_in_scope(tenant_id, environment, target_id)
        )
        retriable = [d for d in deliveries if d.endpoint.is_enabled]
        if deliveries and not retriable:
            raise DomainError("ENDPOINT_DISABLED", "Every targeted delivery's endpoint is disabled")
        for delivery in retriable:
            _request_manual_attempt(delivery, now)
        enqueue_on_commit([(d.endpoint_id, d.pk) for d in retriable])
    return event_id, [d.pk for d in deliveries]


def _retry_targets(tenant_id: str, environment: str, target_id: str) -> list[Delivery]:
    if not (is_id(target_id, "evt") or is_id(target_id, "dlv")):
        raise not_found()
    field = "event_id" if target_id.startswith("evt_") else "pk"
    return list(
        Delivery.objects.select_for_update(of=("self",))
        .select_related("endpoint")
        .filter(tenant_id=tenant_id, environment=environment, **{field: target_id})
        .order_by("pk")
    )


def _event_in_scope(tenant_id: str, environment: str, target_id: str) -> str:
    """An event without deliveries (no endpoints then) is known but has nothing to retry."""
    if Event.objects.filter(pk=target_id, tenant_id=tenant_id, environment=environment).exists():
        return target_id
    raise not_found()


def _request_manual_attempt(delivery: Delivery, now: datetime) -> None:
    if delivery.status != PENDING:
        # A finished delivery gets exactly one more attempt; a pending one keeps its schedule.
        delivery.status, delivery.is_scheduled = PENDING, False
    delivery.manual_requested = True
    delivery.next_attempt_at = now
    delivery.enqueued_at = now
    delivery.save(
        update_fields=["status", "is_scheduled", "manual_requested", "next_attempt_at", "enqueued_at"]
    )
