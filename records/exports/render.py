"""Rendering one export from the database: the records file of a synchronous export, and the PDF or
bundle of a job. Reads only; the job's state and the events belong to `records.services.exports`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from records.exports.bundle import SealedRecord, bundle_zip, proofs_for
from records.exports.documents import RecordsCsv, RecordsJson, records_header
from records.exports.files import HashingSpool
from records.exports.rows import checkpoint_document, read_snapshot, scope_document, scope_rows, scope_totals
from records.exports.statement import PDF_ROW_CAP, Statement, statement_pdf
from records.models import CustomerRecord, ExportJob, SharedRecord, SignedTreeHead
from records.proofs import format_timestamp
from records.selectors.balance import identity
from records.selectors.shared import entry_out
from records.services.log import latest_head
from records.services.period_compare import Side
from records.services.shared_records import link_url


class RenderError(Exception):
    """A render failure that carries a job error code (records.services.exports.FAILURE_MESSAGES)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def records_header_for(record: CustomerRecord, side: Side, generated_at: dt.datetime) -> dict[str, Any]:
    """records.json without its rows; call inside the read snapshot the rows are read in."""
    customer = {"customerId": record.id, "externalCustomerId": record.customer_id,
                "vendorAccountId": record.vendor_account_id}
    return records_header(
        generated_at=format_timestamp(generated_at), environment=record.environment,
        identity=identity(record), customer=customer, scope=scope_document(side),
        checkpoint=checkpoint_document(side), totals=scope_totals(record, side),
    )


def records_file(record: CustomerRecord, side: Side, fmt: str) -> HashingSpool:
    """records.json or records.csv of the scope, row by row into a spool (the caller holds the snapshot)."""
    spool = HashingSpool()
    if fmt == "json":
        writer = RecordsJson(records_header_for(record, side, timezone.now()), spool)
    else:
        writer = RecordsCsv(spool)
    for row in scope_rows(record, side):
        writer.record(row)
    writer.close()
    return spool


@dataclass
class _Gathered:
    """Everything a job render reads from the database, read inside one snapshot."""

    header: dict[str, Any]
    entries: list[dict[str, Any]] = field(default_factory=list)
    sealed: list[SealedRecord] = field(default_factory=list)
    records_json: bytes = b""
    records_csv: bytes = b""
    head: SignedTreeHead | None = None


def _gather_rows(record: CustomerRecord, side: Side, gathered: _Gathered) -> None:
    """One pass for a bundle: records.json and records.csv (each capped by EXPORT_MAX_BYTES, so a huge
    period fails early), the statement's rows and the proof fields."""
    json_spool, csv_spool = (HashingSpool(max_bytes=settings.EXPORT_MAX_BYTES) for _ in range(2))
    try:
        writers = (RecordsJson(gathered.header, json_spool), RecordsCsv(csv_spool))
        for row in scope_rows(record, side):
            for writer in writers:
                writer.record(row)
            if len(gathered.entries) < PDF_ROW_CAP:
                gathered.entries.append(entry_out(row))
            if row.leaf_index is not None:
                gathered.sealed.append(SealedRecord.of(row))
        for writer in writers:
            writer.close()
        gathered.records_json, gathered.records_csv = json_spool.read_bytes(), csv_spool.read_bytes()
    finally:
        json_spool.close()
        csv_spool.close()


def _gather(record: CustomerRecord, side: Side, fmt: str, generated_at: dt.datetime) -> _Gathered:
    with read_snapshot():
        gathered = _Gathered(header=records_header_for(record, side, generated_at))
        if fmt == ExportJob.Format.BUNDLE:
            _gather_rows(record, side, gathered)
        else:
            gathered.entries = [entry_out(row) for row in scope_rows(record, side, limit=PDF_ROW_CAP)]
        # Read after the rows: a head at least as new as every sealed row seen, even without a snapshot.
        gathered.head = latest_head(record.tenant_id, record.environment)
    return gathered


def _active_link(record: CustomerRecord) -> str | None:
    shared = SharedRecord.objects.filter(customer_record=record, status=SharedRecord.Status.ACTIVE).first()
    return link_url(shared) if shared is not None else None


def _statement(
    record: CustomerRecord, side: Side, gathered: _Gathered, generated_at: dt.datetime,
) -> Statement:
    checkpoint = gathered.header["checkpoint"]
    return Statement(
        identity=gathered.header["identity"], customer=gathered.header["customer"],
        environment=record.environment,
        basis=side.basis, period=side.period, window_start=side.window_start, window_end=side.window_end,
        checkpoint=checkpoint, totals=gathered.header["totals"], entries=gathered.entries,
        link_url=_active_link(record),
        verify_url=f"{settings.PUBLIC_BASE_URL}/verify/{checkpoint['proofRoot']}" if checkpoint else None,
        log_reference=gathered.head.reference if gathered.head else None, generated_at=generated_at,
    )


def job_file(job: ExportJob, side: Side, progress: Callable[[int], None]) -> bytes:
    """The statement PDF, or the bundle zip with that PDF inside (proofs.md §7.1)."""
    record, generated_at = job.customer_record, timezone.now()
    gathered = _gather(record, side, job.format, generated_at)
    progress(40)
    pdf = statement_pdf(_statement(record, side, gathered, generated_at))
    if job.format == ExportJob.Format.PDF:
        return pdf
    if gathered.head is None:
        raise RenderError("LOG_NOT_SIGNED")  # nothing sealed in this log yet; a retry usually finds a head
    progress(70)
    proofs = proofs_for(head=gathered.head, checkpoint=gathered.header["checkpoint"], sealed=gathered.sealed)
    return bundle_zip(
        export_id=job.id, generated_at=gathered.header["generatedAt"], header=gathered.header,
        records_json=gathered.records_json, records_csv=gathered.records_csv, statement_pdf=pdf,
        proofs=proofs, head=gathered.head,
    )
