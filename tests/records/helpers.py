"""Shared helpers for Balance API tests."""

from __future__ import annotations

from typing import Any


from records.models import Delta
from records.services.sealing import seal_until_idle


def seal(persona, environment: str = "sandbox") -> int:
    """Seal the persona's log now (tests run inside a transaction, so on_commit hooks do not fire)."""
    return seal_until_idle(tenant_id=persona.tenant.id, environment=environment)


def emit(persona, customer_id: str = "cust-1", delta: Any = -12.5, reason: str = "daily_usage_flush:2026-04-01",
         vendor=None, **fields: Any):
    body = {"customerId": customer_id, "delta": delta, "reason": reason, **fields}
    if vendor is not None:
        body["vendorAccountId"] = vendor.id
    return persona.api.post("/api/v1/balance/delta", body)


def delta_count(tenant) -> int:
    return Delta.objects.filter(tenant=tenant).count()


