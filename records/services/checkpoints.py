"""Checkpoints (api.md §2.6, proofs.md §5): commit a window of one record, verify it once settled.

A checkpoint is append-only. It covers the VERIFIED deltas of its record with `createdAt` in the
window and `intakeSequence` ≤ its cutoff; it stays QUEUED until every such delta is terminal, and the
seal worker (under the log lock) computes its root, totals and verification reference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from pacspace.errors import DomainError
from records.locks import write_serialization
from records.models import Checkpoint, CustomerRecord, Delta, DeltaStatus, LogState, Tenant, VendorAccount
from records.proofs import MerkleRootBuilder, from_hex, to_hex
from records.scopes import Scope
from records.services.log import latest_head, log_lock
from webhooks.services import event_record

STREAM_CHUNK = 5000


@dataclass
class CommitResult:
    checkpoint: Checkpoint
    idempotent: bool


def _window_deltas(record_id: str, start: dt.datetime, end: dt.datetime) -> QuerySet:
    return Delta.objects.filter(customer_record_id=record_id, created_at__gte=start, created_at__lt=end)


def _covers_everything(checkpoint: Checkpoint, record: CustomerRecord) -> bool:
    """True when no non-FAILED delta of the window was accepted after the checkpoint's cutoff."""
    later = _window_deltas(record.pk, checkpoint.window_start, checkpoint.window_end).filter(
        intake_sequence__gt=checkpoint.cutoff_sequence
    )
    return not later.exclude(status=DeltaStatus.FAILED).exists()


