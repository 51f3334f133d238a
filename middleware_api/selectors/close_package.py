"""The Finance Close Package of one customer record and one closed period (api.md §4.7)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.utils import timezone

from middleware_api.selectors.access_log import access_log_stats, access_log_summary
from middleware_api.selectors.customers import link_out
from middleware_api.selectors.readiness import period_blockers, period_checkpoints
from pacspace.errors import DomainError
from records.models import Checkpoint, CustomerRecord, Tenant
from records.scopes import period_window
from records.selectors.balance import identity
from records.selectors.shared import period_out
from records.services.checkpoints import covered_deltas
from records.services.exports import bundle_reference
from records.services.shared_records import access_code, effective_policy, shared_record_of


def closing_checkpoint(record: CustomerRecord, period: str) -> Checkpoint:
    """The latest verified checkpoint of exactly this period, or 409 with what still blocks it."""
    start, end = period_window(period)
    checkpoint = (
        period_checkpoints(start, end).filter(customer_record=record, status=Checkpoint.Status.VERIFIED)
        .select_related("customer_record").first()
    )
    if checkpoint is None:
        raise DomainError("PERIOD_NOT_CLOSED", f"No verified checkpoint for {period}",
                          details={"blockers": period_blockers(record, period)})
    return checkpoint


MANIFEST_FIELDS = ("record_id", "created_at", "delta_text", "reason", "reference_id", "content_hash", "proof_hash",
                   "leaf_index", "chain_index")


def manifest(checkpoint: Checkpoint) -> list[dict[str, Any]]:
    """Every covered record, streamed as plain tuples (a period can hold millions of rows)."""
    rows = covered_deltas(checkpoint).values_list(*MANIFEST_FIELDS)
    return [
        {"recordId": record_id, "recordedAt": created_at, "amount": Decimal(text), "reason": reason,
         "referenceId": reference_id, "contentHash": content, "proofHash": proof, "leafIndex": leaf,
         "chainIndex": chain}
        for record_id, created_at, text, reason, reference_id, content, proof, leaf, chain
        in rows.iterator(chunk_size=5000)
    ]


def copy_text(url: str | None, code: str | None) -> str | None:
    if url is None:
        return None
    if code is None:
        return f"Usage record for this invoice: {url}"
    return f"Usage record for this invoice: {url} (access code: {code})"


def close_package(
    *, record: CustomerRecord, period: str, actor: dict[str, Any], download_url_for: Callable[[Any], str],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything finance files for one closed period. The one write is the bundle export it
    gets or creates (api.md §4.7), so asking twice reuses the same job."""
    checkpoint = closing_checkpoint(record, period)
    shared = shared_record_of(record)
    policy = effective_policy(shared, record.tenant)
    link = link_out(shared)
    code = access_code(shared) if link["url"] and policy != Tenant.Policy.OPEN else None
    return {
        "customerId": record.id,
        "externalCustomerId": record.customer_id,
        "vendorAccountId": record.vendor_account_id,
        "period": period,
        "identity": identity(record),
        "generatedAt": now or timezone.now(),
        "totals": {"recordCount": checkpoint.record_count, "credits": checkpoint.credits,
                   "debits": checkpoint.debits, "netChange": checkpoint.net_change},
        "checkpoint": period_out(checkpoint),
        "manifest": manifest(checkpoint),
        "sharedRecord": {**link, "policy": policy},
        "accessCode": {"code": code, "copyText": copy_text(link["url"], code)},
        "bundle": bundle_reference(record=record, checkpoint=checkpoint, actor=actor,
                                   download_url_for=download_url_for),
        "accessLog": access_log_summary(access_log_stats([record.id], checkpoint.window_start).get(record.id, {})),
    }

