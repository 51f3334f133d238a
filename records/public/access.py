"""What every Shared Record answer shares, JSON and HTML alike (api.md §5.1): the handle lookup, the
visitor, the step-up state, the cookie and the response headers."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from pacspace.errors import DomainError, not_found
from pacspace.net import client_ip
from records.models import CustomerRecord, SharedRecord, Tenant
from records.selectors.balance import identity
from records.selectors.shared import live_summary
from records.services.shared_records import (
    Visitor,
    effective_policy,
    record_view,
    step_up_expiry,
    viewer_hash,
)

HANDLE_PATTERN = re.compile(r"^cus_[a-z2-7]{20}$")
# '0' is outside the base32 alphabet, so no handle is ever this value: malformed input still costs
# the same single indexed lookup as a well-formed unknown handle (no timing difference to measure).
UNMATCHABLE_HANDLE = "cus_" + "0" * 20
SHARED_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
RECENT_RECORDS = 5
# Coarse families only: enough to read an access log, too little to fingerprint anyone. Order matters:
# Edge and Chrome also claim "Safari", Edge also claims "Chrome".
USER_AGENT_FAMILIES = (("Edg/", "Edge"), ("EdgiOS", "Edge"), ("Firefox/", "Firefox"), ("FxiOS", "Firefox"),
                       ("CriOS", "Chrome"), ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"))
SUMMARY_FIGURES = ("period", "recordedThisPeriod", "recordCountThisCycle", "verifiedThrough", "recentRecords", "links")


def shared_by_handle(raw: str) -> SharedRecord:
    """The active Shared Record of a handle; unknown, malformed, superseded and revoked are one 404."""
    candidate = raw.lower()
    if not HANDLE_PATTERN.fullmatch(candidate):
        candidate = UNMATCHABLE_HANDLE
    shared = (
        SharedRecord.objects.select_related("customer_record__tenant", "customer_record__vendor_account")
        .filter(handle=candidate, status=SharedRecord.Status.ACTIVE).first()
    )
    if shared is None:
        raise not_found()
    return shared


def user_agent_family(user_agent: str) -> str:
    return next((family for marker, family in USER_AGENT_FAMILIES if marker in user_agent), "other")


def visitor_of(request: HttpRequest, record: CustomerRecord) -> Visitor:
    return Visitor(viewer_hash=viewer_hash(record.id, client_ip(request)),
                   user_agent_family=user_agent_family(request.META.get("HTTP_USER_AGENT", "")))


def cookie_name(shared: SharedRecord) -> str:
    return f"psr_{shared.handle}"


@dataclass(frozen=True)
class SharedAccess:
    """One request's view of one Shared Record: who asks, under which policy, unlocked until when."""

    shared: SharedRecord
    policy: str
    unlock_expires_at: dt.datetime | None
    visitor: Visitor

    @property
    def record(self) -> CustomerRecord:
        return self.shared.customer_record

    @property
    def handle(self) -> str:
        return self.shared.handle

    @property
    def is_unlocked(self) -> bool:
        return self.policy == Tenant.Policy.OPEN or self.unlock_expires_at is not None

    @property
    def is_summary_open(self) -> bool:
        return self.policy != Tenant.Policy.GATED or self.is_unlocked

    @property
    def is_sandbox(self) -> bool:
        return self.record.environment == "sandbox"

    def require_detail(self) -> None:
        if not self.is_unlocked:
            raise DomainError("STEP_UP_REQUIRED", "Enter the access code to see the details of this record")

    def view(self, *, tier: str, page: str, surface: str) -> None:
        record_view(shared=self.shared, visitor=self.visitor, tier=tier, page=page, surface=surface,
                    unlocked=self.is_unlocked)


def shared_access(request: HttpRequest, handle: str) -> SharedAccess:
    """Resolve the handle (404 first), then the visitor and whether this visitor's cookie unlocks it."""
    shared = shared_by_handle(handle)
    policy = effective_policy(shared, shared.customer_record.tenant)
    expires = None
    if policy != Tenant.Policy.OPEN:
        expires = step_up_expiry(request.COOKIES.get(cookie_name(shared)), shared)
    return SharedAccess(shared=shared, policy=policy, unlock_expires_at=expires,
                        visitor=visitor_of(request, shared.customer_record))


def set_step_up_cookie(response: HttpResponseBase, request: HttpRequest, shared: SharedRecord, token: str) -> None:
    """`psr_{handle}`: scoped to one handle by name and by its signed content (api.md §5.1)."""
    response.set_cookie(cookie_name(shared), token, max_age=settings.STEP_UP_COOKIE_MINUTES * 60, path="/",
                        secure=request.is_secure(), httponly=True, samesite="Lax")


def with_shared_headers(response: HttpResponseBase) -> HttpResponseBase:
    for name, value in SHARED_HEADERS.items():
        response[name] = value
    return response


def api_links(handle: str) -> dict[str, str]:
    base = f"/api/v1/c/{handle}"
    return {"activity": f"{base}/activity", "periods": f"{base}/periods", "compare": f"{base}/compare",
            "export": f"{base}/export", "accessVerify": f"{base}/access/verify"}


def summary_out(access: SharedAccess) -> dict[str, Any]:
    """The summary tier; a GATED record still locked shows who wrote it and that a code is needed."""
    data: dict[str, Any] = {
        "handle": access.handle,
        "policy": access.policy,
        "environment": access.record.environment,
        "identity": identity(access.record),
        "unlocked": access.is_unlocked,
        "stepUpRequired": not access.is_unlocked,
        "unlockExpiresAt": access.unlock_expires_at,
    }
    if not access.is_summary_open:
        return {**data, **dict.fromkeys(SUMMARY_FIGURES)}
    live = live_summary(access.record, recent=RECENT_RECORDS, brief=not access.is_unlocked)
    return {**data, **{key: live[key] for key in SUMMARY_FIGURES[:-1]}, "links": api_links(access.handle)}
