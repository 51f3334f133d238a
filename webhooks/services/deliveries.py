"""Delivery attempts (webhooks.md §5.2–5.5): claim under a lease, send outside any transaction, record.

Lock order everywhere: the endpoint row, then delivery rows. Disabling an endpoint fails its pending
deliveries while holding the endpoint row, so taking them in the other order could deadlock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pacspace.crypto import decrypt
from webhooks import metrics, transport
from webhooks.models import Attempt, Delivery, Endpoint, Event
from webhooks.schedule import retry_delay
from webhooks.services import fastpath
from webhooks.services.dispatch import enqueue_on_commit, is_eager
from webhooks.services.outbox import ENDPOINT_DISABLED
from webhooks.signing import signature_headers

LEASE = timedelta(seconds=60)
DISPATCH_INTERVAL = timedelta(seconds=10)  # how often the beat runs dispatch_due
# An endpoint answering this slowly (or timing out) gets one delivery in flight at a time, so a few
# worker processes are never all waiting on it while other endpoints' deliveries queue up.
SLOW_ATTEMPT_MS = 1000
PARKED_RELEASE_BATCH = 500
TEST_EVENT = "webhook.test"
PENDING, DELIVERED, FAILED = Delivery.Status.PENDING, Delivery.Status.DELIVERED, Delivery.Status.FAILED


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

    @property
    def affects_endpoint(self) -> bool:
        # Test sends leave the endpoint's streak and counters alone (api.md §6).
        return self.event_type != TEST_EVENT


def delivery_attempt(*, delivery_id: str, now: datetime | None = None) -> Attempt | None:
    """At most one worker sends a delivery at a time: the one whose lease is current."""
    claim = _claim(delivery_id, now or timezone.now())
    if claim is None:
        return None
    return send_and_record(claim)


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


def claim_for(delivery: Delivery, endpoint: Endpoint, event: Event, now: datetime) -> Claim:
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
        secrets=signing_secrets(endpoint, now),
        is_manual=delivery.manual_requested,
    )


def lease_free(now: datetime) -> Q:
    """No worker holds the delivery: never leased, or its holder's lease ran out (it died mid-send)."""
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)


def _claim(delivery_id: str, now: datetime) -> Claim | None:
    lease = now + LEASE
    row = fastpath.claim(delivery_id=delivery_id, now=now, lease=lease)
    if row is None:
        return _claim_checked(delivery_id, now, lease)
    # Unsaved instances carrying the row, so both claim paths build the claim the same way.
    delivery = Delivery(
        id=delivery_id,
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
    )
    event = Event(id=row["event_id"], type=row["event_type"], body=row["body"])
    return claim_for(delivery, endpoint, event, now)


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
            _fail_disabled(Delivery.objects.filter(pk=delivery.pk))
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


def _send(claim: Claim) -> transport.Outcome:
    headers = signature_headers(
        secrets=claim.secrets,
        event_id=claim.event_id,
        event_type=claim.event_type,
        timestamp=int(time.time()),  # the wall-clock send time, also when a test freezes `now`
        body=claim.body,
        delivery_id=claim.delivery_id,
        attempt=claim.number,
    )
    return transport.post(
        url=claim.url,
        body=claim.body,
        headers=headers,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS,
    )


def send_and_record(claim: Claim) -> Attempt:
    """One attempt for a claim whose lease this caller holds; the outcome is logged whatever it is."""
    outcome = _send(claim)
    metrics.attempt_observe(error=outcome.error, latency_ms=outcome.latency_ms)
    attempt = _attempt_row(claim, outcome)
    if outcome.is_success and not _is_slow(outcome):
        lease, affects = claim.lease, claim.affects_endpoint
        was_slow = fastpath.record_success(
            attempt, endpoint_id=claim.endpoint_id, lease=lease, affects_endpoint=affects
        )
        if was_slow is not None:
            if was_slow:
                with transaction.atomic():
                    _send_on_parked(claim.endpoint_id, claim.at, is_slow=False)
            return attempt
    return _record(claim, outcome, attempt)


def _record(claim: Claim, outcome: transport.Outcome, attempt: Attempt) -> Attempt:
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=claim.endpoint_id)
        delivery = Delivery.objects.select_for_update().get(pk=claim.delivery_id)
        attempt.save(force_insert=True)
        _settle(delivery, claim, outcome)
        was_slow = endpoint.is_slow
        disable_reason = _observe(endpoint, outcome, claim.at) if claim.affects_endpoint else None
        if disable_reason and delivery.status == PENDING:
            delivery.status, delivery.last_error, delivery.next_attempt_at = FAILED, ENDPOINT_DISABLED, None
        delivery.save()
        if disable_reason:
            endpoint_disable(endpoint=endpoint, reason=disable_reason, now=claim.at)
        _schedule_retry(delivery, claim.at)
        if (was_slow or endpoint.is_slow) and endpoint.is_enabled:
            _send_on_parked(endpoint.pk, claim.at, is_slow=endpoint.is_slow)
    return attempt


