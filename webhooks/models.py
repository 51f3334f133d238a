"""Webhook outbox: events are written in the transaction of the state change they describe."""

from __future__ import annotations

import json

from django.db import models
from django.db.models import Q
from django.utils import timezone

from pacspace.ids import new_id
from webhooks import transport


def new_event_id() -> str:
    return new_id("evt")


class Event(models.Model):
    """An outbox row; `body` is the envelope serialized once and sent byte for byte (webhooks.md §1).

    The body is the only stored form: a JSON copy of it cost the seal worker a parse and two more
    serializations per delta (about a fifth of a seal run) and nothing queries inside it."""

    id = models.CharField(primary_key=True, max_length=24, default=new_event_id, editable=False)
    tenant = models.ForeignKey("records.Tenant", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=16)
    type = models.CharField(max_length=64)
    body = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "environment", "type", "created_at"], name="event_lookup_idx")
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    @property
    def payload(self) -> dict:
        """The envelope as receivers get it, parsed from `body`."""
        return json.loads(bytes(self.body))


def new_endpoint_id() -> str:
    return new_id("whe")


class Endpoint(models.Model):
    """A receiver URL of one tenant and environment; the secret is stored encrypted (webhooks.md §4.1)."""

    class DisabledReason(models.TextChoices):
        MANUAL = "manual"
        GONE = "gone"
        FAILING = "failing"

    id = models.CharField(primary_key=True, max_length=24, default=new_endpoint_id, editable=False)
    tenant = models.ForeignKey("records.Tenant", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=16)
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=200, blank=True)
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=16, choices=DisabledReason.choices, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    # From the latest attempt: a slow endpoint gets one delivery in flight at a time (services/deliveries.py).
    is_slow = models.BooleanField(default=False)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    success_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    # Deleted endpoints stay as rows so their deliveries keep an endpoint to point at.
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.id})"


def new_delivery_id() -> str:
    return new_id("dlv")


class Delivery(models.Model):
    """One event for one endpoint (webhooks.md §5). Claimed by a worker through a lease, never by a lock
    held across the HTTP call."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        DELIVERED = "DELIVERED"
        FAILED = "FAILED"

    id = models.CharField(primary_key=True, max_length=24, default=new_delivery_id, editable=False)
    # Every index costs each status change; the composite indexes below already lead with these columns.
    tenant = models.ForeignKey("records.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    environment = models.CharField(max_length=16)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    # Attempt numbers are taken at claim time, so a send whose worker died keeps its number.
    attempt_count = models.PositiveIntegerField(default=0)
    scheduled_attempts = models.PositiveIntegerField(default=0)
    # False after a manual retry of a finished delivery: one attempt, then DELIVERED or FAILED.
    is_scheduled = models.BooleanField(default=True)
    manual_requested = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When a queue message was last sent for it; dispatch_due re-sends only after the message could be lost.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=32, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="PENDING"), name="delivery_due_idx"),
            models.Index(fields=["tenant", "environment", "created_at"], name="delivery_log_idx"),
            models.Index(fields=["endpoint", "status"], name="delivery_endpoint_idx"),
            models.Index(fields=["created_at"], name="delivery_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class Attempt(models.Model):
    """One HTTP attempt of a delivery, as logged (webhooks.md §5.3)."""

    class AddressCheck(models.TextChoices):
        ALLOWED = transport.CHECK_ALLOWED
        REFUSED = transport.CHECK_REFUSED
        SKIPPED = transport.CHECK_SKIPPED  # WEBHOOKS_ALLOW_PRIVATE_TARGETS is on
        UNRESOLVED = transport.CHECK_UNRESOLVED  # nothing to check: the name did not resolve

    # Indexed by the (delivery, number) unique constraint.
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts", db_index=False)
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    url = models.CharField(max_length=2048)
    address_check = models.CharField(max_length=16, choices=AddressCheck.choices)
    addresses = models.JSONField(default=list)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=32, blank=True)
    response_body = models.TextField(blank=True)
    is_manual = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