def checkpoint_commit_one(*, record: CustomerRecord, scope: Scope, now: dt.datetime | None = None) -> CommitResult:
    """Return the existing checkpoint of this window that covers every accepted delta, or commit one."""
    now = now or timezone.now()
    latest = (
        Checkpoint.objects.filter(customer_record=record, window_start=scope.start, window_end=scope.end)
        .exclude(status=Checkpoint.Status.FAILED)
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is not None and _covers_everything(latest, record):
        return CommitResult(latest, idempotent=True)
    checkpoint = Checkpoint.objects.create(
        tenant_id=record.tenant_id,
        environment=record.environment,
        customer_record=record,
        vendor_account_id=record.vendor_account_id,
        period=scope.period or "",
        window_start=scope.start,
        window_end=scope.end,
        cutoff_at=now,
        cutoff_sequence=record.last_intake_sequence,
        created_at=now,
        supersedes=latest,
    )
    return CommitResult(checkpoint, idempotent=False)


def checkpoints_commit(
    *, tenant: Tenant, environment: str, vendor: VendorAccount | None, customer_id: str | None, scope: Scope,
) -> list[CommitResult]:
    """One checkpoint for the named customer, or for every record with a non-FAILED delta in the window.

    Takes the log lock before any record lock (the seal worker's order) and verifies at once every new
    checkpoint whose deltas are already terminal; the others stay QUEUED for the seal worker.
    """
    with write_serialization(), transaction.atomic():
        log_lock(tenant, environment)
        records = CustomerRecord.objects.filter(tenant=tenant, environment=environment, vendor_account=vendor)
        if customer_id is not None:
            record = records.select_for_update().filter(customer_id=customer_id).first()
            if record is None:
                raise DomainError("CUSTOMER_NOT_FOUND", "No customer record for this customerId")
            targets = [record]
        else:
            active = Delta.objects.filter(
                tenant=tenant, environment=environment, created_at__gte=scope.start, created_at__lt=scope.end
            ).exclude(status=DeltaStatus.FAILED)
            ids = active.values_list("customer_record_id", flat=True).distinct()
            targets = list(records.select_for_update().filter(pk__in=ids).order_by("customer_id"))
        results = [checkpoint_commit_one(record=record, scope=scope) for record in targets]
        for result in results:
            if not result.idempotent and _is_settled(result.checkpoint):
                checkpoint_verify(result.checkpoint)
        if any(r.checkpoint.status == Checkpoint.Status.QUEUED for r in results):
            _schedule_seal(tenant.id, environment)
    return results


def _schedule_seal(tenant_id: str, environment: str) -> None:
    from records.tasks import seal_soon

    transaction.on_commit(lambda: seal_soon(tenant_id, environment))


def _is_settled(checkpoint: Checkpoint) -> bool:
    pending = _window_deltas(checkpoint.customer_record_id, checkpoint.window_start, checkpoint.window_end).filter(
        intake_sequence__lte=checkpoint.cutoff_sequence, status__in=[DeltaStatus.QUEUED, DeltaStatus.PROCESSING]
    )
    return not pending.exists()


def covered_deltas(checkpoint: Checkpoint) -> QuerySet:
    """The deltas a checkpoint covers, in chainIndex order."""
    return (
        _window_deltas(checkpoint.customer_record_id, checkpoint.window_start, checkpoint.window_end)
        .filter(intake_sequence__lte=checkpoint.cutoff_sequence, status=DeltaStatus.VERIFIED)
        .order_by("chain_index")
    )


def _compute(checkpoint: Checkpoint) -> None:
    """Stream the covered rows (constant memory for millions) into root, count and totals."""
    builder = MerkleRootBuilder()
    credits, debits = Decimal(0), Decimal(0)
    first = last = first_chain = last_chain = None
    rows = covered_deltas(checkpoint).values_list("content_hash", "amount", "leaf_index", "chain_index")
    for content, amount, leaf_index, chain_index in rows.iterator(chunk_size=STREAM_CHUNK):
        builder.add(from_hex(content))
        if amount > 0:
            credits += amount
        else:
            debits += amount
        first = leaf_index if first is None else min(first, leaf_index)
        last = leaf_index if last is None else max(last, leaf_index)
        first_chain = chain_index if first_chain is None else first_chain
        last_chain = chain_index
    checkpoint.record_count = len(builder)
    checkpoint.credits, checkpoint.debits, checkpoint.net_change = credits, debits, credits + debits
    checkpoint.proof_root = to_hex(builder.root())
    checkpoint.first_leaf_index, checkpoint.last_leaf_index = first, last
    checkpoint.first_chain_index, checkpoint.last_chain_index = first_chain, last_chain


def checkpoint_verify(checkpoint: Checkpoint, *, now: dt.datetime | None = None) -> None:
    """Under the log lock: compute, mark VERIFIED, mark covered deltas, record the two events."""
    _compute(checkpoint)
    head = latest_head(checkpoint.tenant_id, checkpoint.environment)
    checkpoint.tree_size = head.tree_size if head else None
    checkpoint.verification_reference = head.reference if head else None
    checkpoint.status = Checkpoint.Status.VERIFIED
    checkpoint.verified_at = now or timezone.now()
    checkpoint.coverage_marked = checkpoint.record_count <= settings.CHECKPOINT_INLINE_MARK_LIMIT
    checkpoint.save()
    if checkpoint.coverage_marked:
        covered_deltas(checkpoint).filter(checkpoint__isnull=True).update(checkpoint=checkpoint)
    else:
        _schedule_marking(checkpoint.id)
    if checkpoint.supersedes_id:
        Checkpoint.objects.filter(pk=checkpoint.supersedes_id).update(superseded_by=checkpoint)
    _checkpoint_events(checkpoint)


MARK_CHUNK = 20_000


def _schedule_marking(checkpoint_id: str) -> None:
    from records.tasks import mark_checkpoint_coverage

    transaction.on_commit(lambda: mark_checkpoint_coverage.delay(checkpoint_id))


def checkpoint_mark_coverage(*, checkpoint_id: str, chunk: int = MARK_CHUNK) -> int:
    """Set `checkpointId` on a large checkpoint's covered deltas, one bounded transaction per chunk.

    Covered deltas are exactly the record's chain segment [first_chain_index, last_chain_index]
    (sealing keeps acceptance order, so a window's deltas up to the cutoff are contiguous in the chain).
    Idempotent: rows that already name a checkpoint keep it, and a rerun resumes where one stopped.
    """
    checkpoint = Checkpoint.objects.get(pk=checkpoint_id)
    if checkpoint.coverage_marked or checkpoint.status != Checkpoint.Status.VERIFIED:
        return 0
    marked = 0
    if checkpoint.first_chain_index is not None:
        for start in range(checkpoint.first_chain_index, checkpoint.last_chain_index + 1, chunk):
            with transaction.atomic():
                marked += Delta.objects.filter(
                    customer_record_id=checkpoint.customer_record_id, status=DeltaStatus.VERIFIED,
                    chain_index__gte=start, chain_index__lte=min(start + chunk - 1, checkpoint.last_chain_index),
                    checkpoint__isnull=True,
                ).update(checkpoint=checkpoint)
    Checkpoint.objects.filter(pk=checkpoint.pk).update(coverage_marked=True)
    return marked


def checkpoints_settle(*, log: LogState) -> int:
    """Verify every QUEUED checkpoint of the locked log whose coverage is settled."""
    queued = Checkpoint.objects.filter(
        tenant_id=log.tenant_id, environment=log.environment, status=Checkpoint.Status.QUEUED
    ).order_by("created_at", "id")
    settled = [checkpoint for checkpoint in queued if _is_settled(checkpoint)]
    for checkpoint in settled:
        checkpoint_verify(checkpoint)
    return len(settled)


def checkpoint_payload(checkpoint: Checkpoint) -> dict[str, Any]:
    """The Checkpoint object of api.md §1.12 (also the checkpoint.verified event data)."""
    verified = checkpoint.status == Checkpoint.Status.VERIFIED
    return {
        "checkpointId": checkpoint.id,
        "status": checkpoint.status,
        "customerId": checkpoint.customer_record.customer_id,
        "customerRecordId": checkpoint.customer_record_id,
        "vendorAccountId": checkpoint.vendor_account_id,
        "period": checkpoint.period or None,
        "windowStart": checkpoint.window_start,
        "windowEnd": checkpoint.window_end,
        "cutoffAt": checkpoint.cutoff_at,
        "coveredThrough": min(checkpoint.window_end, checkpoint.cutoff_at),
        "recordCount": checkpoint.record_count if verified else None,
        "credits": checkpoint.credits if verified else None,
        "debits": checkpoint.debits if verified else None,
        "netChange": checkpoint.net_change if verified else None,
        "proofRoot": checkpoint.proof_root if verified else None,
        "verificationReference": checkpoint.verification_reference if verified else None,
        "treeSize": checkpoint.tree_size if verified else None,
        "createdAt": checkpoint.created_at,
        "verifiedAt": checkpoint.verified_at,
        "supersedes": checkpoint.supersedes_id,
        "supersededBy": checkpoint.superseded_by_id,
    }


def receipt_links(checkpoint: Checkpoint) -> dict[str, str | None]:
    """The four link keys of api.md §2.12 for a verified checkpoint (Shared Record links when one exists)."""
    from records.selectors import invoice_links

    return invoice_links(record=checkpoint.customer_record, proof_root=checkpoint.proof_root, publicly_verifiable=(
        checkpoint.status == Checkpoint.Status.VERIFIED and from_hex(checkpoint.proof_root) != bytes(32)))


def _checkpoint_events(checkpoint: Checkpoint) -> None:
    payload = checkpoint_payload(checkpoint)
    event_data = {key: payload[key] for key in (
        "checkpointId", "status", "customerId", "customerRecordId", "vendorAccountId", "period", "windowStart",
        "windowEnd", "coveredThrough", "recordCount", "credits", "debits", "netChange", "proofRoot",
        "verificationReference", "treeSize", "createdAt", "verifiedAt", "supersedes")}
    event_data["status"] = "verified"
    event_record(tenant_id=checkpoint.tenant_id, environment=checkpoint.environment,
                 event_type="checkpoint.verified", data=event_data)
    links = receipt_links(checkpoint)
    event_record(
        tenant_id=checkpoint.tenant_id, environment=checkpoint.environment, event_type="receipt.generated",
        data={
            "receiptId": checkpoint.id,
            "checkpointId": checkpoint.id,
            "customerId": payload["customerId"],
            "customerRecordId": checkpoint.customer_record_id,
            "vendorAccountId": checkpoint.vendor_account_id,
            "period": payload["period"],
            "proofRoot": checkpoint.proof_root,
            "verificationReference": checkpoint.verification_reference,
            "verifyUrl": links["verifyUrl"],
            "verificationApiUrl": links["verificationApiUrl"],
            "customerLinkUrl": links["customerLinkUrl"],
            "customerLinkHost": links["customerLinkHost"],
            "generatedAt": checkpoint.verified_at,
        },
    )


