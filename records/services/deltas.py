"""Accepting deltas (api.md §2.1–2.2): validation outcome per item, one transaction per request.

Per customer record the row lock orders intake: `intakeSequence` is contiguous and `createdAt`
never decreases. `referenceId` dedupe happens under that lock and is backed by a partial unique index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from pacspace.errors import DomainError
from pacspace.metrics import DELTAS_ACCEPTED
from records.locks import write_serialization
from records.models import CustomerRecord, Delta, DeltaStatus, Tenant, VendorAccount
from records.proofs import canonical_item, content_hash, format_timestamp, to_hex
from records.services.shared_records import shared_record_create
from records.validation import DeltaItem, ItemInvalid
from webhooks.services import event_record


@dataclass
class Outcome:
    """What happened to one submitted item: a new delta, a replay of an existing one, or an error."""

    index: int
    delta: Delta | None = None
    replayed: bool = False
    error: DomainError | None = None


def _now_ms() -> dt.datetime:
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _lock_records(
    tenant: Tenant, environment: str, vendor: VendorAccount | None, customer_ids: list[str]
) -> tuple[dict[str, CustomerRecord], list[CustomerRecord]]:
    """Lock (creating where missing) the records of these customers, always in customerId order."""
    scoped = CustomerRecord.objects.filter(tenant=tenant, environment=environment, vendor_account=vendor)
    records = {
        r.customer_id: r for r in scoped.select_for_update().filter(customer_id__in=customer_ids).order_by("customer_id")
    }
    created: list[CustomerRecord] = []
    for customer_id in sorted(set(customer_ids) - set(records)):
        try:
            with transaction.atomic():
                record = CustomerRecord.objects.create(
                    tenant=tenant, environment=environment, vendor_account=vendor, customer_id=customer_id
                )
            created.append(record)
        except IntegrityError:  # a concurrent first delta created it; take its lock instead
            record = scoped.select_for_update().get(customer_id=customer_id)
        records[customer_id] = record
    return records, created


def _existing_by_reference(records: dict[str, CustomerRecord], references: set[str]) -> dict[tuple[str, str], Delta]:
    if not references:
        return {}
    rows = Delta.objects.filter(customer_record__in=list(records.values()), reference_id__in=references).exclude(
        status=DeltaStatus.FAILED
    )
    return {(row.customer_record_id, row.reference_id): row for row in rows}


def _existing_by_record_id(records: dict[str, CustomerRecord], record_ids: set[str]) -> dict[str, Delta]:
    if not record_ids:
        return {}
    rows = Delta.objects.filter(customer_record__in=list(records.values()), record_id__in=record_ids)
    return {row.record_id: row for row in rows}


class _Intake:
    """In-memory view of one request's intake: lookups see rows accepted earlier in the request."""

    def __init__(self, records: dict[str, CustomerRecord], items: list[DeltaItem]) -> None:
        references = {i.reference_id for i in items if i.reference_id}
        references |= {i.adjusts["referenceId"] for i in items if i.adjusts and "referenceId" in i.adjusts}
        record_ids = {i.adjusts["recordId"] for i in items if i.adjusts and "recordId" in i.adjusts}
        self.by_reference = _existing_by_reference(records, references)
        self.by_record_id = _existing_by_record_id(records, record_ids)
        self.pending: list[Delta] = []

    def adjusts_target(self, record: CustomerRecord, adjusts: dict[str, str]) -> Delta | None:
        if "recordId" in adjusts:
            target = self.by_record_id.get(adjusts["recordId"])
            target = target if target is not None and target.customer_record_id == record.pk else None
        else:
            target = self.by_reference.get((record.pk, adjusts["referenceId"]))
        return target if target is not None and target.status != DeltaStatus.FAILED else None

    def add(self, delta: Delta) -> None:
        self.pending.append(delta)
        self.by_record_id[delta.record_id] = delta
        if delta.reference_id:
            self.by_reference[(delta.customer_record_id, delta.reference_id)] = delta

    def flush(self) -> None:
        if self.pending:
            Delta.objects.bulk_create(self.pending)
            self.pending = []


