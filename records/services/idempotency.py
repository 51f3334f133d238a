"""`Idempotency-Key` (api.md §1.9): a committed in-flight marker, then the outcome stored in the
same transaction as the write, so a failed write never leaves a claimed key behind."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from pacspace.errors import DomainError, validation_error
from pacspace.metrics import IDEMPOTENCY_REPLAYS
from records.models import IdempotencyKey, Tenant

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
ABANDONED_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    content_type: str
    body: bytes


def fingerprint(vendor_header: str | None, raw_body: bytes) -> str:
    return hashlib.sha256((vendor_header or "").encode("utf-8") + b"\n" + raw_body).hexdigest()


def check_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not KEY_PATTERN.fullmatch(value):
        raise validation_error({"Idempotency-Key": ["must be 1–255 printable ASCII characters"]})
    return value


def _pending() -> DomainError:
    return DomainError(
        "IDEMPOTENCY_PENDING", "A request with this Idempotency-Key is still in flight", retry_after=1
    )


def _claim(*, tenant: Tenant, environment: str, route: str, key: str, print_: str) -> tuple[IdempotencyKey | None, StoredResponse | None]:
    """Insert the marker (committed at once) or report what the existing one says."""
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                tenant=tenant, environment=environment, route=route, key=key, fingerprint=print_
            ), None
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.get(tenant=tenant, environment=environment, route=route, key=key)
    if existing.fingerprint != print_:
        raise DomainError("IDEMPOTENCY_CONFLICT", "This Idempotency-Key was used with a different request")
    if existing.is_completed:
        return None, StoredResponse(existing.status_code, existing.content_type, bytes(existing.body))
    # Take over a marker whose request died: only one caller's conditional UPDATE can succeed.
    stale = timezone.now() - ABANDONED_AFTER
    now = timezone.now()
    taken = IdempotencyKey.objects.filter(pk=existing.pk, is_completed=False, created_at__lt=stale).update(created_at=now)
    if taken:
        existing.created_at = now
        return existing, None
    raise _pending()


def idempotent_run(
    *, tenant: Tenant, environment: str, route: str, key: str, print_: str,
    run: Callable[[], StoredResponse],
) -> tuple[StoredResponse, bool]:
    """Run `run` at most once per key; returns (response, replayed). `run` executes inside the
    transaction that also stores its outcome; 5xx outcomes and crashes remove the marker."""
    marker, stored = _claim(tenant=tenant, environment=environment, route=route, key=key, print_=print_)
    if stored is not None:
        IDEMPOTENCY_REPLAYS.inc()
        return stored, True
    try:
        with transaction.atomic():
            response = run()
            if response.status >= 500:
                raise _ServerFailure(response)
            IdempotencyKey.objects.filter(pk=marker.pk).update(
                is_completed=True, status_code=response.status, content_type=response.content_type,
                body=response.body, completed_at=timezone.now(),
            )
            return response, False
    except _ServerFailure as failure:
        IdempotencyKey.objects.filter(pk=marker.pk, is_completed=False).delete()
        return failure.response, False
    except BaseException:
        IdempotencyKey.objects.filter(pk=marker.pk, is_completed=False).delete()
        raise


class _ServerFailure(Exception):
    def __init__(self, response: StoredResponse) -> None:
        self.response = response
