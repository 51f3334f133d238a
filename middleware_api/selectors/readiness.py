"""Invoice readiness per customer record and period (api.md §4.3): blockers, remediation, signals.

The blocker inputs are SQL annotations, so the status filter, the summary and the page come from the
same numbers; a page then costs a constant number of queries whatever its size.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from middleware_api.selectors.access_log import LogStat, access_log_stats, signals_out
from middleware_api.selectors.customers import API, code_status, customer_paths, is_active
from pacspace.api import Page
from records.models import Checkpoint, CustomerRecord, Delta, DeltaStatus, SharedRecord, Tenant
from records.scopes import period_window
from records.services.shared_records import effective_policy, link_url

PENDING = (DeltaStatus.QUEUED, DeltaStatus.PROCESSING)


def _count_of(deltas: QuerySet) -> Coalesce:
    """A correlated COUNT(*) — not an aggregate of the outer query, so the outer query can still aggregate."""
    counted = deltas.order_by().values("customer_record").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def period_checkpoints(start: dt.datetime, end: dt.datetime) -> QuerySet:
    """The checkpoints of exactly this window, newest first; FAILED ones count as never committed."""
    return (
        Checkpoint.objects.filter(window_start=start, window_end=end)
        .exclude(status=Checkpoint.Status.FAILED).order_by("-created_at", "-id")
    )


def readiness_annotated(records: QuerySet, period: str) -> QuerySet:
    """Records annotated with every input of the blocker rules and the resulting `is_blocked`, in SQL,
    so the status filter, the summary and the page all come from the same numbers."""
    start, end = period_window(period)
    deltas = Delta.objects.filter(customer_record=OuterRef("pk"), created_at__gte=start, created_at__lt=end)
    checkpoints = period_checkpoints(start, end).filter(customer_record=OuterRef("pk"))
    verified = checkpoints.filter(status=Checkpoint.Status.VERIFIED)
    annotated = records.annotate(
        pending_count=_count_of(deltas.filter(status__in=PENDING)),
        checkpoint_ref=Subquery(checkpoints.values("pk")[:1]),
        checkpoint_status=Subquery(checkpoints.values("status")[:1]),
        verified_cutoff=Subquery(verified.values("cutoff_sequence")[:1]),
    ).annotate(
        # A verified checkpoint covers the window's verified deltas accepted up to its cutoff.
        uncovered_count=_count_of(deltas.filter(status=DeltaStatus.VERIFIED,
                                                intake_sequence__gt=OuterRef("verified_cutoff"))),
    )
    blocked = (
        Q(pending_count__gt=0) | Q(checkpoint_ref__isnull=True) | Q(checkpoint_status=Checkpoint.Status.QUEUED)
        | Q(uncovered_count__gt=0) | Q(shared_record__status=SharedRecord.Status.REVOKED)
    )
    return annotated.annotate(is_blocked=ExpressionWrapper(blocked, output_field=BooleanField()))


def readiness_candidates(records: QuerySet, period: str) -> QuerySet:
    """Rows exist for records with a non-FAILED delta in the period or a checkpoint for it."""
    start, end = period_window(period)
    deltas = Delta.objects.filter(customer_record=OuterRef("pk"), created_at__gte=start, created_at__lt=end)
    checkpoints = period_checkpoints(start, end).filter(customer_record=OuterRef("pk"))
    return records.filter(Exists(deltas.exclude(status=DeltaStatus.FAILED)) | Exists(checkpoints))


def _remediation(action: str, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
    return {"action": action, "method": method, "path": path, "body": body}


def _blocker(code: str, message: str, remediation: dict[str, Any], count: int | None = None) -> dict[str, Any]:
    blocker: dict[str, Any] = {"code": code, "message": message}
    if count is not None:
        blocker["count"] = count
    blocker["remediation"] = remediation
    return blocker


def blockers_of(row: CustomerRecord, period: str) -> list[dict[str, Any]]:
    """The blocker list of one annotated row (`readiness_annotated`), in the spec's order."""
    commit = _remediation("commit_checkpoint", "POST", f"{API}/balance/checkpoint", {
        "vendorAccountId": row.vendor_account_id, "customerId": row.customer_id, "period": period})
    blockers = []
    if row.pending_count:
        # Sealing follows acceptance order: once the newest pending delta is terminal, all are.
        wait = _remediation("wait", "GET", f"{API}/balance/delta/{row.newest_pending}")
        blockers.append(_blocker("RECORDS_PENDING", f"{row.pending_count} record(s) of {period} are not verified yet",
                                 wait, row.pending_count))
    if row.checkpoint_ref is None:
        blockers.append(_blocker("NO_CHECKPOINT", f"No checkpoint has been committed for {period}", commit))
    elif row.checkpoint_status == Checkpoint.Status.QUEUED:
        wait = _remediation("wait", "GET", f"{API}/balance/checkpoints/{row.checkpoint_ref}")
        blockers.append(_blocker("CHECKPOINT_PENDING", f"The checkpoint for {period} is not verified yet", wait))
    if row.uncovered_count:
        blockers.append(_blocker("RECORDS_NOT_COVERED", f"{row.uncovered_count} verified record(s) of {period} are "
                                 "not covered by its checkpoint", commit, row.uncovered_count))
    if row.link_status == SharedRecord.Status.REVOKED:
        reissue = _remediation("reissue_link", "POST", f"{customer_paths(row.id)['accessLink']}/reissue", {})
        blockers.append(_blocker("LINK_REVOKED", "The Shared Record link is revoked", reissue))
    return blockers


