"""Webhook outbox: events are written in the transaction of the state change they describe."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from pacspace.ids import new_id


def new_event_id() -> str:
    return new_id("evt")


class Event(models.Model):
    """An outbox row; `body` is the envelope serialized once and sent byte for byte (webhooks.md §1)."""

    id = models.CharField(primary_key=True, max_length=24, default=new_event_id, editable=False)
    tenant = models.ForeignKey("records.Tenant", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=16)
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    body = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "environment", "type", "created_at"], name="event_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


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
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.id})"
