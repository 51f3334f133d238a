"""Export bundle assembly (spec: proofs.md §7). Pure: no ORM, no settings.

The export service gathers the records document, CSV, PDF and proofs, then calls
:func:`build_bundle` for the zip bytes. ``verify.py`` (shipped verbatim inside every bundle) and the
``VERIFY.md`` template live next to this module; ``verify.py`` imports nothing from the service so
a customer can run it anywhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from records import tlog
from records.proofs import from_hex, normalize_decimal, to_hex

__all__ = [
    "BUNDLE_ENTRIES",
    "build_bundle",
    "dumps_document",
    "proofs_document",
    "render_verify_md",
    "verify_script",
]

# §7.1: exactly these entries, in this order.
BUNDLE_ENTRIES: tuple[str, ...] = (
    "manifest.json",
    "records.json",
    "records.csv",
    "statement.pdf",
    "proofs.json",
    "checkpoint.txt",
    "log-key.pub",
    "VERIFY.md",
    "verify.py",
)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

_HERE = Path(__file__).resolve().parent
_KEY_ID = re.compile(r"[0-9a-f]{8}")


def verify_script() -> bytes:
    """The bytes of ``verify.py`` exactly as shipped."""
    return (_HERE / "verify.py").read_bytes()


# --------------------------------------------------------------------------- JSON documents


def dumps_document(doc: Any) -> bytes:
    """UTF-8 JSON with two-space indentation, key order kept, and exact numbers.

    Matches ``json.dumps(doc, indent=2, ensure_ascii=False)`` plus a final newline, except that
    ``Decimal`` values are written as their normalized text (proofs.md §2.2) instead of failing;
    ``json.loads(..., parse_float=Decimal)`` reads back the same values. Floats are refused
    (amounts are never floats).
    """
    out: list[str] = []
    _write_indented(doc, 0, out)
    out.append("\n")
    return "".join(out).encode("utf-8")


_encode_string = json.encoder.encode_basestring  # the ensure_ascii=False string encoder


def _write_indented(value: Any, depth: int, out: list[str]) -> None:
    if value is None or value is True or value is False:
        out.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, (int, Decimal)):
        out.append(normalize_decimal(value))
    elif isinstance(value, Mapping):
        _write_container("{", "}", list(value.items()), depth, out)
    elif isinstance(value, (list, tuple)):
        _write_container("[", "]", list(value), depth, out)
    else:
        raise TypeError(f"cannot write {type(value).__name__} into a JSON document")


def _write_container(open_: str, close: str, items: list[Any], depth: int, out: list[str]) -> None:
    if not items:
        out.append(open_ + close)
        return
    inner = "\n" + "  " * (depth + 1)
    out.append(open_)
    for i, item in enumerate(items):
        out.append(("," if i else "") + inner)
        if open_ == "{":
            key, item = item
            if not isinstance(key, str):
                raise TypeError(f"object keys must be str, got {type(key).__name__}")
            out.append(_encode_string(key) + ": ")
        _write_indented(item, depth + 1, out)
    out.append("\n" + "  " * depth + close)


def _hex32(value: bytes | str, what: str) -> str:
    """``0x`` + lowercase hex of a 32-byte hash given as bytes or hex text."""
    return to_hex(from_hex(value) if isinstance(value, str) else _check_len(value, what))


def _check_len(value: bytes, what: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return value


def proofs_document(
    *,
    origin: str,
    tree_size: int,
    root_hash: bytes,
    key_name: str,
    key_id_hex: str,
    checkpoint: Mapping[str, Any] | None,
    records: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The §7.4 ``proofs.json`` document for the signed head (``tree_size``, ``root_hash``).

    ``records`` are the export's records in records.json order, each with ``recordId``,
    ``contentHash``, ``proofHash``, ``previousProofHash``, ``chainIndex``, ``leafIndex``,
    ``leafHash`` and ``inclusionPath`` (hashes as bytes or ``0x`` hex). Records without a
    ``leafIndex`` (state ``recording``) have no proof and are left out. ``checkpoint`` may be the
    records.json checkpoint object; only ``checkpointId``, ``proofRoot`` and ``recordCount`` are
    kept. Every leaf hash and path is checked against the head, so a bundle never ships a proof
    its own verifier would reject.
    """
    if not _KEY_ID.fullmatch(key_id_hex):
        raise ValueError("key_id_hex must be 8 lowercase hex digits")
    root_hash = _check_len(root_hash, "root_hash")
    entries = [_proof_entry(r, tree_size, root_hash) for r in records if r.get("leafIndex") is not None]
    return {
        "schema": "pacspace-proofs/v1",
        "log": {
            "origin": origin,
            "treeSize": tree_size,
            "rootHash": to_hex(root_hash),
            "keyName": key_name,
            "keyId": key_id_hex,
        },
        "checkpoint": None
        if checkpoint is None
        else {
            "checkpointId": checkpoint["checkpointId"],
            "proofRoot": _hex32(checkpoint["proofRoot"], "proofRoot"),
            "recordCount": checkpoint["recordCount"],
        },
        "records": entries,
    }