def _attempt_row(claim: Claim, outcome: transport.Outcome) -> Attempt:
    return Attempt(
        delivery_id=claim.delivery_id,
        number=claim.number,
        at=claim.at,
        url=claim.url,
        address_check=outcome.address_check,
        addresses=list(outcome.addresses),
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
        response_body=outcome.response_body,
        is_manual=claim.is_manual,
    )


def _is_slow(outcome: transport.Outcome) -> bool:
    return outcome.error == transport.TIMEOUT or (outcome.latency_ms or 0) >= SLOW_ATTEMPT_MS


def _settle(delivery: Delivery, claim: Claim, outcome: transport.Outcome) -> None:
    """The delivery's next state after this attempt (webhooks.md §5.4, §5.5)."""
    owned = delivery.status == PENDING and delivery.lease_expires_at == claim.lease
    if not (owned or outcome.is_success):
        return  # failed or re-claimed meanwhile: the attempt is logged, the state is no longer ours to move
    delivery.last_attempt_at = claim.at
    delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
    if owned:
        # The queue message behind this attempt is spent: dispatch_due may send the next one when due.
        delivery.lease_expires_at, delivery.enqueued_at, delivery.manual_requested = None, None, False
        delivery.scheduled_attempts += int(delivery.is_scheduled)
    if outcome.is_success:
        # Also without the lease (say the endpoint was disabled mid-send): the receiver has it now.
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, claim.at, None
        return
    delay = retry_delay(delivery.scheduled_attempts) if delivery.is_scheduled else None
    if delay is None:
        delivery.status, delivery.next_attempt_at = FAILED, None
    else:
        delivery.next_attempt_at = claim.at + delay


def _observe(endpoint: Endpoint, outcome: transport.Outcome, now: datetime) -> str | None:
    """Update the endpoint's counters and streak; return a reason when it must be disabled (§5.5)."""
    changes: dict = {"last_delivery_at": now, "is_slow": _is_slow(outcome)}
    reason = None
    if outcome.is_success:
        changes.update(success_count=endpoint.success_count + 1, failing_since=None)
    else:
        failing_since = endpoint.failing_since or now
        changes.update(failure_count=endpoint.failure_count + 1, failing_since=failing_since)
        if outcome.status_code == 410:
            reason = Endpoint.DisabledReason.GONE
        elif now - failing_since >= timedelta(days=settings.WEBHOOK_AUTO_DISABLE_DAYS):
            reason = Endpoint.DisabledReason.FAILING
    # update() rather than save(): `updatedAt` tracks configuration changes, not traffic.
    Endpoint.objects.filter(pk=endpoint.pk).update(**changes)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    return reason if endpoint.is_enabled else None


def _schedule_retry(delivery: Delivery, now: datetime) -> None:
    """A short wait gets a delayed message; longer ones, and all in embedded mode, are dispatch_due's."""
    if is_eager() or delivery.status != PENDING or delivery.next_attempt_at - now >= DISPATCH_INTERVAL:
        return
    Delivery.objects.filter(pk=delivery.pk).update(enqueued_at=delivery.next_attempt_at)
    enqueue_on_commit([delivery.pk], countdown=(delivery.next_attempt_at - now).total_seconds())


def _send_on_parked(endpoint_id: str, now: datetime, *, is_slow: bool) -> None:
    """Deliveries parked behind a slow endpoint's attempt: the next one goes as that attempt ends, all
    of them once the endpoint answers promptly again. (Embedded mode: dispatch_due picks them up.)"""
    if is_eager():
        return
    waiting = (
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(lease_free(now), endpoint_id=endpoint_id, status=PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[: 1 if is_slow else PARKED_RELEASE_BATCH]
    )
    ids = list(waiting)
    Delivery.objects.filter(pk__in=ids).update(enqueued_at=now)
    enqueue_on_commit(ids)


def endpoint_disable(*, endpoint: Endpoint, reason: str, now: datetime) -> None:
    """Disabled endpoints receive nothing: their pending deliveries fail at once. Caller holds the row."""
    Endpoint.objects.filter(pk=endpoint.pk).update(is_enabled=False, disabled_reason=reason, disabled_at=now)
    endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, now
    metrics.ENDPOINTS_DISABLED.labels(reason=reason).inc()
    _fail_disabled(Delivery.objects.filter(endpoint=endpoint, status=PENDING))


def _fail_disabled(deliveries) -> int:
    return deliveries.update(
        status=FAILED, last_error=ENDPOINT_DISABLED, next_attempt_at=None, lease_expires_at=None
    )
