"""Webhook endpoints (api.md §6): create, update, delete, rotate the secret, send a test."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pacspace.crypto import encrypt
from pacspace.errors import validation_error
from records.models import Tenant
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.services.claims import LEASE, TEST_EVENT, claim_for
from webhooks.services.deliveries import endpoint_disable, send_and_record
from webhooks.services.outbox import event_write
from webhooks.signing import generate_secret
from webhooks.targets import TargetNotAllowed, validate_endpoint_url

MAX_ENDPOINTS_PER_ENVIRONMENT = 10
SECRET_OVERLAP = timedelta(hours=24)
MAX_DESCRIPTION = 200
UNSET: Any = object()  # "not sent" in a partial update, as opposed to any value that was sent
MANUAL = Endpoint.DisabledReason.MANUAL


def endpoint_create(
    *, tenant: Tenant, environment: str, url: Any, description: Any = "", enabled: Any = True
) -> tuple[Endpoint, str]:
    """A new endpoint and its `whsec_` secret, which is returned once and stored only encrypted."""
    url, description, enabled = (
        endpoint_url_clean(url),
        _clean_description(description),
        _clean_enabled(enabled),
    )
    with transaction.atomic():
        # Lock the tenant row so two concurrent creates cannot both pass the count check.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        live = Endpoint.objects.filter(tenant=tenant, environment=environment, deleted_at__isnull=True)
        if live.count() >= MAX_ENDPOINTS_PER_ENVIRONMENT:
            raise validation_error({"url": ["at most 10 endpoints per tenant and environment"]})
        secret = generate_secret()
        endpoint = Endpoint.objects.create(
            tenant=tenant,
            environment=environment,
            url=url,
            description=description,
            is_enabled=enabled,
            disabled_reason="" if enabled else MANUAL,
            disabled_at=None if enabled else timezone.now(),
            secret_encrypted=encrypt(secret),
        )
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: Endpoint,
    url: Any = UNSET,
    description: Any = UNSET,
    enabled: Any = UNSET,
    now: datetime | None = None,
) -> Endpoint:
    """Enabling clears the disabled reason and the failure streak; disabling fails pending deliveries."""
    fields = {}
    if url is not UNSET:
        fields["url"] = endpoint_url_clean(url)
    if description is not UNSET:
        fields["description"] = _clean_description(description)
    enabled = UNSET if enabled is UNSET else _clean_enabled(enabled)
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        if enabled is True:
            locked.is_enabled, locked.disabled_reason, locked.disabled_at, locked.failing_since = (
                True,
                "",
                None,
                None,
            )
        locked.save()
        if enabled is False:
            endpoint_disable(endpoint=locked, reason=MANUAL, now=now or timezone.now())
    return locked


def endpoint_delete(*, endpoint: Endpoint, now: datetime | None = None) -> None:
    """A deleted endpoint leaves the API and receives nothing more; its delivery log stays."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint_disable(endpoint=locked, reason=MANUAL, now=now)
        Endpoint.objects.filter(pk=locked.pk).update(deleted_at=now)


def endpoint_rotate_secret(*, endpoint: Endpoint, now: datetime | None = None) -> tuple[Endpoint, str]:
    """A new current secret; the one it replaces keeps signing for 24 h, any older one stops (§4.3)."""
    now = now or timezone.now()
    secret = generate_secret()
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = now + SECRET_OVERLAP
        locked.secret_encrypted = encrypt(secret)
        locked.secret_rotated_at = now
        locked.save()
    return locked, secret


def endpoint_test(*, endpoint: Endpoint, now: datetime | None = None) -> Attempt:
    """One `webhook.test` event to this endpoint only, sent now, enabled or not; its streak is left as is."""
    now = now or timezone.now()
    with transaction.atomic():
        event = event_write(
            tenant_id=endpoint.tenant_id,
            environment=endpoint.environment,
            event_type=TEST_EVENT,
            data={"endpointId": endpoint.pk, "message": "test delivery"},
        )
        # Created already leased to this request, so no worker picks it up while it is being sent.
        delivery = Delivery.objects.create(
            tenant_id=endpoint.tenant_id,
            environment=endpoint.environment,
            event=event,
            endpoint=endpoint,
            status=Delivery.Status.PENDING,
            is_scheduled=False,
            manual_requested=True,
            attempt_count=1,
            next_attempt_at=now,
            lease_expires_at=now + LEASE,
            enqueued_at=now,
            created_at=event.created_at,
        )
        claim = claim_for(delivery, endpoint, event, now)
    return send_and_record(claim)


def endpoint_url_clean(value: Any) -> str:
    """The URL rules of create and update (webhooks.md §5.6); no DNS is consulted here."""
    if value is None:
        raise validation_error({"url": ["is required"]})
    if not isinstance(value, str):
        raise validation_error({"url": ["must be a string"]})
    try:
        return validate_endpoint_url(value, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS)
    except TargetNotAllowed as exc:
        raise validation_error({"url": [str(exc)]}) from exc


def _clean_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise validation_error({"description": [f"must be a string of at most {MAX_DESCRIPTION} characters"]})
    return value


def _clean_enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise validation_error({"enabled": ["must be a boolean"]})
    return value