def _with_row_fields(rows: QuerySet, period: str) -> QuerySet:
    """What only page rows need: the newest pending delta (the object to poll) and the link."""
    start, end = period_window(period)
    pending = Delta.objects.filter(customer_record=OuterRef("pk"), created_at__gte=start, created_at__lt=end,
                                   status__in=PENDING).order_by("-id")
    return rows.select_related("vendor_account", "shared_record").annotate(
        newest_pending=Subquery(pending.values("record_id")[:1]),
        link_status=Coalesce("shared_record__status", Value(SharedRecord.Status.ACTIVE)),
    )


def period_blockers(record: CustomerRecord, period: str) -> list[dict[str, Any]]:
    row = _with_row_fields(readiness_annotated(CustomerRecord.objects.filter(pk=record.pk), period), period).get()
    return blockers_of(row, period)


def _coverage(record_ids: list[str], start: dt.datetime, end: dt.datetime) -> dict[str, dict[str, int]]:
    verified = Q(status=DeltaStatus.VERIFIED)
    rows = (
        Delta.objects.filter(customer_record_id__in=record_ids, created_at__gte=start, created_at__lt=end)
        .order_by().values("customer_record_id")
        .annotate(recording=Count("pk", filter=Q(status__in=PENDING)),
                  recorded=Count("pk", filter=verified & Q(checkpoint__isnull=True)),
                  verified=Count("pk", filter=verified & Q(checkpoint__isnull=False)),
                  failed=Count("pk", filter=Q(status=DeltaStatus.FAILED)))
    )
    coverage = {}
    for row in rows:
        counts = {"recordingCount": row["recording"], "recordedCount": row["recorded"],
                  "verifiedCount": row["verified"], "failedCount": row["failed"]}
        coverage[row["customer_record_id"]] = {
            "recordCount": counts["recordingCount"] + counts["recordedCount"] + counts["verifiedCount"], **counts}
    return coverage


EMPTY_COVERAGE = {"recordCount": 0, "recordingCount": 0, "recordedCount": 0, "verifiedCount": 0, "failedCount": 0}


def _checkpoint_brief(checkpoint: Checkpoint | None) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    verified = checkpoint.status == Checkpoint.Status.VERIFIED
    return {"checkpointId": checkpoint.id, "status": checkpoint.status,
            "proofRoot": checkpoint.proof_root if verified else None,
            "verificationReference": checkpoint.verification_reference if verified else None}


def _readiness_row(row: CustomerRecord, period: str, tenant: Tenant, checkpoint: Checkpoint | None,
                   coverage: dict[str, int], stats: dict[str, LogStat]) -> dict[str, Any]:
    blockers = blockers_of(row, period)
    shared = row.shared_record if hasattr(row, "shared_record") else None
    policy = effective_policy(shared, tenant) if shared else (tenant.default_shared_record_policy
                                                              or settings.DEFAULT_SHARED_RECORD_POLICY)
    return {
        "customerId": row.id,
        "externalCustomerId": row.customer_id,
        "vendorAccountId": row.vendor_account_id,
        "period": period,
        "status": "blocked" if blockers else "ready",
        "checkpoint": _checkpoint_brief(checkpoint),
        "coverage": coverage,
        "link": {"status": row.link_status, "url": link_url(shared) if is_active(shared) else None},
        "accessCode": {"status": code_status(policy)},
        "blockers": blockers,
        "signals": signals_out(stats),
    }


def readiness_page(records: QuerySet, *, period: str, status: str | None, page: Page, tenant: Tenant) -> dict:
    """One row per candidate record: the summary, then the page, then three batched lookups for its rows."""
    annotated = readiness_annotated(readiness_candidates(records, period), period)
    # The summary ignores the status filter so both tab counts stay visible while one tab is open.
    summary = annotated.aggregate(blocked=Count("pk", filter=Q(is_blocked=True)), total=Count("pk"))
    ready, blocked = summary["total"] - summary["blocked"], summary["blocked"]
    if status:
        annotated = annotated.filter(is_blocked=status == "blocked")
    ordered = _with_row_fields(annotated, period).order_by(
        "vendor_account__created_at", "vendor_account_id", "customer_id", "id")
    rows = list(ordered[page.offset : page.offset + page.limit])
    ids = [row.id for row in rows]
    start, end = period_window(period)
    checkpoints = Checkpoint.objects.in_bulk([row.checkpoint_ref for row in rows if row.checkpoint_ref])
    coverage = _coverage(ids, start, end)
    stats = access_log_stats(ids, start)
    items = [
        _readiness_row(row, period, tenant, checkpoints.get(row.checkpoint_ref),
                       coverage.get(row.id, EMPTY_COVERAGE), stats.get(row.id, {}))
        for row in rows
    ]
    total = {"ready": ready, "blocked": blocked}.get(status or "", ready + blocked)
    return {**page.envelope(items, total), "period": period, "summary": {"ready": ready, "blocked": blocked}}