def _build_delta(
    item: DeltaItem, record: CustomerRecord, vendor: VendorAccount | None, target: Delta | None,
    created_at: dt.datetime,
) -> Delta:
    record.last_intake_sequence += 1
    created = max(created_at, record.last_created_at) if record.last_created_at else created_at
    record.last_created_at = created
    canonical = canonical_item(
        adjusts=item.adjusts,
        created_at=format_timestamp(created),
        customer_id=item.customer_id,
        delta=item.amount,
        metadata=item.metadata,
        reason=item.reason,
        reference_id=item.reference_id,
        vendor_account_id=vendor.id if vendor else None,
    )
    return Delta(
        tenant_id=record.tenant_id,
        environment=record.environment,
        customer_record=record,
        vendor_account=vendor,
        customer_id=item.customer_id,
        delta_text=item.delta_text,
        amount=item.amount,
        reason=item.reason,
        reference_id=item.reference_id,
        metadata_json=item.metadata_json,
        adjusts_json=item.adjusts_json,
        adjusts_delta=target,
        intake_sequence=record.last_intake_sequence,
        created_at=created,
        content_hash=to_hex(content_hash(canonical)),
    )


def _accept_one(
    index: int, item: DeltaItem, record: CustomerRecord, vendor: VendorAccount | None, intake: _Intake,
    created_at: dt.datetime,
) -> Outcome:
    target = None
    if item.adjusts is not None:
        target = intake.adjusts_target(record, item.adjusts)
        if target is None:
            return Outcome(index, error=DomainError(
                "ADJUSTS_TARGET_NOT_FOUND", "adjusts names no QUEUED, PROCESSING or VERIFIED delta of this customer"))
        if target.pk is None:  # an earlier item of this request: it must exist before the FK points at it
            intake.flush()
    if item.reference_id is not None:
        existing = intake.by_reference.get((record.pk, item.reference_id))
        if existing is not None:
            same = existing.vendor_account_id == (vendor.id if vendor else None) and _content_key(existing) == item.content_key()
            if same:
                return Outcome(index, delta=existing, replayed=True)
            return Outcome(index, error=DomainError(
                "REFERENCE_CONFLICT", "referenceId already used with different content",
                details={"recordId": existing.record_id}))
    delta = _build_delta(item, record, vendor, target, created_at)
    intake.add(delta)
    return Outcome(index, delta=delta)


def _content_key(delta: Delta) -> tuple:
    return (delta.customer_id, delta.delta_text, delta.reason, delta.reference_id, delta.metadata_json, delta.adjusts_json)


def deltas_accept(
    *, tenant: Tenant, environment: str, vendor: VendorAccount | None, items: list[DeltaItem | ItemInvalid],
    actor: dict[str, Any], created_at: dt.datetime | None = None,
) -> list[Outcome]:
    """Accept items in order in one transaction; a bad item fails alone, never the others."""
    valid = [item for item in items if isinstance(item, DeltaItem)]
    with write_serialization(), transaction.atomic():
        records, created = _lock_records(tenant, environment, vendor, [i.customer_id for i in valid])
        intake = _Intake(records, valid)
        moment = created_at or _now_ms()
        outcomes = [
            Outcome(index, error=item.as_error()) if isinstance(item, ItemInvalid)
            else _accept_one(index, item, records[item.customer_id], vendor, intake, moment)
            for index, item in enumerate(items)
        ]
        intake.flush()
        _save_intake_heads([r for r in records.values() if r.last_created_at is not None])
        # A record exists only once a delta was accepted for it: drop the ones whose items all failed.
        unused = [r.pk for r in created if r.last_intake_sequence == 0]
        CustomerRecord.objects.filter(pk__in=unused).delete()
        for record in created:
            if record.pk not in unused:
                shared_record_create(record)
                _customer_created(record, actor)
        accepted = sum(1 for o in outcomes if o.delta is not None and not o.replayed)
        if accepted:
            DELTAS_ACCEPTED.labels(environment=environment).inc(accepted)
            _schedule_seal(tenant.id, environment)
    return outcomes


def _save_intake_heads(records: list[CustomerRecord]) -> None:
    """A plain UPDATE for the common single-customer emit; bulk_update's CASE form for batches."""
    if len(records) == 1:
        (record,) = records
        CustomerRecord.objects.filter(pk=record.pk).update(
            last_intake_sequence=record.last_intake_sequence, last_created_at=record.last_created_at)
    elif records:
        CustomerRecord.objects.bulk_update(records, ["last_intake_sequence", "last_created_at"])


def _customer_created(record: CustomerRecord, actor: dict[str, Any]) -> None:
    event_record(
        tenant_id=record.tenant_id,
        environment=record.environment,
        event_type="customer.created",
        data={
            "customerId": record.id,
            "externalCustomerId": record.customer_id,
            "vendorAccountId": record.vendor_account_id,
            "occurredAt": format_timestamp(record.created_at),
            "actor": actor,
        },
    )


def _schedule_seal(tenant_id: str, environment: str) -> None:
    from records.tasks import seal_soon  # tasks import services; import here to keep that direction

    transaction.on_commit(lambda: seal_soon(tenant_id, environment))
