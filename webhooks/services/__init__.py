"""Webhook services. Callers elsewhere use `event_record(...)` inside the transaction of their own state
change; everything else here serves the webhook API, admin, commands and tasks."""

from webhooks.services.deliveries import deliveries_attempt, delivery_attempt
from webhooks.services.endpoints import (
    MAX_ENDPOINTS_PER_ENVIRONMENT,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_test,
    endpoint_update,
    endpoint_url_clean,
)
from webhooks.services.outbox import event_record, events_record
from webhooks.services.scheduling import deliveries_dispatch_due, deliveries_prune, delivery_retry

__all__ = [
    "MAX_ENDPOINTS_PER_ENVIRONMENT",
    "deliveries_attempt",
    "deliveries_dispatch_due",
    "deliveries_prune",
    "delivery_attempt",
    "delivery_retry",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_rotate_secret",
    "endpoint_test",
    "endpoint_update",
    "endpoint_url_clean",
    "event_record",
    "events_record",
]
