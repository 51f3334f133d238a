"""Customer-facing reads (api.md §1.12 Entry/Period, §4.4–4.6, §5.2): the same figures on the
Shared Record and in the middleware API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from pacspace.errors import DomainError
from records.models import Checkpoint, CustomerRecord, Delta, DeltaStatus
from records.scopes import current_period, period_window
from records.selectors.balance import amount_of, identity, loads_exact, record_state
from records.services.checkpoints import checkpoint_payload, covered_deltas

PERIOD_EXCLUDED = ("customerId", "customerRecordId", "vendorAccountId", "cutoffAt")


def entry_out(delta: Delta) -> dict[str, Any]:
    """The Entry object: one record row as a customer sees it."""
    return {
        "recordId": delta.record_id,
        "recordedAt": delta.created_at,
        "amount": amount_of(delta),
        "reason": delta.reason,
        "referenceId": delta.reference_id,
        "metadata": loads_exact(delta.metadata_json),
        "adjusts": loads_exact(delta.adjusts_json) if delta.adjusts_json else None,
        "state": record_state(delta),
        "contentHash": delta.content_hash,
        "proofHash": delta.proof_hash,
        "leafIndex": delta.leaf_index,
        "chainIndex": delta.chain_index,
        "verificationReference": delta.verification_reference,
        "checkpointId": delta.checkpoint_id,
    }


def brief_entry(delta: Delta) -> dict[str, Any]:
    return {"recordedAt": delta.created_at, "amount": amount_of(delta), "state": record_state(delta)}


def visible_deltas(record: CustomerRecord) -> QuerySet:
    """Failed deltas are never shown to customers."""
    return Delta.objects.filter(customer_record=record).exclude(status=DeltaStatus.FAILED)


def period_out(checkpoint: Checkpoint) -> dict[str, Any]:
    payload = checkpoint_payload(checkpoint)
    return {key: value for key, value in payload.items() if key not in PERIOD_EXCLUDED}


def verified_through(record: CustomerRecord) -> dt.datetime | None:
    """The latest `coveredThrough` among verified checkpoints."""
    latest = None
    for window_end, cutoff in Checkpoint.objects.filter(
        customer_record=record, status=Checkpoint.Status.VERIFIED
    ).values_list("window_end", "cutoff_at"):
        covered = min(window_end, cutoff)
        latest = covered if latest is None or covered > latest else latest
    return latest


def live_summary(record: CustomerRecord, *, recent: int = 10, brief: bool = False, now=None) -> dict[str, Any]:
    """Recorded this period (any state), its count, pending count, verified-through and recent rows."""
    now = now or timezone.now()
    period = current_period(now)
    start, end = period_window(period)
    this_period = visible_deltas(record).filter(created_at__gte=start, created_at__lt=end)
    stats = this_period.aggregate(total=Sum("amount"), n=Count("id"))
    rows = visible_deltas(record).order_by("-intake_sequence")[:recent]
    return {
        "period": period,
        "recordedThisPeriod": stats["total"] or Decimal(0),
        "recordCountThisCycle": stats["n"],
        "recordingCount": this_period.filter(status__in=[DeltaStatus.QUEUED, DeltaStatus.PROCESSING]).count(),
        "verifiedThrough": verified_through(record),
        "recentRecords": [brief_entry(d) if brief else entry_out(d) for d in rows],
    }


def verified_periods(record: CustomerRecord, *, include_superseded: bool = False) -> QuerySet:
    periods = Checkpoint.objects.filter(customer_record=record, status=Checkpoint.Status.VERIFIED)
    if not include_superseded:
        periods = periods.filter(superseded_by__isnull=True)
    return periods.select_related("customer_record").order_by("-window_start", "-created_at", "-id")


def period_of_record(record: CustomerRecord, checkpoint_id: str) -> Checkpoint:
    checkpoint = verified_periods(record, include_superseded=True).filter(pk=checkpoint_id).first()
    if checkpoint is None:
        raise DomainError("NOT_FOUND", "No closed period with this id for this customer")
    return checkpoint


def period_detail(record: CustomerRecord, checkpoint: Checkpoint, *, limit: int, offset: int) -> dict[str, Any]:
    covered = covered_deltas(checkpoint)
    return {
        "period": period_out(checkpoint),
        "identity": identity(record),
        "customerId": record.id,
        "externalCustomerId": record.customer_id,
        "vendorAccountId": record.vendor_account_id,
        "records": {
            "items": [entry_out(d) for d in covered[offset : offset + limit]],
            "total": checkpoint.record_count,
            "limit": limit,
            "offset": offset,
        },
    }


def activity(record: CustomerRecord, *, period: str, limit: int, offset: int) -> dict[str, Any]:
    start, end = period_window(period)
    rows = visible_deltas(record).filter(created_at__gte=start, created_at__lt=end).order_by("-intake_sequence")
    return {"items": [entry_out(d) for d in rows[offset : offset + limit]], "total": rows.count(),
            "limit": limit, "offset": offset}


def last_positions(record: CustomerRecord) -> tuple[int, int]:
    """The live-scope export snapshot: last intakeSequence and last chainIndex."""
    agg = Delta.objects.filter(customer_record=record).aggregate(chain=Max("chain_index"))
    return record.last_intake_sequence, -1 if agg["chain"] is None else agg["chain"]
