"""The record card, live view and access link of one customer record (api.md §4.2, §4.4, §4.8)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

from pacspace.errors import DomainError
from pacspace.ids import is_id
from records.models import CustomerRecord, DeltaStatus, SharedRecord, Tenant, VendorAccount
from records.selectors.balance import customer_summary, identity, sum_of
from records.selectors.shared import live_summary, period_out, verified_periods
from records.services.shared_records import (
    access_code,
    effective_policy,
    link_host,
    link_url,
    shared_record_of,
)

API = "/api/v1"


def customer_paths(record_id: str) -> dict[str, str]:
    base = f"{API}/middleware/customers/{record_id}"
    return {
        "live": f"{base}/live", "periods": f"{base}/periods", "closePackage": f"{base}/close-package",
        "accessLink": f"{base}/access-link", "compare": f"{base}/compare", "export": f"{base}/export",
    }


def is_active(shared: SharedRecord | None) -> bool:
    return shared is not None and shared.status == SharedRecord.Status.ACTIVE


def link_out(shared: SharedRecord) -> dict[str, Any]:
    """`{url, host, handle, status}`; a revoked handle answers 404, so it is not handed out."""
    active = is_active(shared)
    return {"url": link_url(shared) if active else None, "host": link_host(),
            "handle": shared.handle if active else None, "status": shared.status}


def vendor_account_by_ref(tenant: Tenant, ref: str) -> VendorAccount:
    """A `cmw_` id or, failing that, an externalId (which can never look like a `cmw_` id)."""
    accounts = VendorAccount.objects.filter(tenant=tenant)
    account = accounts.filter(pk=ref).first() if is_id(ref, "cmw") else accounts.filter(external_id=ref).first()
    if account is None:
        raise DomainError("NOT_FOUND", "No vendor account with this id or externalId")
    return account


def customer_record_card(record: CustomerRecord) -> dict[str, Any]:
    summary = customer_summary(record)
    account = record.vendor_account
    shared = shared_record_of(record)
    # The newest closed period (verified, not superseded); pending checkpoints show up in readiness.
    latest = verified_periods(record).first()
    return {
        "customerId": record.id,
        "externalCustomerId": record.customer_id,
        "vendorAccountId": account.id,
        "vendorAccount": {"id": account.id, "displayName": account.display_name,
                          "externalId": account.external_id, "status": account.status},
        "environment": record.environment,
        "customerReference": summary["customerReference"],
        "totalDeltas": summary["totalDeltas"],
        "computedBalance": sum_of(record.deltas.filter(status=DeltaStatus.VERIFIED)),
        "firstDeltaAt": summary["firstDeltaAt"],
        "lastDeltaAt": summary["lastDeltaAt"],
        "createdAt": record.created_at,
        "latestCheckpoint": period_out(latest) if latest else None,
        "sharedRecord": {"url": link_out(shared)["url"], "status": shared.status,
                         "policy": effective_policy(shared, record.tenant)},
        "identity": identity(record),
        "links": customer_paths(record.id),
    }


def live_view(record: CustomerRecord) -> dict[str, Any]:
    shared = shared_record_of(record)
    return {
        "customerId": record.id,
        "externalCustomerId": record.customer_id,
        "vendorAccountId": record.vendor_account_id,
        "environment": record.environment,
        **live_summary(record),
        "link": link_out(shared),
        "policy": effective_policy(shared, record.tenant),
        "identity": identity(record),
    }


def access_link_out(shared: SharedRecord, tenant: Tenant, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The AccessLink object; the plaintext code is for the tenant only and never leaves this route family."""
    now = now or timezone.now()
    policy = effective_policy(shared, tenant)
    link = link_out(shared)
    window = dt.timedelta(minutes=settings.STEP_UP_WINDOW_MINUTES)
    # The stored counters are reset lazily on the next attempt; report what is in force right now.
    in_window = shared.failure_window_start is not None and now - shared.failure_window_start <= window
    locked = shared.locked_until is not None and shared.locked_until > now
    return {
        "customerId": shared.customer_record_id,
        "handle": link["handle"],
        "url": link["url"],
        "host": link["host"],
        "status": shared.status,
        "policy": policy,
        "accessCode": {"status": code_status(policy), "code": access_code(shared), "rotatedAt": shared.code_rotated_at},
        "stepUp": {"lockedUntil": shared.locked_until if locked else None,
                   "failuresInWindow": shared.failure_count if in_window else 0},
        "issuedAt": shared.issued_at,
        "reissueCount": shared.reissue_count,
        "readiness": {"link": is_active(shared),
                      "accessCode": policy == Tenant.Policy.OPEN or bool(shared.access_code_hash)},
    }


def code_status(policy: str) -> str:
    return "not_required" if policy == Tenant.Policy.OPEN else "ready"
