"""Delivery attempts (webhooks.md §5.2–5.5): claim under a lease (claims.py), send outside any
transaction, record.

Lock order everywhere: the endpoint row, then delivery rows. Disabling an endpoint fails its pending
deliveries while holding the endpoint row, so taking them in the other order could deadlock.

Deliveries come in batches of one endpoint (services/dispatch.py): one claim statement leases the
batch, the worker sends them one after another, and one transaction records them. A batch stops at an
answer that changes what may be sent next: a slow one (the rest waits behind it, one in flight), a 410
or a failure that ends five failing days (the endpoint is disabled); the rest is handed back unsent,
its attempt numbers returned. A send budget keeps the last send of a batch well inside the lease.
A worker that dies mid-batch leaves its unsent claims leased; like a send cut off by the death, they
are sent again once the lease runs out (dispatch_due), under new attempt numbers.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webhooks import metrics, transport
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.schedule import retry_delay
from webhooks.services import fastpath
from webhooks.services.claims import PENDING, Claim, claim_many, fail_disabled, lease_free
from webhooks.services.dispatch import enqueue_on_commit, is_eager
from webhooks.services.outbox import ENDPOINT_DISABLED
from webhooks.signing import signature_headers

# No new send of a batch starts after this; with the 15-s attempt timeout the batch ends inside 30 s.
BATCH_SEND_SECONDS = 10.0
DISPATCH_INTERVAL = timedelta(seconds=10)  # how often the beat runs dispatch_due
# An endpoint answering this slowly (or timing out) gets one delivery in flight at a time, so a few
# worker processes are never all waiting on it while other endpoints' deliveries queue up.
SLOW_ATTEMPT_MS = 1000
PARKED_RELEASE_BATCH = 500
DELIVERED, FAILED = Delivery.Status.DELIVERED, Delivery.Status.FAILED


def delivery_attempt(*, delivery_id: str, now: datetime | None = None) -> Attempt | None:
    """At most one worker sends a delivery at a time: the one whose lease is current."""
    attempts = deliveries_attempt(delivery_ids=[delivery_id], now=now)
    return attempts[0] if attempts else None


def deliveries_attempt(*, delivery_ids: list[str], now: datetime | None = None) -> list[Attempt]:
    """Each of the deliveries that is due and not leased is sent once, by this worker alone, endpoint
    after endpoint; returns the attempts made (fewer than the ids when some were not ours to send)."""
    claims = claim_many(list(dict.fromkeys(delivery_ids)), now or timezone.now())
    by_endpoint: dict[str, list[Claim]] = {}
    for claim in claims:
        by_endpoint.setdefault(claim.endpoint_id, []).append(claim)
    return [attempt for batch in by_endpoint.values() for attempt in _send_batch(batch)]


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
    (attempt,) = _send_batch([claim])
    return attempt


def _send_batch(claims: list[Claim]) -> list[Attempt]:
    """Claims of one endpoint, sent in order until an answer stops the batch or the budget is spent."""
    started, failing_since, stop = time.monotonic(), claims[0].failing_since, False
    sent: list[tuple[Claim, transport.Outcome]] = []
    for claim in claims:
        if stop or (sent and time.monotonic() - started > BATCH_SEND_SECONDS):
            break
        claim = replace(claim, at=timezone.now())  # noqa: PLW2901 - the attempt's time is its send time
        outcome = _send(claim)
        metrics.attempt_observe(error=outcome.error, latency_ms=outcome.latency_ms)
        sent.append((claim, outcome))
        if claim.affects_endpoint:  # the streak as _observe will move it
            failing_since = None if outcome.is_success else (failing_since or claim.at)
        stop = _is_slow(outcome) or outcome.status_code == 410 or _failed_too_long(failing_since, claim.at)
    # What stopped the batch looks after the rest (parks it or fails it with the endpoint), except after
    # a spent budget or a test send, which moves nothing on the endpoint: then it is queued again.
    requeue = not (stop and sent[-1][0].affects_endpoint)
    return _record_batch(sent, claims[len(sent) :], requeue=requeue)


def _failed_too_long(failing_since: datetime | None, now: datetime) -> bool:
    """The five-day rule of webhooks.md §5.5 (_observe disables by it; a batch stops at it)."""
    limit = timedelta(days=settings.WEBHOOK_AUTO_DISABLE_DAYS)
    return failing_since is not None and now - failing_since >= limit


def _record_batch(
    sent: list[tuple[Claim, transport.Outcome]], unsent: list[Claim], *, requeue: bool
) -> list[Attempt]:
    """Log every attempt in send order and hand the unsent claims back, in one transaction that takes the
    endpoint row first. Runs of prompt 2xx answers are written in bulk, anything else the ORM way. The
    hand-back comes first, so that a 410 also fails the handed-back deliveries and a slow answer sends
    the next parked one."""
    attempts = [_attempt_row(claim, outcome) for claim, outcome in sent]
    endpoint_id = sent[0][0].endpoint_id
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().filter(pk=endpoint_id)
        was_slow = endpoint.values_list("is_slow", flat=True)[0]
        _hand_back(unsent, requeue=requeue, now=sent[-1][0].at)
        run: list[tuple[Claim, transport.Outcome, Attempt]] = []
        for (claim, outcome), attempt in zip(sent, attempts, strict=True):
            if _is_prompt_success(outcome):
                run.append((claim, outcome, attempt))
                continue
            _record_prompt(run, endpoint_id=endpoint_id, was_slow=was_slow)
            run, was_slow = [], False  # a fast failure leaves the endpoint not slow
            _record(claim, outcome, attempt)
        _record_prompt(run, endpoint_id=endpoint_id, was_slow=was_slow)
    return attempts


def _record_prompt(
    run: list[tuple[Claim, transport.Outcome, Attempt]], *, endpoint_id: str, was_slow: bool
) -> None:
    """Prompt 2xx attempts: those whose lease held become DELIVERED and are logged in one statement, the
    endpoint's counters move in one more; the others (lease taken over, or not PostgreSQL) go one by
    one. The caller holds the endpoint row."""
    if not run:
        return
    attempts = [attempt for _, _, attempt in run]
    if fastpath.record_delivered(attempts, leases=[claim.lease for claim, _, _ in run]):
        counted = sum(1 for claim, _, attempt in run if attempt.pk and claim.affects_endpoint)
        at = run[-1][0].at
        if counted:
            Endpoint.objects.filter(pk=endpoint_id).update(
                success_count=F("success_count") + counted,
                last_delivery_at=at,
                failing_since=None,
                is_slow=False,
            )
        if counted and was_slow:
            _send_on_parked(endpoint_id, at, is_slow=False)
    for claim, outcome, attempt in run:
        if attempt.pk is None:
            _record(claim, outcome, attempt)


def _hand_back(claims: list[Claim], *, requeue: bool, now: datetime) -> None:
    """Unsent claims of a batch: nothing went out, so each gives its lease and attempt number back. After
    a stopping answer they wait behind it (parked, or failed with the endpoint); otherwise (a spent
    budget, a test send) they are queued again at once (in embedded mode at dispatch_due's next run)."""
    if not claims:
        return
    owned = Delivery.objects.filter(
        pk__in=[claim.delivery_id for claim in claims], status=PENDING, lease_expires_at=claims[0].lease
    )
    requeue_now = requeue and not is_eager()
    changes = {"enqueued_at": now} if requeue_now else {"enqueued_at": None} if requeue else {}
    owned.update(lease_expires_at=None, attempt_count=F("attempt_count") - 1, **changes)
    if requeue_now:
        enqueue_on_commit([(claim.endpoint_id, claim.delivery_id) for claim in claims])


def _record(claim: Claim, outcome: transport.Outcome, attempt: Attempt) -> Attempt:
    # Part of the batch's transaction (_record_batch): no savepoint of its own, so that the messages it
    # sends on commit join the batch's (services/dispatch.py).
    with transaction.atomic(savepoint=False):
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


def _is_prompt_success(outcome: transport.Outcome) -> bool:
    return outcome.is_success and not _is_slow(outcome)


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
        elif _failed_too_long(failing_since, now):
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
    enqueue_on_commit(
        [(delivery.endpoint_id, delivery.pk)], countdown=(delivery.next_attempt_at - now).total_seconds()
    )


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
    enqueue_on_commit([(endpoint_id, delivery_id) for delivery_id in ids])


def endpoint_disable(*, endpoint: Endpoint, reason: str, now: datetime) -> None:
    """Disabled endpoints receive nothing: their pending deliveries fail at once. Caller holds the row."""
    Endpoint.objects.filter(pk=endpoint.pk).update(is_enabled=False, disabled_reason=reason, disabled_at=now)
    endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, now
    metrics.ENDPOINTS_DISABLED.labels(reason=reason).inc()
    fail_disabled(Delivery.objects.filter(endpoint=endpoint, status=PENDING))
