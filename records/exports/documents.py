"""records.json and records.csv (proofs.md §7.2–7.3), written one row at a time. No queries.

`RecordsJson` produces, piece by piece, exactly the bytes `records.bundle.dumps_document` writes for
the whole document (two-space indentation, keys in the spec's order, exact numbers), so a million rows
never sit in memory and the bundle's verifier still reads the file it expects. The envelope (everything
but the rows) is rendered by `dumps_document` itself; only the row layout is spelled out here, because
the generic writer costs several times more per row.
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from typing import Any

from records.bundle import dumps_document
from records.proofs import format_timestamp
from records.selectors.balance import record_state

CSV_HEADER = (
    "recordId", "recordedAt", "amount", "state", "reason", "referenceId", "adjustsRecordId",
    "adjustsReferenceId", "metadata", "contentHash", "proofHash", "previousProofHash", "chainIndex",
    "leafIndex", "verificationReference", "checkpointId",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_encode = json.encoder.encode_basestring  # the encoder dumps_document uses (non-ASCII kept literal)
_EMPTY_TAIL = "[]\n}\n"
_I6, _I8 = "\n      ", "\n        "  # keys of a record (depth 2) and of its canonical object (depth 3)


def records_header(
    *, generated_at: str, environment: str, identity: dict[str, Any], customer: dict[str, Any],
    scope: dict[str, Any], checkpoint: dict[str, Any] | None, totals: dict[str, Any],
) -> dict[str, Any]:
    """Every records.json key but `records`, in the spec's order."""
    return {
        "schema": "pacspace-records/v1",
        "profile": "pacspace-item-v1",
        "generatedAt": generated_at,
        "environment": environment,
        "identity": identity,
        "customer": customer,
        "scope": scope,
        "checkpoint": checkpoint,
        "totals": totals,
    }


def _text(value: str | None) -> str:
    return "null" if value is None else _encode(value)


def _number(value: int | None) -> str:
    return "null" if value is None else str(value)


_STRING = re.compile(r'("(?:[^"\\]|\\.)*")')  # a JSON string token; re.split keeps it as its own part


def _nested(canonical_text: str | None, depth: int) -> str:
    """A stored canonical JSON object (metadata, adjusts) laid out at `depth` as dumps_document would.

    Canonical text already has dumps_document's tokens (§2.1 strings, §2.2 numbers, sorted keys), so a
    flat object only needs whitespace: added outside its string tokens. Nested ones take the slow path.
    """
    if canonical_text is None:
        return "null"
    if canonical_text == "{}":
        return "{}"
    parts = _STRING.split(canonical_text[1:-1])  # even indices: the text between string tokens
    between = parts[0::2]
    if any("{" in p or "[" in p for p in between):
        laid_out = dumps_document(json.loads(canonical_text, parse_float=Decimal)).decode("utf-8")[:-1]
        return laid_out.replace("\n", "\n" + "  " * depth)  # JSON text has no raw newline inside strings
    pad = "\n" + "  " * (depth + 1)
    parts[0::2] = [p.replace(",", "," + pad).replace(":", ": ") for p in between]
    return "{" + pad + "".join(parts) + "\n" + "  " * depth + "}"


def record_text(row: Any) -> str:
    """One element of `records` at depth 2. `delta_text` is already the normalized decimal (it is the
    hashed form), so it is both the JSON number `amount` and the canonical string `delta`."""
    recorded_at = _encode(format_timestamp(row.created_at))
    reason, reference = _encode(row.reason), _text(row.reference_id)
    return (
        f'{{{_I6}"recordId": {_encode(row.record_id)},{_I6}"state": {_encode(record_state(row))},'
        f'{_I6}"amount": {row.delta_text},{_I6}"recordedAt": {recorded_at},'
        f'{_I6}"reason": {reason},{_I6}"referenceId": {reference},'
        f'{_I6}"canonical": {{{_I8}"adjusts": {_nested(row.adjusts_json, 4)},{_I8}"createdAt": {recorded_at},'
        f'{_I8}"customerId": {_encode(row.customer_id)},{_I8}"delta": {_encode(row.delta_text)},'
        f'{_I8}"metadata": {_nested(row.metadata_json, 4)},{_I8}"reason": {reason},'
        f'{_I8}"referenceId": {reference},{_I8}"vendorAccountId": {_text(row.vendor_account_id)}{_I6}}},'
        f'{_I6}"contentHash": {_encode(row.content_hash)},{_I6}"proofHash": {_text(row.proof_hash)},'
        f'{_I6}"previousProofHash": {_text(row.previous_proof_hash)},'
        f'{_I6}"chainIndex": {_number(row.chain_index)},{_I6}"leafIndex": {_number(row.leaf_index)},'
        f'{_I6}"verificationReference": {_text(row.verification_reference)},'
        f'{_I6}"checkpointId": {_text(row.checkpoint_id)}\n    }}'
    )


class RecordsJson:
    """records.json written to `out` (anything with `write(str)`): the head now, one `record(row)` per row,
    then `close()`."""

    def __init__(self, header: dict[str, Any], out: Any) -> None:
        empty = dumps_document({**header, "records": []}).decode("utf-8")
        if not empty.endswith(_EMPTY_TAIL):
            raise ValueError("records must be the last key of records.json")
        self._out = out
        self._out.write(empty[: -len(_EMPTY_TAIL)])
        self.count = 0

    def record(self, row: Any) -> None:
        self.count += 1
        self._out.write(("[\n    " if self.count == 1 else ",\n    ") + record_text(row))

    def close(self) -> None:
        self._out.write("\n  ]\n}\n" if self.count else _EMPTY_TAIL)


def _guarded(text: str | None) -> str | None:
    """Spreadsheet formula guard (our choice, §7.3); only free-text cells pass through here."""
    if text and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _adjusts_cells(adjusts_text: str | None) -> tuple[str | None, str | None]:
    if adjusts_text is None:
        return None, None
    adjusts = json.loads(adjusts_text)
    return adjusts.get("recordId"), adjusts.get("referenceId")


class RecordsCsv:
    """records.csv written to `out`: RFC 4180 quoting, CRLF, null = empty cell, `metadata` as its canonical
    JSON text. Same protocol as RecordsJson."""

    def __init__(self, out: Any) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")
        self._writer.writerow(CSV_HEADER)

    def record(self, row: Any) -> None:
        adjusts_record, adjusts_reference = _adjusts_cells(row.adjusts_json)
        self._writer.writerow((
            row.record_id, format_timestamp(row.created_at), row.delta_text, record_state(row),
            _guarded(row.reason), _guarded(row.reference_id), _guarded(adjusts_record),
            _guarded(adjusts_reference), _guarded(row.metadata_json), row.content_hash, row.proof_hash,
            row.previous_proof_hash, row.chain_index, row.leaf_index, row.verification_reference,
            row.checkpoint_id,
        ))

    def close(self) -> None:
        pass
