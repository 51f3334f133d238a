"""Claims (webhooks.md §5.2): a delivery is sent only by the worker holding its current lease.

The common case, due deliveries of an enabled endpoint that is not slow, is one statement for a whole
batch (fastpath.py); the rest goes one delivery at a time with row locks: a disabled endpoint's
delivery fails unsent, a slow endpoint gets one delivery in flight while the others are parked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from pacspace.crypto import decrypt
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import fastpath
from webhooks.services.outbox import ENDPOINT_DISABLED

LEASE = timedelta(seconds=60)
TEST_EVENT = "webhook.test"
PENDING, FAILED = Delivery.Status.PENDING, Delivery.Status.FAILED


@dataclass(frozen=True)
class Claim:
    """Everything one attempt needs, read while the lease was taken."""

    delivery_id: str
    endpoint_id: str
    number: int
    lease: datetime
    at: datetime
    url: str
    body: bytes
    event_id: str
    event_type: str
    secrets: tuple[str, ...]
    is_manual: bool
    failing_since: datetime | None = None  # the endpoint's, when claimed

    @property
    def affects_endpoint(self) -> bool:
        # Test sends leave the endpoint's streak and counters alone (api.md §6).
        return self.event_type != TEST_EVENT


def signing_secrets(endpoint: Endpoint, now: datetime) -> tuple[str, ...]:
    """Current secret first, then the previous one while its overlap lasts (webhooks.md §4.3)."""
    secrets = [decrypt(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_expires_at
        and (endpoint.previous_secret_expires_at > now)
    ):
        secrets.append(decrypt(endpoint.previous_secret_encrypted))
    return tuple(secrets)


def claim_for(
    delivery: Delivery,
    endpoint: Endpoint,
    event: Event,
    now: datetime,
    secrets: tuple[str, ...] | None = None,
) -> Claim:
    """The claim for a delivery whose lease (`lease_expires_at`) and attempt number are already taken."""
    return Claim(
        delivery_id=delivery.pk,
        endpoint_id=endpoint.pk,
        number=delivery.attempt_count,
        lease=delivery.lease_expires_at,
        at=now,
        url=endpoint.url,
        body=bytes(event.body),
        event_id=event.pk,
        event_type=event.type,
        secrets=secrets or signing_secrets(endpoint, now),
        is_manual=delivery.manual_requested,
        failing_since=endpoint.failing_since,
    )


def lease_free(now: datetime) -> Q:
    """No worker holds the delivery: never leased, or its holder's lease ran out (it died mid-send)."""
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)


def claim_one(delivery_id: str, now: datetime) -> Claim | None:
    """The claim of one delivery, or None when it is not this caller's to send."""
    claims = claim_many([delivery_id], now)
    return claims[0] if claims else None


def claim_many(delivery_ids: list[str], now: datetime) -> list[Claim]:
    """Claims in the order of `delivery_ids`: the common case in one statement, the rest one by one."""
    lease = now + LEASE
    secrets: dict[tuple, tuple[str, ...]] = {}  # a batch is one endpoint: decrypt its secrets once
    claims = {}
    for row in fastpath.claim(delivery_ids=delivery_ids, now=now, lease=lease):
        # Unsaved instances carrying the row, so both claim paths build the claim the same way.
        delivery = Delivery(
            id=row["delivery_id"],
            attempt_count=row["attempt_count"],
            manual_requested=row["manual_requested"],
            lease_expires_at=lease,
        )
        endpoint = Endpoint(
            id=row["endpoint_id"],
            url=row["url"],
            secret_encrypted=row["secret_encrypted"],
            previous_secret_encrypted=row["previous_secret_encrypted"],
            previous_secret_expires_at=row["previous_secret_expires_at"],
            failing_since=row["failing_since"],
        )
        key = (row["secret_encrypted"], row["previous_secret_encrypted"], row["previous_secret_expires_at"])
        if key not in secrets:
            secrets[key] = signing_secrets(endpoint, now)
        event = Event(id=row["event_id"], type=row["event_type"], body=row["body"])
        claims[delivery.pk] = claim_for(delivery, endpoint, event, now, secrets[key])
    for delivery_id in delivery_ids:
        if delivery_id not in claims and (claim := _claim_checked(delivery_id, now, lease)):
            claims[delivery_id] = claim
    return [claims[delivery_id] for delivery_id in delivery_ids if delivery_id in claims]


def _claim_checked(delivery_id: str, now: datetime, lease: datetime) -> Claim | None:
    with transaction.atomic():
        if not _slow_endpoint_free(delivery_id, now):
            # Another delivery to this slow endpoint is in flight; its completion sends this one on.
            Delivery.objects.filter(pk=delivery_id, status=PENDING).update(enqueued_at=now)
            return None
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event")
            .filter(lease_free(now), pk=delivery_id, status=PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None  # sent already, not due, or another worker holds it: a duplicate message
        if not delivery.endpoint.is_enabled:
            fail_disabled(Delivery.objects.filter(pk=delivery.pk))
            return None
        delivery.attempt_count += 1
        delivery.lease_expires_at = lease
        delivery.save(update_fields=["attempt_count", "lease_expires_at"])
        return claim_for(delivery, delivery.endpoint, delivery.event, now)


def _slow_endpoint_free(delivery_id: str, now: datetime) -> bool:
    endpoint_id = (
        Delivery.objects.filter(pk=delivery_id, endpoint__is_slow=True)
        .values_list("endpoint_id", flat=True)
        .first()
    )
    if endpoint_id is None:
        return True
    # The endpoint row lock serializes claims for it, so two workers cannot both see it free.
    Endpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    in_flight = Delivery.objects.filter(endpoint_id=endpoint_id, status=PENDING, lease_expires_at__gt=now)
    return not in_flight.exclude(pk=delivery_id).exists()


def fail_disabled(deliveries) -> int:
    """Pending deliveries of a disabled endpoint: failed, and never sent (webhooks.md §5.5)."""
    return deliveries.update(
        status=FAILED, last_error=ENDPOINT_DISABLED, next_attempt_at=None, lease_expires_at=None
    )
