"""Accepting deltas (api.md §2.1–2.2): validation outcome per item, one transaction per request.

Per customer record the row lock orders intake: `intakeSequence` is contiguous and `createdAt`
never decreases. `referenceId` dedupe happens under that lock and is backed by a partial unique index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from pacspace.errors import DomainError
from pacspace.metrics import DELTAS_ACCEPTED
from pacspace.rows import Inserter, Rows, for_update, pipelined, placeholders, quote
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


RECORDS = Rows(CustomerRecord, "r")
DELTAS = Rows(Delta, "d")
DELTA_INSERT = Inserter(Delta)
HEAD_UPDATE = (
    f"UPDATE {quote(CustomerRecord._meta.db_table)} SET last_intake_sequence = %s, last_created_at = %s"
    " WHERE id = %s"
)
_HEAD_TIME = CustomerRecord._meta.get_field("last_created_at")


@dataclass(frozen=True)
class _Scope:
    """The customer records one request writes to: a tenant, an environment and a vendor account (or none).

    Its statements are hand-written (pacspace.rows): they run on every emit."""

    tenant: Tenant
    environment: str
    vendor: VendorAccount | None

    def _where(self, customer_ids: list[str]) -> tuple[str, list[Any]]:
        vendor = "r.vendor_account_id = %s" if self.vendor else "r.vendor_account_id IS NULL"
        sql = (
            f"r.tenant_id = %s AND r.environment = %s AND {vendor}"
            f" AND r.customer_id IN ({placeholders(len(customer_ids))})"
        )
        vendor_params = [self.vendor.id] if self.vendor else []
        return sql, [self.tenant.id, self.environment, *vendor_params, *customer_ids]

    def send_lock(self, customer_ids: list[str]):
        """Lock the existing records of these customers, in customerId order (the global lock order)."""
        where, params = self._where(customer_ids)
        sql = f"SELECT {RECORDS.columns} FROM {RECORDS.table} WHERE {where} ORDER BY r.customer_id"
        sql += for_update()
        return RECORDS.send(sql, params)

    def send_deltas(self, customer_ids: list[str], column: str, values: set[str], *, live: bool = False):
        """Deltas of these customers whose `column` is one of `values`; `live` leaves FAILED ones out (and
        lets PostgreSQL use the partial referenceId index)."""
        if not values or not customer_ids:
            return None
        where, params = self._where(customer_ids)
        sql = (
            f"SELECT {DELTAS.columns} FROM {DELTAS.table} JOIN {RECORDS.table} ON r.id = d.customer_record_id"
            f" WHERE {where} AND d.{column} IN ({placeholders(len(values))})"
            + (f" AND d.status <> '{DeltaStatus.FAILED}'" if live else "")
        )
        return DELTAS.send(sql, [*params, *values])

    def create(self, customer_id: str) -> CustomerRecord | None:
        """A new, locked record; None when a concurrent first delta created it first."""
        try:
            with transaction.atomic():
                return CustomerRecord.objects.create(
                    tenant=self.tenant, environment=self.environment, vendor_account=self.vendor,
                    customer_id=customer_id,
                )
        except IntegrityError:
            return None


def _open_intake(
    scope: _Scope, items: list[DeltaItem]
) -> tuple[dict[str, CustomerRecord], list[CustomerRecord], _Intake]:
    """Lock the items' records and read the deltas they name: one round trip when every record exists.

    The reads run after the lock statement (pipelined statements execute in order, each with a fresh
    snapshot), so they see every delta committed by an intake that held a lock before us. A customer's
    first delta creates its record and then reads again, under every lock."""
    customer_ids = sorted({i.customer_id for i in items})
    references = {i.reference_id for i in items if i.reference_id}
    references |= {i.adjusts["referenceId"] for i in items if i.adjusts and "referenceId" in i.adjusts}
    record_ids = {i.adjusts["recordId"] for i in items if i.adjusts and "recordId" in i.adjusts}

    def read(locking: list[str]):
        return (
            scope.send_lock(locking) if locking else None,
            scope.send_deltas(customer_ids, "reference_id", references, live=True),
            scope.send_deltas(customer_ids, "record_id", record_ids),
        )

    with pipelined():
        locked, by_reference, by_record_id = read(customer_ids)
        records = {r.customer_id: r for r in RECORDS.receive(locked)}
        found = DELTAS.receive(by_reference), DELTAS.receive(by_record_id)
    created: list[CustomerRecord] = []
    if len(records) < len(customer_ids):
        for customer_id in (c for c in customer_ids if c not in records):
            record = scope.create(customer_id)
            if record is None:  # created concurrently: take its lock instead
                (record,) = RECORDS.receive(scope.send_lock([customer_id]))
            else:
                created.append(record)
            records[customer_id] = record
        _, by_reference, by_record_id = read([])
        found = DELTAS.receive(by_reference), DELTAS.receive(by_record_id)
    return records, created, _Intake(*found)


class _Intake:
    """In-memory view of one request's intake: lookups see rows accepted earlier in the request."""

    def __init__(self, by_reference: list[Delta], by_record_id: list[Delta]) -> None:
        self.by_reference = {(d.customer_record_id, d.reference_id): d for d in by_reference}
        self.by_record_id = {d.record_id: d for d in by_record_id}
        self.pending: list[Delta] = []
        self.touched: dict[str, CustomerRecord] = {}

    def adjusts_target(self, record: CustomerRecord, adjusts: dict[str, str]) -> Delta | None:
        if "recordId" in adjusts:
            target = self.by_record_id.get(adjusts["recordId"])
            target = target if target is not None and target.customer_record_id == record.pk else None
        else:
            target = self.by_reference.get((record.pk, adjusts["referenceId"]))
        return target if target is not None and target.status != DeltaStatus.FAILED else None

    def add(self, delta: Delta) -> None:
        self.pending.append(delta)
        self.touched[delta.customer_record_id] = delta.customer_record
        self.by_record_id[delta.record_id] = delta
        if delta.reference_id:
            self.by_reference[(delta.customer_record_id, delta.reference_id)] = delta

    def flush(self) -> None:
        """Insert what is pending now (an adjusts target accepted earlier in the request needs its key)."""
        DELTA_INSERT.insert(self.pending)
        self.pending = []

    def close(self) -> None:
        """Insert the pending deltas and advance the touched records' intake heads: one round trip."""
        with pipelined(), DELTA_INSERT.send(self.pending) as sent:
            if self.touched:
                heads = [
                    (r.last_intake_sequence, _HEAD_TIME.get_db_prep_save(r.last_created_at, connection), r.pk)
                    for r in self.touched.values()
                ]
                with connection.cursor() as cursor:
                    cursor.executemany(HEAD_UPDATE, heads)
            sent.receive()
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
        records, created, intake = _open_intake(_Scope(tenant, environment, vendor), valid)
        moment = created_at or _now_ms()
        outcomes = [
            Outcome(index, error=item.as_error()) if isinstance(item, ItemInvalid)
            else _accept_one(index, item, records[item.customer_id], vendor, intake, moment)
            for index, item in enumerate(items)
        ]
        intake.close()
        # A record exists only once a delta was accepted for it: drop the ones whose items all failed.
        unused = [r.pk for r in created if r.last_intake_sequence == 0]
        if unused:
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
