"""The transactional outbox (webhooks.md §5.1): an event and its deliveries commit with the state change."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from pacspace import jsonout
from pacspace.rows import Inserter
from records.proofs import format_timestamp
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services.dispatch import enqueue_on_commit

ENDPOINT_DISABLED = "ENDPOINT_DISABLED"
EVENT_INSERT = Inserter(Event)  # sealing writes an event per delta: COPY on PostgreSQL (pacspace.rows)


def event_record(*, tenant_id: str, environment: str, event_type: str, data: dict[str, Any]) -> Event:
    """One outbox event plus one delivery per endpoint; all of it commits or rolls back with the caller."""
    (event,) = events_record(tenant_id=tenant_id, environment=environment, events=[(event_type, data)])
    return event


def events_record(*, tenant_id: str, environment: str, events: list[tuple[str, dict[str, Any]]]) -> list[Event]:
    """Many events of one tenant and environment in one go (sealing writes hundreds per run): one
    endpoint query and two bulk inserts instead of a query and inserts per event."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record must run inside the transaction of the state change")
    rows = [_event_row(tenant_id=tenant_id, environment=environment, event_type=t, data=d) for t, d in events]
    EVENT_INSERT.write(rows)
    endpoints = list(Endpoint.objects.filter(tenant_id=tenant_id, environment=environment, deleted_at__isnull=True))
    deliveries = Delivery.objects.bulk_create(
        [_delivery_for(event, endpoint) for event in rows for endpoint in endpoints]
    )
    enqueue_on_commit([(d.endpoint_id, d.pk) for d in deliveries if d.status == Delivery.Status.PENDING])
    return rows


def event_write(*, tenant_id: str, environment: str, event_type: str, data: dict[str, Any]) -> Event:
    """The event row alone; its body is serialized here, once, and every attempt sends these bytes."""
    event = _event_row(tenant_id=tenant_id, environment=environment, event_type=event_type, data=data)
    event.save(force_insert=True)
    return event


def _event_row(*, tenant_id: str, environment: str, event_type: str, data: dict[str, Any]) -> Event:
    created = timezone.now()
    event = Event(tenant_id=tenant_id, environment=environment, type=event_type, created_at=created)
    stamp = format_timestamp(created)
    envelope = {
        "id": event.id,
        "event": event_type,
        "tenantId": tenant_id,
        "environment": environment,
        "createdAt": stamp,
        "timestamp": stamp,
        "data": data,
    }
    event.body = jsonout.dumps(envelope)
    return event


def _delivery_for(event: Event, endpoint: Endpoint) -> Delivery:
    delivery = Delivery(
        tenant_id=event.tenant_id,
        environment=event.environment,
        event=event,
        endpoint=endpoint,
        created_at=event.created_at,
    )
    if endpoint.is_enabled:
        delivery.status = Delivery.Status.PENDING
        delivery.next_attempt_at = event.created_at
        delivery.enqueued_at = event.created_at  # the on-commit message is its first queue message
    else:
        # Kept so the log shows the event was not sent; a manual retry after re-enabling sends it.
        delivery.status = Delivery.Status.FAILED
        delivery.last_error = ENDPOINT_DISABLED
    return delivery
