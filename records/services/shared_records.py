"""Shared Records (api.md §5): the customer's link, its access code, policy, step-up and access log."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from pacspace.crypto import decrypt, encrypt
from pacspace.errors import DomainError, validation_error
from records.models import AccessLogEntry, CustomerRecord, SharedRecord, Tenant
from records.proofs import format_timestamp
from webhooks.services import event_record

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
COOKIE_SALT = "pacspace.shared-record.step-up"
Action = AccessLogEntry.Action


@dataclass(frozen=True)
class Visitor:
    """Who looked: a viewer hash (never the address) and a coarse user-agent family."""

    viewer_hash: str
    user_agent_family: str = ""

    def actor(self) -> dict[str, str]:
        return {"type": "shared_record_visitor", "viewerHash": self.viewer_hash[:16]}


def viewer_hash(record_id: str, client_ip: str) -> str:
    digest = hmac.new(settings.IP_HASH_SALT.encode(), f"{record_id}|{client_ip}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def new_handle() -> str:
    return "cus_" + base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()[:20]


def new_access_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(record_id: str, code: str) -> str:
    return hmac.new(settings.ACCESS_CODE_HMAC_KEY, f"{record_id}:{code}".encode(), hashlib.sha256).hexdigest()


def normalize_code(value: str) -> str:
    return value.upper().replace(" ", "").replace("-", "")


def _set_code(shared: SharedRecord, code: str) -> None:
    shared.access_code_hash = code_hash(shared.customer_record_id, code)
    shared.access_code_encrypted = encrypt(code)


def shared_record_create(record: CustomerRecord) -> SharedRecord:
    """A new active link with a fresh handle and access code for a record that has none."""
    shared = SharedRecord(customer_record=record, handle=new_handle())
    _set_code(shared, new_access_code())
    shared.save(force_insert=True)
    return shared


def shared_record_of(record: CustomerRecord) -> SharedRecord:
    """The record's Shared Record, created on first use."""
    existing = SharedRecord.objects.filter(customer_record=record).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        CustomerRecord.objects.select_for_update().filter(pk=record.pk).first()
        return SharedRecord.objects.filter(customer_record=record).first() or shared_record_create(record)


def effective_policy(shared: SharedRecord, tenant: Tenant | None = None) -> str:
    tenant = tenant or shared.customer_record.tenant
    return shared.policy or tenant.default_shared_record_policy or settings.DEFAULT_SHARED_RECORD_POLICY


def access_code(shared: SharedRecord) -> str:
    """The plaintext code, for the tenant only (access-link route, admin, close package)."""
    return decrypt(shared.access_code_encrypted)


def link_url(shared: SharedRecord) -> str:
    return f"{settings.PUBLIC_BASE_URL}/c/{shared.handle}"


def link_host() -> str:
    return urlsplit(settings.PUBLIC_BASE_URL).netloc.lower()


# --- Access log -----------------------------------------------------------------------------------
def access_log_write(
    *, record: CustomerRecord, action: str, actor: dict[str, Any], handle: str = "", tier: str = "",
    page: str = "", surface: str = "", visitor: Visitor | None = None, detail: dict | None = None,
    event_sent: bool = False,
) -> AccessLogEntry:
    return AccessLogEntry.objects.create(
        customer_record=record, handle=handle, action=action, actor_type=actor["type"], tier=tier, page=page,
        surface=surface, viewer_hash=visitor.viewer_hash if visitor else "",
        user_agent_family=visitor.user_agent_family if visitor else "", detail=detail or {}, event_sent=event_sent,
    )


def customer_event(record: CustomerRecord, event_type: str, actor: dict[str, Any], **fields: Any) -> None:
    """A `customer.*` event (webhooks.md §3.5); never carries the handle, link or access code."""
    event_record(
        tenant_id=record.tenant_id, environment=record.environment, event_type=event_type,
        data={
            "customerId": record.id, "externalCustomerId": record.customer_id,
            "vendorAccountId": record.vendor_account_id, "occurredAt": format_timestamp(timezone.now()),
            "actor": actor, **fields,
        },
    )


