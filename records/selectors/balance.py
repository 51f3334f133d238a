"""Reads of the domain: record states, representations, balances, windows (api.md §1.12, §2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from pacspace.errors import DomainError
from records.models import Checkpoint, CustomerRecord, Delta, DeltaStatus
from records.proofs import customer_reference, from_hex, loads_exact, merkle_root, to_hex
from records.scopes import Scope, add_months

STATE_BY_STATUS = {DeltaStatus.QUEUED: "recording", DeltaStatus.PROCESSING: "recording"}


def record_state(delta: Delta) -> str | None:
    """The customer-facing state: recording → recorded → verified; FAILED deltas have none."""
    if delta.status == DeltaStatus.FAILED:
        return None
    if delta.status != DeltaStatus.VERIFIED:
        return "recording"
    return "verified" if delta.checkpoint_id else "recorded"


def identity(record: CustomerRecord) -> dict[str, Any]:
    """Who recorded it, as customers see it: the vendor account for middleware, never the middleware."""
    account = record.vendor_account
    if account is not None:
        return {
            "tenant": {"name": account.display_name},
            "recordedBy": {"type": "middleware_vendor_account", "id": account.id, "displayName": account.display_name},
        }
    tenant = record.tenant
    return {"tenant": {"name": tenant.name}, "recordedBy": {"type": "tenant", "id": tenant.id, "displayName": tenant.name}}


def _adjusts(delta: Delta) -> dict | None:
    return loads_exact(delta.adjusts_json) if delta.adjusts_json else None


def delta_out(delta: Delta) -> dict[str, Any]:
    """The Delta object of api.md §1.12."""
    return {
        "recordId": delta.record_id,
        "status": delta.status,
        "state": record_state(delta),
        "customerId": delta.customer_id,
        "customerRecordId": delta.customer_record_id,
        "vendorAccountId": delta.vendor_account_id,
        "delta": delta.amount if isinstance(delta.amount, Decimal) else Decimal(delta.delta_text),
        "reason": delta.reason,
        "referenceId": delta.reference_id,
        "metadata": loads_exact(delta.metadata_json),
        "adjusts": _adjusts(delta),
        "contentHash": delta.content_hash,
        "receiptId": delta.proof_hash,
        "proofHash": delta.proof_hash,
        "previousProofHash": delta.previous_proof_hash,
        "intakeSequence": delta.intake_sequence,
        "chainIndex": delta.chain_index,
        "deltaIndex": delta.leaf_index,
        "sequenceNumber": None if delta.leaf_index is None else str(delta.leaf_index),
        "verificationReference": delta.verification_reference,
        "verifiedAt": delta.verified_at,
        "blockTimestamp": delta.verified_at,
        "checkpointId": delta.checkpoint_id,
        "createdAt": delta.created_at,
        "failedAt": delta.failed_at,
        "error": {"code": delta.error_code, "message": delta.error_message} if delta.error_code else None,
    }


def amount_of(delta: Delta) -> Decimal:
    return Decimal(delta.delta_text)


def emit_out(delta: Delta, *, idempotent: bool, status: str | None = None) -> dict[str, Any]:
    """The emit answer (api.md §2.1): acceptance state for new deltas, current state for replays."""
    return {
        "recordId": delta.record_id,
        "status": status or delta.status,
        "customerId": delta.customer_id,
        "customerRecordId": delta.customer_record_id,
        "vendorAccountId": delta.vendor_account_id,
        "delta": amount_of(delta),
        "referenceId": delta.reference_id,
        "contentHash": delta.content_hash,
        "receiptId": None if status == DeltaStatus.QUEUED else delta.proof_hash,
        "createdAt": delta.created_at,
        "idempotent": idempotent,
    }


def delta_brief(delta: Delta) -> dict[str, Any]:
    """The delta subset used by derive and receipts."""
    return {
        "recordId": delta.record_id,
        "delta": amount_of(delta),
        "reason": delta.reason,
        "referenceId": delta.reference_id,
        "status": delta.status,
        "createdAt": delta.created_at,
        "contentHash": delta.content_hash,
        "receiptId": delta.proof_hash,
        "deltaIndex": delta.leaf_index,
    }


# --- Scoped delta sets ---------------------------------------------------------------------------
def _starting_point(record: CustomerRecord, scope: Scope) -> int:
    """The chainIndex after which checkpoint-mode scopes start (api.md §1.10)."""
    value = scope.starting_checkpoint or ""
    verified = Delta.objects.filter(customer_record=record, status=DeltaStatus.VERIFIED)
    if scope.starting_checkpoint_type == "recordId":
        delta = verified.filter(record_id=value).first()
        if delta is None:
            raise DomainError("NOT_FOUND", "startingCheckpoint is not a verified delta of this customer")
        return delta.chain_index
    try:
        normalized = to_hex(from_hex(value))
    except ValueError as exc:
        raise DomainError("NOT_FOUND", "startingCheckpoint is not a proof root or receipt of this customer") from exc
    checkpoint = (
        Checkpoint.objects.filter(customer_record=record, status=Checkpoint.Status.VERIFIED, proof_root=normalized)
        .order_by("-verified_at")
        .first()
    )
    if checkpoint is not None:
        return -1 if checkpoint.last_chain_index is None else checkpoint.last_chain_index
    delta = verified.filter(proof_hash=normalized).first()
    if delta is None:
        raise DomainError("NOT_FOUND", "startingCheckpoint is not a proof root or receipt of this customer")
    return delta.chain_index


def scoped_deltas(record: CustomerRecord, scope: Scope) -> QuerySet:
    """Every delta of the record inside the scope (any status)."""
    deltas = Delta.objects.filter(customer_record=record)
    if scope.kind == "checkpoint":
        after = _starting_point(record, scope)
        return deltas.exclude(status=DeltaStatus.VERIFIED, chain_index__lte=after)
    if scope.start is not None:
        deltas = deltas.filter(created_at__gte=scope.start, created_at__lt=scope.end)
    return deltas


def verified_in(deltas: QuerySet) -> QuerySet:
    return deltas.filter(status=DeltaStatus.VERIFIED).order_by("chain_index")


def pending_in(deltas: QuerySet) -> QuerySet:
    return deltas.filter(status__in=[DeltaStatus.QUEUED, DeltaStatus.PROCESSING])


def root_over(verified: QuerySet) -> str:
    return to_hex(merkle_root([from_hex(h) for h in verified.values_list("content_hash", flat=True)]))


def sum_of(verified: QuerySet) -> Decimal:
    return verified.aggregate(total=Sum("amount"))["total"] or Decimal(0)


# --- Derive ---------------------------------------------------------------------------------------
_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def _bucket_end(start: dt.datetime, granularity: str) -> dt.datetime:
    if granularity == "day":
        return start + dt.timedelta(days=1)
    if granularity == "week":
        return start + dt.timedelta(weeks=1)
    return add_months(start, 1)


def _floor(moment: dt.datetime, granularity: str) -> dt.datetime:
    day = moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def breakdown(verified: QuerySet, granularity: str, scope: Scope, limit: int = 1000) -> list[dict[str, Any]]:
    """Contiguous buckets over the window (weeks start Monday UTC), including empty ones."""
    rows = (
        verified.order_by()
        .annotate(bucket=_TRUNC[granularity]("created_at", tzinfo=dt.UTC))
        .values("bucket")
        .annotate(net=Sum("amount"), n=Count("id"))
    )
    found = {_floor(row["bucket"], granularity): row for row in rows}
    if scope.start is not None:
        first, end = _floor(scope.start, granularity), scope.end
    elif found:
        first, end = min(found), _bucket_end(max(found), granularity)
    else:
        return []
    buckets, cursor = [], first
    while cursor < end and len(buckets) < limit:
        following = _bucket_end(cursor, granularity)
        row = found.get(cursor, {})
        buckets.append({
            "bucketStart": cursor, "bucketEnd": following,
            "netChange": row.get("net") or Decimal(0), "deltasCount": row.get("n", 0),
        })
        cursor = following
    return buckets


def derive(
    *, record: CustomerRecord, scope: Scope, starting_balance: Decimal, limit: int, offset: int,
    granularity: str | None,
) -> dict[str, Any]:
    deltas = scoped_deltas(record, scope)
    verified = verified_in(deltas)
    count = verified.count()
    latest = verified.last()
    data: dict[str, Any] = {
        "customerId": record.customer_id,
        "customerRecordId": record.id,
        "vendorAccountId": record.vendor_account_id,
        "scope": scope.out(),
        "startingBalance": starting_balance,
        "computedBalance": starting_balance + sum_of(verified),
        "deltasCount": count,
        "deltaCount": count,
        "pendingCount": pending_in(deltas).count(),
        "latestReceiptId": latest.proof_hash if latest else None,
        "latestRecordId": latest.record_id if latest else None,
        "proofRoot": root_over(verified),
        "deltas": [delta_brief(d) for d in verified[offset : offset + limit]],
        "limit": limit,
        "offset": offset,
    }
    if granularity:
        data["breakdown"] = breakdown(verified, granularity, scope)
    return data


# --- Customers ------------------------------------------------------------------------------------
def customer_summary(record: CustomerRecord) -> dict[str, Any]:
    stats = record.deltas.exclude(status=DeltaStatus.FAILED).aggregate(
        n=Count("id"), first=Min("created_at"), last=Max("created_at")
    )
    return {
        "customerId": record.customer_id,
        "customerRecordId": record.id,
        "vendorAccountId": record.vendor_account_id,
        "customerReference": customer_reference(record.customer_id, record.vendor_account_id),
        "totalDeltas": stats["n"],
        "firstDeltaAt": stats["first"],
        "lastDeltaAt": stats["last"],
    }


def latest_checkpoint(record: CustomerRecord) -> Checkpoint | None:
    return Checkpoint.objects.filter(customer_record=record).select_related("customer_record").order_by(
        "-created_at", "-id").first()


# --- Links ----------------------------------------------------------------------------------------
def invoice_links(*, record: CustomerRecord, proof_root: str | None, publicly_verifiable: bool) -> dict[str, str | None]:
    """verifyUrl, verificationApiUrl, customerLinkUrl, customerLinkHost and accessHint (api.md §2.12)."""
    base = settings.PUBLIC_BASE_URL
    link = shared_record_link(record)
    verify_url = None
    if link is not None:
        verify_url = link["url"]
    elif publicly_verifiable:
        verify_url = f"{base}/verify/{proof_root}"
    return {
        "verifyUrl": verify_url,
        "verificationApiUrl": f"{base}/api/v1/verify/{proof_root}" if publicly_verifiable else None,
        "accessHint": link["accessHint"] if link else None,
        "customerLinkUrl": link["url"] if link else None,
        "customerLinkHost": link["host"] if link else None,
    }


def shared_record_link(record: CustomerRecord) -> dict[str, str | None] | None:
    """The active Shared Record link of a record with its access hint (null under OPEN), or None."""
    from records.models import SharedRecord
    from records.services.shared_records import access_code, effective_policy, link_host, link_url

    shared = SharedRecord.objects.filter(customer_record=record, status=SharedRecord.Status.ACTIVE).first()
    if shared is None:
        return None
    hint = None if effective_policy(shared, record.tenant) == "OPEN" else access_code(shared)
    return {"url": link_url(shared), "host": link_host(), "accessHint": hint}


# --- Customers list / detail, gaps, usage ----------------------------------------------------------
def customers_page(records: QuerySet, *, search: str | None, page: int, limit: int) -> dict[str, Any]:
    from django.db.models import Q

    if search:
        records = records.filter(customer_id__icontains=search)
    live = ~Q(deltas__status=DeltaStatus.FAILED)
    records = records.annotate(
        n=Count("deltas", filter=live), first=Min("deltas__created_at", filter=live),
        last=Max("deltas__created_at", filter=live),
    ).order_by("customer_id", "id")
    total = records.count()
    rows = records[(page - 1) * limit : page * limit]
    customers = [
        {
            "customerId": r.customer_id,
            "customerRecordId": r.id,
            "vendorAccountId": r.vendor_account_id,
            "customerReference": customer_reference(r.customer_id, r.vendor_account_id),
            "totalDeltas": r.n,
            "firstDeltaAt": r.first,
            "lastDeltaAt": r.last,
        }
        for r in rows
    ]
    return {"customers": customers, "pagination": pagination(total, page, limit)}


def pagination(total: int, page: int, limit: int) -> dict[str, int]:
    return {"total": total, "page": page, "limit": limit, "totalPages": (total + limit - 1) // limit}


def customer_detail(
    record: CustomerRecord, *, delta_page: int, delta_limit: int, period_window: tuple | None
) -> dict[str, Any]:
    from records.services.checkpoints import checkpoint_payload

    activity = Delta.objects.filter(customer_record=record)
    if period_window is not None:
        activity = activity.filter(created_at__gte=period_window[0], created_at__lt=period_window[1])
    total = activity.count()
    rows = activity.order_by("-intake_sequence")[(delta_page - 1) * delta_limit : delta_page * delta_limit]
    checkpoint = latest_checkpoint(record)
    return {
        **customer_summary(record),
        "computedBalance": sum_of(record.deltas.filter(status=DeltaStatus.VERIFIED)),
        "latestCheckpoint": checkpoint_payload(checkpoint) if checkpoint else None,
        "recentActivity": {
            "items": [
                {
                    "recordId": d.record_id, "delta": amount_of(d), "reason": d.reason,
                    "referenceId": d.reference_id, "status": d.status, "time": d.created_at,
                    "verificationReference": d.verification_reference, "receiptId": d.proof_hash,
                }
                for d in rows
            ],
            "pagination": pagination(total, delta_page, delta_limit),
        },
    }


def chain_check(record: CustomerRecord, verified: list[Delta]) -> dict[str, Any]:
    """Recompute the proofHash links of these verified deltas (chainIndex order) from their contents."""
    from records.proofs import ZERO_HASH, proof_hash

    intact = True
    previous: str | None = None
    if verified and verified[0].chain_index:
        previous = (
            Delta.objects.filter(customer_record=record, chain_index=verified[0].chain_index - 1)
            .values_list("proof_hash", flat=True).first()
        )
    for delta in verified:
        expected_previous = to_hex(ZERO_HASH) if delta.chain_index == 0 else previous
        recomputed = to_hex(proof_hash(from_hex(delta.previous_proof_hash), from_hex(delta.content_hash)))
        intact = intact and delta.previous_proof_hash == expected_previous and recomputed == delta.proof_hash
        previous = delta.proof_hash
    return {
        "intact": intact,
        "length": len(verified),
        "head": verified[-1].proof_hash if verified else None,
    }


def gaps(record: CustomerRecord, *, from_sequence: int, to_sequence: int | None, limit: int) -> dict[str, Any]:
    last = record.last_intake_sequence
    upper = last if to_sequence is None else min(to_sequence, last)
    in_range = Delta.objects.filter(
        customer_record=record, intake_sequence__gte=from_sequence, intake_sequence__lte=upper
    )
    holes = in_range.exclude(status=DeltaStatus.VERIFIED).order_by("intake_sequence")[:limit]
    verified = list(in_range.filter(status=DeltaStatus.VERIFIED).order_by("chain_index"))
    return {
        "customerId": record.customer_id,
        "customerRecordId": record.id,
        "fromSequence": from_sequence,
        "toSequence": upper,
        "lastSequence": last,
        "gaps": [
            {"sequence": d.intake_sequence, "recordId": d.record_id, "status": d.status,
             "kind": "failed" if d.status == DeltaStatus.FAILED else "pending"}
            for d in holes
        ],
        "chain": {**chain_check(record, verified), "checkedFrom": from_sequence, "checkedTo": upper},
    }


def usage(*, tenant, environment: str, window: tuple[dt.datetime, dt.datetime], period: str) -> dict[str, Any]:
    counts = (
        Delta.objects.filter(tenant=tenant, environment=environment, created_at__gte=window[0], created_at__lt=window[1])
        .values("status").annotate(n=Count("id"))
    )
    by_status = {row["status"]: row["n"] for row in counts}
    return {
        "environment": environment,
        "period": period,
        "acceptedDeltas": sum(by_status.values()),
        "verifiedDeltas": by_status.get(DeltaStatus.VERIFIED, 0),
        "failedDeltas": by_status.get(DeltaStatus.FAILED, 0),
        "pendingDeltas": by_status.get(DeltaStatus.QUEUED, 0) + by_status.get(DeltaStatus.PROCESSING, 0),
        "allowed": True,
        "remaining": None,
        "limit": None,
    }


def limits() -> dict[str, Any]:
    from records import validation

    return {
        "maxScopeMonths": settings.MAX_SCOPE_MONTHS,
        "maxLastNDays": 730,
        "maxRetentionDays": None,
        "maxBatchSize": 1000,
        "maxMetadataBytes": validation.MAX_METADATA_BYTES,
        "maxReasonLength": validation.MAX_REASON_LENGTH,
        "maxReferenceIdLength": validation.MAX_REFERENCE_ID_LENGTH,
        "maxCustomerIdLength": 128,
        "maxAbsDelta": int(validation.MAX_ABS_DELTA),
        "deriveMaxLimit": 1000,
        "rateLimitPerMinute": settings.RATE_LIMIT_PER_MINUTE,
    }


# --- Receipts -------------------------------------------------------------------------------------
def window_checkpoint(record: CustomerRecord, start, end) -> Checkpoint | None:
    """The latest verified checkpoint of exactly this window."""
    return (
        Checkpoint.objects.filter(customer_record=record, status=Checkpoint.Status.VERIFIED,
                                  window_start=start, window_end=end)
        .select_related("customer_record").order_by("-verified_at", "-id").first()
    )


def window_summaries(verified: QuerySet) -> list[dict[str, Any]]:
    from django.db.models import Q

    rows = (
        verified.order_by().annotate(month=TruncMonth("created_at", tzinfo=dt.UTC)).values("month")
        .annotate(credits=Sum("amount", filter=Q(amount__gt=0)), debits=Sum("amount", filter=Q(amount__lt=0)),
                  n=Count("id"))
        .order_by("month")
    )
    summaries = []
    for row in rows:
        credits, debits = row["credits"] or Decimal(0), row["debits"] or Decimal(0)
        summaries.append({
            "period": row["month"].strftime("%Y-%m"), "totalCredits": credits, "totalDebits": debits,
            "netChange": credits + debits, "deltasCount": row["n"],
        })
    return summaries


def receipt(record: CustomerRecord, scope: Scope, now: dt.datetime) -> dict[str, Any]:
    from records.services.checkpoints import checkpoint_payload

    verified = verified_in(scoped_deltas(record, scope))
    checkpoint = window_checkpoint(record, scope.start, scope.end) if scope.start else None
    proof_root = checkpoint.proof_root if checkpoint else root_over(verified)
    head = verified.last()
    latest = latest_checkpoint(record)
    recent = list(verified.order_by("-chain_index")[:1000])
    count = verified.count()
    return {
        "customerId": record.customer_id,
        "customerRecordId": record.id,
        "vendorAccountId": record.vendor_account_id,
        "identity": identity(record),
        "generatedAt": now,
        "scope": scope.out(),
        "deltasCount": count,
        "finalBalance": sum_of(verified),
        "proofRoot": proof_root,
        "checkpointId": checkpoint.id if checkpoint else None,
        "receiptId": head.proof_hash if head else None,
        "latestCheckpoint": checkpoint_payload(latest) if latest else None,
        **invoice_links(record=record, proof_root=proof_root, publicly_verifiable=_public(checkpoint)),
        "windowSummaries": window_summaries(verified),
        "deltas": [delta_brief(d) for d in reversed(recent)],
        "deltasTruncated": count > len(recent),
    }


def _public(checkpoint: Checkpoint | None) -> bool:
    return checkpoint is not None and from_hex(checkpoint.proof_root) != bytes(32)


def invoice_proof(record: CustomerRecord, scope: Scope) -> dict[str, Any]:
    verified = verified_in(scoped_deltas(record, scope))
    checkpoint = window_checkpoint(record, scope.start, scope.end)
    proof_root = checkpoint.proof_root if checkpoint else root_over(verified)
    return {
        "customerId": record.customer_id,
        "customerRecordId": record.id,
        "vendorAccountId": record.vendor_account_id,
        "identity": identity(record),
        "period": scope.period,
        "windowStart": scope.start,
        "windowEnd": scope.end,
        "proofRoot": proof_root,
        "checkpointId": checkpoint.id if checkpoint else None,
        "verificationReference": checkpoint.verification_reference if checkpoint else None,
        "deltasCount": checkpoint.record_count if checkpoint else verified.count(),
        "netChange": checkpoint.net_change if checkpoint else sum_of(verified),
        "publiclyVerifiable": _public(checkpoint),
        **invoice_links(record=record, proof_root=proof_root, publicly_verifiable=_public(checkpoint)),
    }
