"""The rows of one export scope, in records.json order, read with a server-side cursor.

Rows are named tuples whose field names are the `Delta` attribute names, so the customer-facing
selectors (`record_state`, `entry_out`) read them exactly as they read model instances.
"""

from __future__ import annotations

import contextlib
import secrets
from collections import namedtuple
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum

from records.models import CustomerRecord
from records.proofs import format_timestamp, normalize_decimal
from records.selectors.shared import visible_deltas
from records.services.checkpoints import covered_deltas
from records.services.period_compare import Side

ROW_FIELDS = (
    "record_id", "created_at", "delta_text", "reason", "reference_id", "metadata_json", "adjusts_json",
    "status", "checkpoint_id", "content_hash", "proof_hash", "previous_proof_hash", "chain_index",
    "leaf_index", "verification_reference", "customer_id", "vendor_account_id",
)
ExportRow = namedtuple("ExportRow", ROW_FIELDS)
# Rows per round trip of the named cursor: large enough to amortize the fetch, small enough to stay flat.
FETCH_CHUNK = 2000


@contextlib.contextmanager
def read_snapshot() -> Iterator[None]:
    """One transaction whose reads all see the same moment: totals, rows and the log head agree.

    On PostgreSQL the outermost block asks for REPEATABLE READ (it must be the transaction's first
    statement); nested inside a caller's transaction the caller's isolation applies. The named cursor
    the rows stream through also needs the transaction (outside one it would have to be WITH HOLD, which
    makes the server materialize the whole result before the first row).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def scope_deltas(record: CustomerRecord, side: Side) -> QuerySet:
    """proofs.md §7.2: a checkpoint's covered deltas, or every non-FAILED delta of the live window;
    chainIndex ascending, then the unsealed ones by intakeSequence."""
    if side.checkpoint is not None:
        return covered_deltas(side.checkpoint)
    window = visible_deltas(record).filter(created_at__gte=side.window_start, created_at__lt=side.window_end)
    return window.order_by(F("chain_index").asc(nulls_last=True), "intake_sequence")


def scope_rows(record: CustomerRecord, side: Side, *, limit: int | None = None) -> Iterator[ExportRow]:
    """The scope's rows in records.json order; iterate them inside `read_snapshot()`."""
    rows = scope_deltas(record, side).values_list(*ROW_FIELDS)
    if limit is not None:
        return map(ExportRow._make, rows[:limit])
    if connection.vendor == "postgresql":
        return _pg_rows(rows)
    return map(ExportRow._make, rows.iterator(chunk_size=FETCH_CHUNK))


def _pg_rows(rows: QuerySet) -> Iterator[ExportRow]:
    """The ORM's own SQL through a named cursor that parses timestamps with psycopg's C loader.

    Hot path (STYLE.md): Django's timestamptz loader parses in Python, a third of the cost of a
    million-row export. Same query, same rows, same aware UTC datetimes.
    """
    sql, params = rows.query.sql_with_params()
    with connection.connection.cursor(name=f"export_rows_{secrets.token_hex(4)}") as cursor:
        cursor.adapters.register_loader("timestamptz", _timestamptz_loader())
        cursor.itersize = FETCH_CHUNK
        cursor.execute(sql, params)
        yield from map(ExportRow._make, cursor)


def _timestamptz_loader() -> type:
    import psycopg

    oid = psycopg.postgres.types["timestamptz"].oid
    return psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)


def _live_sums(deltas: QuerySet) -> tuple[int, Decimal, Decimal]:
    if connection.vendor == "postgresql":  # numeric sums are exact there, and one aggregate beats a scan here
        sums = deltas.aggregate(count=Count("id"), credits=Sum("amount", filter=Q(amount__gt=0)),
                                debits=Sum("amount", filter=Q(amount__lt=0)))
        return sums["count"], sums["credits"] or Decimal(0), sums["debits"] or Decimal(0)
    # SQLite sums the numeric column through floats: add the hashed decimal texts instead.
    count, credits, debits = 0, Decimal(0), Decimal(0)
    for text in deltas.values_list("delta_text", flat=True).iterator(chunk_size=FETCH_CHUNK):
        amount = Decimal(text)
        count += 1
        credits, debits = (credits + amount, debits) if amount > 0 else (credits, debits + amount)
    return count, credits, debits


def scope_totals(record: CustomerRecord, side: Side) -> dict[str, Any]:
    """`{recordCount, credits, debits, netChange}` (api.md §1.6); stored on a closed period's checkpoint."""
    checkpoint = side.checkpoint
    if checkpoint is not None:
        count, credits, debits = checkpoint.record_count, checkpoint.credits, checkpoint.debits
    else:
        count, credits, debits = _live_sums(scope_deltas(record, side).order_by())
    return {"recordCount": count, "credits": _exact(credits), "debits": _exact(debits),
            "netChange": _exact(credits + debits)}


def _exact(value: Decimal) -> Decimal:
    # Stored sums carry the column's 18 fractional zeros; the documents show the normalized value.
    return Decimal(normalize_decimal(value))


def scope_document(side: Side) -> dict[str, Any]:
    """The records.json `scope` object (also the ExportJob and manifest scope)."""
    return {
        "basis": side.basis,
        "period": side.period,
        "checkpointId": side.checkpoint.id if side.checkpoint else None,
        "windowStart": format_timestamp(side.window_start),
        "windowEnd": format_timestamp(side.window_end),
    }


def checkpoint_document(side: Side) -> dict[str, Any] | None:
    """The records.json `checkpoint` object; null for live scope."""
    checkpoint = side.checkpoint
    if checkpoint is None:
        return None
    return {
        "checkpointId": checkpoint.id,
        "proofRoot": checkpoint.proof_root,
        "recordCount": checkpoint.record_count,
        "verificationReference": checkpoint.verification_reference,
        "treeSize": checkpoint.tree_size,
        "verifiedAt": format_timestamp(checkpoint.verified_at),
    }
