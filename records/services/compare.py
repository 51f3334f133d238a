"""Balance compare (api.md §2.5): a neutral balance against both parties' figures; fires an event."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from records.models import CustomerRecord
from records.scopes import Scope
from records.selectors import root_over, scoped_deltas, sum_of, verified_in
from webhooks.services import event_record


def balance_compare(
    *, record: CustomerRecord, scope: Scope, your_balance: Decimal, their_balance: Decimal,
    starting_balance: Decimal, actor: dict[str, Any],
) -> dict[str, Any]:
    """Exact decimal equality only; the compare itself is recorded as a customer event."""
    verified = verified_in(scoped_deltas(record, scope))
    neutral = starting_balance + sum_of(verified)
    now = timezone.now()
    data = {
        "customerId": record.customer_id,
        "customerRecordId": record.id,
        "scope": scope.out(),
        "startingBalance": starting_balance,
        "neutralBalance": neutral,
        "yourBalance": your_balance,
        "theirBalance": their_balance,
        "matchesYours": your_balance == neutral,
        "matchesTheirs": their_balance == neutral,
        "deltasCount": verified.count(),
        "proofRoot": root_over(verified),
        "comparedAt": now,
    }
    with transaction.atomic():
        event_record(
            tenant_id=record.tenant_id, environment=record.environment, event_type="customer.compare_run",
            data={
                "customerId": record.id, "externalCustomerId": record.customer_id,
                "vendorAccountId": record.vendor_account_id, "occurredAt": now, "actor": actor,
                "compareKind": "balance", "scope": data["scope"],
                "matchesYours": data["matchesYours"], "matchesTheirs": data["matchesTheirs"],
            },
        )
    return data
