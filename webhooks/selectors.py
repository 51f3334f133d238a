"""Reads for the webhook API. Callers pass querysets already scoped to one tenant and environment."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from webhooks.models import Attempt, Delivery


def deliveries_with_attempts(deliveries: QuerySet[Delivery], *, detail: bool = False) -> QuerySet[Delivery]:
    """Deliveries with their event, endpoint and attempt log in three queries; bodies only for detail."""
    attempts = Attempt.objects.order_by("number")
    deliveries = deliveries.select_related("event", "endpoint")
    if not detail:
        attempts = attempts.defer("response_body")
        deliveries = deliveries.defer("event__body")
    return deliveries.prefetch_related(Prefetch("attempts", queryset=attempts))


def delivery_log(
    deliveries: QuerySet[Delivery], *, status: str | None, event_type: str | None, endpoint_id: str | None
) -> QuerySet[Delivery]:
    """The delivery log of webhooks.md §6, newest first."""
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    if endpoint_id:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    return deliveries_with_attempts(deliveries).order_by("-created_at", "-pk")
