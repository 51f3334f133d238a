"""Outbox writes. Callers invoke `event_record` inside the transaction of their own state change."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pacspace import jsonout
from pacspace.crypto import encrypt
from pacspace.errors import validation_error
from records.proofs import format_timestamp
from webhooks.models import Endpoint, Event
from webhooks.signing import generate_secret
from webhooks.targets import TargetNotAllowed, validate_endpoint_url

MAX_ENDPOINTS_PER_ENVIRONMENT = 10


def event_record(*, tenant_id: str, environment: str, event_type: str, data: dict[str, Any]) -> Event:
    """Write one outbox event; it commits or rolls back with the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record must run inside the transaction of the state change")
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
    # The JSON column keeps a queryable copy; the stored body stays the bytes that are sent.
    event.payload = json.loads(event.body)
    event.save(force_insert=True)
    return event


def endpoint_create(*, tenant, environment: str, url: str, description: str = "", enabled: bool = True):
    """A new endpoint and its `whsec_` secret, which is returned once and stored only encrypted."""
    try:
        validate_endpoint_url(url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS)
    except TargetNotAllowed as exc:
        raise validation_error({"url": [str(exc)]}) from exc
    if len(description) > 200:
        raise validation_error({"description": ["must be at most 200 characters"]})
    with transaction.atomic():
        # Lock the tenant row so two concurrent creates cannot both pass the count check.
        type(tenant).objects.select_for_update().filter(pk=tenant.pk).first()
        if Endpoint.objects.filter(tenant=tenant, environment=environment).count() >= MAX_ENDPOINTS_PER_ENVIRONMENT:
            raise validation_error({"url": ["at most 10 endpoints per tenant and environment"]})
        secret = generate_secret()
        endpoint = Endpoint.objects.create(
            tenant=tenant,
            environment=environment,
            url=url,
            description=description,
            is_enabled=enabled,
            secret_encrypted=encrypt(secret),
        )
    return endpoint, secret