def _proof_entry(record: Mapping[str, Any], tree_size: int, root_hash: bytes) -> dict[str, Any]:
    rid = record["recordId"]
    content = from_hex(_hex32(record["contentHash"], "contentHash"))
    leaf = from_hex(_hex32(record["leafHash"], "leafHash"))
    path = [from_hex(_hex32(h, "inclusionPath")) for h in record["inclusionPath"]]
    if leaf != tlog.leaf_hash(content):
        raise ValueError(f"{rid}: leafHash is not the RFC 6962 leaf hash of its contentHash")
    if not tlog.verify_inclusion(record["leafIndex"], tree_size, leaf, path, root_hash):
        raise ValueError(f"{rid}: inclusion path does not lead to the root of tree size {tree_size}")
    return {
        "recordId": rid,
        "contentHash": to_hex(content),
        "proofHash": _hex32(record["proofHash"], "proofHash"),
        "previousProofHash": _hex32(record["previousProofHash"], "previousProofHash"),
        "chainIndex": record["chainIndex"],
        "leafIndex": record["leafIndex"],
        "leafHash": to_hex(leaf),
        "inclusionPath": [to_hex(h) for h in path],
    }


# --------------------------------------------------------------------------- files and the zip


def render_verify_md(*, public_base_url: str, origin: str, export_id: str, tree_size: int) -> bytes:
    """``VERIFY.md`` for one bundle (``string.Template``; a missing placeholder raises)."""
    base = public_base_url.rstrip("/")
    template = Template((_HERE / "VERIFY.md").read_text(encoding="utf-8"))
    return template.substitute(
        public_base_url=base,
        origin=origin,
        export_id=export_id,
        tree_size=tree_size,
        key_url=f"{base}/api/v1/log/key?origin={quote(origin, safe='/:')}",
    ).encode("utf-8")


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so the permission bits below are honoured by unzip
    info.external_attr = (0o755 if name == "verify.py" else 0o644) << 16
    return info


_CUSTOMER_FIELDS = ("customerId", "externalCustomerId", "vendorAccountId")


def _check_matches_records(
    records_json: bytes, *, identity: Any, customer: Mapping[str, Any], scope: Any
) -> None:
    # verify.py fails the manifest check when these differ, so refuse to build such a bundle.
    doc = json.loads(records_json, parse_float=Decimal)
    shown = {k: doc["customer"].get(k) for k in _CUSTOMER_FIELDS}
    for name, ours, theirs in [("identity", identity, doc["identity"]), ("scope", scope, doc["scope"]),
                               ("customer", {k: customer[k] for k in _CUSTOMER_FIELDS}, shown)]:
        if ours != theirs:
            raise ValueError(f"{name} differs from the {name} in records.json")


def build_bundle(
    *,
    export_id: str,
    generated_at: str,
    identity: Mapping[str, Any],
    customer: Mapping[str, Any],
    scope: Mapping[str, Any],
    records_json: bytes,
    records_csv: bytes,
    statement_pdf: bytes,
    proofs: Mapping[str, Any],
    checkpoint_note: str,
    verifier_key: str,
    public_base_url: str,
    origin: str,
) -> bytes:
    """The §7.1 zip: fixed entry order and dates, deflate, no directories, manifest first.

    ``customer`` is the records.json customer object (``customerId``, ``externalCustomerId``,
    ``vendorAccountId``); ``identity`` and ``scope`` must equal those in ``records_json`` (the
    verifier compares them). ``proofs`` is a :func:`proofs_document`. The result is
    byte-for-byte reproducible from the same inputs.
    """
    _check_matches_records(records_json, identity=identity, customer=customer, scope=scope)
    files: dict[str, bytes] = {
        "records.json": records_json,
        "records.csv": records_csv,
        "statement.pdf": statement_pdf,
        "proofs.json": dumps_document(proofs),
        "checkpoint.txt": checkpoint_note.encode("utf-8"),
        "log-key.pub": verifier_key.rstrip("\n").encode("utf-8") + b"\n",
        "VERIFY.md": render_verify_md(
            public_base_url=public_base_url,
            origin=origin,
            export_id=export_id,
            tree_size=proofs["log"]["treeSize"],
        ),
        "verify.py": verify_script(),
    }
    manifest = {
        "schema": "pacspace-bundle-manifest/v1",
        "exportId": export_id,
        "generatedAt": generated_at,
        **{k: customer[k] for k in _CUSTOMER_FIELDS},
        "identity": identity,
        "scope": scope,
        "files": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in files.items()
        ],
    }
    files = {"manifest.json": dumps_document(manifest), **files}
    assert tuple(files) == BUNDLE_ENTRIES
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(_zip_entry(name), data)
    return buffer.getvalue()