def record_view(
    *, shared: SharedRecord, visitor: Visitor, tier: str, page: str, surface: str, unlocked: bool,
) -> None:
    """Log every view; fire `customer.shared_record_viewed` at most once per viewer per throttle window."""
    record = shared.customer_record
    since = timezone.now() - dt.timedelta(minutes=settings.VIEW_EVENT_THROTTLE_MINUTES)
    with transaction.atomic():
        recent = AccessLogEntry.objects.filter(
            customer_record=record, action=Action.VIEW, viewer_hash=visitor.viewer_hash, event_sent=True,
            created_at__gte=since,
        ).exists()
        access_log_write(record=record, action=Action.VIEW, actor=visitor.actor(), handle=shared.handle, tier=tier,
                         page=page, surface=surface, visitor=visitor, event_sent=not recent)
        if not recent:
            customer_event(record, "customer.shared_record_viewed", visitor.actor(), surface=surface, tier=tier,
                           page=page, unlocked=unlocked)


# --- Link management -------------------------------------------------------------------------------
def _locked(shared: SharedRecord) -> SharedRecord:
    return SharedRecord.objects.select_for_update().select_related("customer_record__tenant").get(pk=shared.pk)


def shared_record_rotate_code(*, shared: SharedRecord, actor: dict[str, Any]) -> tuple[SharedRecord, str]:
    """A new code; the code version moves on, so every existing step-up cookie stops working."""
    with transaction.atomic():
        shared = _locked(shared)
        code = new_access_code()
        _set_code(shared, code)
        shared.code_version += 1
        shared.code_rotated_at = timezone.now()
        shared.save()
        access_log_write(record=shared.customer_record, action=Action.CODE_ROTATED, actor=actor, handle=shared.handle)
    return shared, code


def shared_record_reissue(*, shared: SharedRecord, actor: dict[str, Any], rotate_code: bool = False) -> SharedRecord:
    """A new handle (the old one is 404 from now on); re-activates a revoked link."""
    with transaction.atomic():
        shared = _locked(shared)
        old = shared.handle
        shared.handle = new_handle()
        shared.status = SharedRecord.Status.ACTIVE
        shared.reissue_count += 1
        shared.issued_at = timezone.now()
        shared.code_version += 1  # cookies are bound to the handle anyway; make that explicit
        if rotate_code:
            _set_code(shared, new_access_code())
            shared.code_rotated_at = shared.issued_at
        shared.save()
        access_log_write(record=shared.customer_record, action=Action.LINK_REISSUED, actor=actor, handle=old,
                         detail={"rotateCode": rotate_code})
    return shared


def shared_record_revoke(*, shared: SharedRecord, actor: dict[str, Any]) -> SharedRecord:
    with transaction.atomic():
        shared = _locked(shared)
        shared.status = SharedRecord.Status.REVOKED
        shared.save()
        access_log_write(record=shared.customer_record, action=Action.LINK_REVOKED, actor=actor, handle=shared.handle)
    return shared


def shared_record_set_policy(*, shared: SharedRecord, policy: Any, actor: dict[str, Any]) -> SharedRecord:
    if policy not in Tenant.Policy.values:
        raise validation_error({"policy": ["must be TWO_TIER, GATED or OPEN"]})
    with transaction.atomic():
        shared = _locked(shared)
        shared.policy = policy
        shared.save()
        access_log_write(record=shared.customer_record, action=Action.POLICY_CHANGED, actor=actor,
                         handle=shared.handle, detail={"policy": policy})
    return shared


# --- Step-up ---------------------------------------------------------------------------------------
def step_up_token(shared: SharedRecord) -> str:
    return signing.dumps({"h": shared.handle, "v": shared.code_version, "t": int(timezone.now().timestamp())},
                         salt=COOKIE_SALT, compress=True)


