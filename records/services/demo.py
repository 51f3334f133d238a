"""The demo tenant of `make run` and `demo_seed` (operations.md §3). Internal service layer only:
backdated `createdAt` is possible here, never over HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from records.models import (
    AccessLogEntry,
    ApiKey,
    Checkpoint,
    CustomerRecord,
    Delta,
    Environment,
    ExportJob,
    IdempotencyKey,
    LogLeaf,
    LogNode,
    LogState,
    SharedRecord,
    SignedTreeHead,
    Tenant,
    VendorAccount,
)
from records.scopes import Scope, period_window
from records.services.checkpoints import checkpoints_commit
from records.services.deltas import deltas_accept
from records.services.sealing import seal_until_idle
from records.services.tenants import api_key_create, tenant_create
from records.services.vendor_accounts import vendor_account_create
from records.validation import parse_delta_item
from webhooks.models import Attempt, Delivery, Endpoint, Event

DEMO_TENANT = "Demo Middleware"
VENDORS = (("Acme Inference", "acme", ("acct-1001", "acct-1002", "acct-1003")),
           ("Nimbus Models", "nimbus", ("acct-2001", "acct-2002", "acct-2003")))
STAFF = {"type": "staff"}


def _amount(customer: str, day: dt.date) -> Decimal:
    """Deterministic pseudo-random usage between -0.50 and -40.49 with two decimals."""
    digest = hashlib.sha256(f"{customer}|{day.isoformat()}".encode()).digest()
    cents = 50 + int.from_bytes(digest[:4], "big") % 4000
    return -Decimal(cents) / 100


def _days(now: dt.datetime) -> list[dt.date]:
    """Every day of the previous UTC month and the days of this month that have ended."""
    this_month = now.date().replace(day=1)
    first = (this_month - dt.timedelta(days=1)).replace(day=1)
    return [first + dt.timedelta(days=n) for n in range((now.date() - first).days)]


def tenant_purge(tenant: Tenant) -> None:
    """Delete a tenant and everything it owns, children first (used only by `demo_seed --reset`)."""
    Attempt.objects.filter(delivery__tenant=tenant).delete()
    Delivery.objects.filter(tenant=tenant).delete()
    Event.objects.filter(tenant=tenant).delete()
    Endpoint.objects.filter(tenant=tenant).delete()
    LogLeaf.objects.filter(log__tenant=tenant).delete()
    LogNode.objects.filter(log__tenant=tenant).delete()
    SignedTreeHead.objects.filter(log__tenant=tenant).delete()
    LogState.objects.filter(tenant=tenant).delete()
    IdempotencyKey.objects.filter(tenant=tenant).delete()
    ExportJob.objects.filter(tenant=tenant).delete()
    AccessLogEntry.objects.filter(customer_record__tenant=tenant).delete()
    SharedRecord.objects.filter(customer_record__tenant=tenant).delete()
    Delta.objects.filter(tenant=tenant).update(checkpoint=None, adjusts_delta=None)
    Delta.objects.filter(tenant=tenant).delete()
    Checkpoint.objects.filter(tenant=tenant).update(supersedes=None, superseded_by=None)
    Checkpoint.objects.filter(tenant=tenant).delete()
    for model in (CustomerRecord, VendorAccount, ApiKey):
        model.objects.filter(tenant=tenant).delete()
    tenant.delete()


def _seed_vendor(tenant: Tenant, account, customers: tuple[str, ...], days: list[dt.date]) -> None:
    """Daily flushes in time order; the first customer also gets a credit adjusting its third day."""
    credit_day = days[min(2, len(days) - 1)]
    for customer in customers:
        for day in days:
            moment = dt.datetime.combine(day, dt.time(23, 59), tzinfo=dt.UTC)
            _accept(tenant, account, moment, {
                "customerId": customer, "delta": _amount(customer, day), "reason": f"daily_usage_flush:{day}",
                "referenceId": f"usage:{customer}:{day}",
            })
            if customer == customers[0] and day == credit_day:
                _accept(tenant, account, moment + dt.timedelta(seconds=30), {
                    "customerId": customer, "delta": "2.50", "reason": "credit: duplicate flush",
                    "adjusts": {"referenceId": f"usage:{customer}:{day}"},
                })


def _accept(tenant: Tenant, account, moment: dt.datetime, raw: dict[str, Any]) -> None:
    deltas_accept(tenant=tenant, environment=Environment.SANDBOX, vendor=account, items=[parse_delta_item(raw)],
                  actor=STAFF, created_at=moment)


def demo_seed(*, reset: bool = False, now: dt.datetime | None = None) -> dict[str, Any]:
    """Create (or reuse) the demo tenant with sealed history and a checkpoint for last month."""
    now = now or timezone.now()
    existing = Tenant.objects.filter(name=DEMO_TENANT).first()
    if existing is not None and reset:
        with transaction.atomic():
            tenant_purge(existing)
        existing = None
    tenant = existing or _seed_new(now)
    _key, plaintext = api_key_create(tenant=tenant, environment="test", name="demo_seed")
    records = tenant.customer_records.filter(environment=Environment.SANDBOX).order_by("vendor_account__created_at", "customer_id")
    return {
        "tenantId": tenant.id,
        "apiKey": plaintext,
        "vendorAccountIds": list(tenant.vendor_accounts.order_by("created_at").values_list("id", flat=True)),
        "customerIds": [r.id for r in records],
        **_demo_link(records.first()),
    }


def _seed_new(now: dt.datetime) -> Tenant:
    tenant = tenant_create(name=DEMO_TENANT, kind="middleware")
    days = _days(now)
    previous = days[0].strftime("%Y-%m")
    start, end = period_window(previous)
    for display_name, external_id, customers in VENDORS:
        account = vendor_account_create(tenant=tenant, display_name=display_name, external_id=external_id)
        _seed_vendor(tenant, account, customers, days)
        seal_until_idle(tenant_id=tenant.id, environment=Environment.SANDBOX)
        checkpoints_commit(tenant=tenant, environment=Environment.SANDBOX, vendor=account, customer_id=None,
                           scope=Scope(kind="period", start=start, end=end, period=previous))
    seal_until_idle(tenant_id=tenant.id, environment=Environment.SANDBOX)
    return tenant


def _demo_link(record) -> dict[str, Any]:
    """Shared Record URL and access code of the first customer, once Shared Records exist."""
    from records.selectors import shared_record_link

    link = shared_record_link(record) if record is not None else None
    return {"sharedRecordUrl": link["url"] if link else None, "accessCode": link["accessHint"] if link else None}