def step_up_expiry(token: str | None, shared: SharedRecord) -> dt.datetime | None:
    """When this cookie's unlock ends, or None if it does not unlock this handle at this code version."""
    if not token:
        return None
    max_age = settings.STEP_UP_COOKIE_MINUTES * 60
    try:
        data = signing.loads(token, salt=COOKIE_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    if data.get("h") != shared.handle or data.get("v") != shared.code_version:
        return None
    return dt.datetime.fromtimestamp(data["t"] + max_age, tz=dt.UTC)


@dataclass(frozen=True)
class StepUpResult:
    token: str | None
    expires_at: dt.datetime | None


def _lock_error(until: dt.datetime, now: dt.datetime) -> DomainError:
    seconds = max(1, int((until - now).total_seconds()) + 1)
    return DomainError("STEP_UP_LOCKED", "Too many wrong access codes; try again later", retry_after=seconds)


def step_up_verify(*, shared: SharedRecord, value: str, visitor: Visitor, surface: str) -> StepUpResult:
    """Check a code under the row lock: 5 failures in 15 minutes lock the handle for 15 minutes."""
    now = timezone.now()
    with transaction.atomic():
        shared = _locked(shared)
        record = shared.customer_record
        if effective_policy(shared) == Tenant.Policy.OPEN:
            return StepUpResult(token=None, expires_at=None)
        is_locked = bool(shared.locked_until and shared.locked_until > now)
        if is_locked:
            access_log_write(record=record, action=Action.STEP_UP_LOCKED, actor=visitor.actor(), handle=shared.handle,
                             surface=surface, visitor=visitor)
        elif hmac.compare_digest(code_hash(record.id, normalize_code(value)), shared.access_code_hash):
            shared.failure_count, shared.failure_window_start = 0, None
            shared.save(update_fields=["failure_count", "failure_window_start"])
            access_log_write(record=record, action=Action.STEP_UP_SUCCESS, actor=visitor.actor(), handle=shared.handle,
                             surface=surface, visitor=visitor)
            token = step_up_token(shared)
            return StepUpResult(token=token, expires_at=step_up_expiry(token, shared))
        else:
            remaining = _count_failure(shared, record, visitor, surface, now)
    # Raised after the block: raising inside it would roll back the access-log entry just written.
    if is_locked:
        raise _lock_error(shared.locked_until, now)
    if remaining is None:
        raise DomainError("ACCESS_CODE_INVALID", "Wrong access code", details={"attemptsRemaining": 0})
    raise DomainError("ACCESS_CODE_INVALID", "Wrong access code", details={"attemptsRemaining": remaining})


def _count_failure(shared: SharedRecord, record: CustomerRecord, visitor: Visitor, surface: str, now) -> int | None:
    """Returns attempts remaining, or None when this failure started a lockout (and fired its one event)."""
    window = dt.timedelta(minutes=settings.STEP_UP_WINDOW_MINUTES)
    if shared.failure_window_start is None or now - shared.failure_window_start > window:
        shared.failure_count, shared.failure_window_start = 0, now
    shared.failure_count += 1
    starts_lockout = shared.failure_count >= settings.STEP_UP_MAX_FAILURES
    locked_until = now + dt.timedelta(minutes=settings.STEP_UP_LOCKOUT_MINUTES) if starts_lockout else None
    # The failure that starts a lockout says so, which is how lockouts are counted (close package, readiness).
    access_log_write(record=record, action=Action.STEP_UP_FAILURE, actor=visitor.actor(), handle=shared.handle,
                     surface=surface, visitor=visitor,
                     detail={"lockedUntil": format_timestamp(locked_until)} if starts_lockout else None)
    if not starts_lockout:
        shared.save(update_fields=["failure_count", "failure_window_start"])
        return settings.STEP_UP_MAX_FAILURES - shared.failure_count
    distinct = (
        AccessLogEntry.objects.filter(customer_record=record, action=Action.STEP_UP_FAILURE,
                                      created_at__gte=shared.failure_window_start)
        .values("viewer_hash").distinct().count()
    )
    shared.locked_until = locked_until
    shared.failure_count, shared.failure_window_start = 0, None
    shared.save(update_fields=["failure_count", "failure_window_start", "locked_until"])
    customer_event(record, "customer.step_up_failed_repeatedly", visitor.actor(),
                   failedAttempts=settings.STEP_UP_MAX_FAILURES, windowMinutes=settings.STEP_UP_WINDOW_MINUTES,
                   lockedUntil=format_timestamp(shared.locked_until), distinctViewers=distinct)
    return None
