"""Synthetic export-bundle inputs built only with the pure modules (records.proofs, records.tlog).

One middleware customer (``acct-9001`` of vendor ``cmw_k2m4q6s3u2w4y6a3c5e7``) whose first three
deltas are the proofs.md §8.2 items d1–d3, sealed into a log shared with other customers so its
leaf indexes are not contiguous:

* April (2026-04): d1–d4, closed by a verified checkpoint (``checkpoint`` basis bundle);
* May (2026-05): d5, d6 sealed without a checkpoint (chain indexes 4, 5) and d7 still
  ``recording`` (``live`` basis bundle).

:func:`records_document` writes records.json per proofs.md §7.2 (keys in that order) and
:func:`records_csv` the §7.3 table; :func:`bundle_bytes` assembles the zip with the code under test.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from records import proofs, tlog
from records.bundle import build_bundle, dumps_document, proofs_document

SEED_B64 = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
ORIGIN = "records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production"
PUBLIC_BASE_URL = "https://records.example.com"
VENDOR = "cmw_k2m4q6s3u2w4y6a3c5e7"
EXTERNAL_ID = "acct-9001"
GENERATED_AT = "2026-05-04T09:00:00.000Z"
IDENTITY = {
    "tenant": {"name": "Acme Inference"},
    "recordedBy": {"type": "middleware_vendor_account", "id": VENDOR, "displayName": "Acme Inference"},
}


def ident(prefix: str, label: str) -> str:
    """A stable id of the api.md §1.5 shape: prefix + 20 chars of [a-z2-7]."""
    digest = hashlib.sha256(label.encode()).digest()
    return prefix + base64.b32encode(digest).decode().lower()[:20]


CUSTOMER = {
    "customerId": ident("cus_", "acct-9001"), "externalCustomerId": EXTERNAL_ID, "vendorAccountId": VENDOR,
}


@dataclass
class Delta:
    label: str
    item: dict[str, Any]
    record_id: str = ""
    content: bytes = b""
    leaf_index: int | None = None
    chain_index: int | None = None
    previous: bytes | None = None
    proof: bytes | None = None
    reference: str | None = None
    checkpoint_id: str | None = None

    def __post_init__(self) -> None:
        self.record_id = ident("rec_", self.label)
        self.content = proofs.content_hash(self.item)

    @property
    def state(self) -> str:
        if self.proof is None:
            return "recording"
        return "verified" if self.checkpoint_id else "recorded"


def _item(created_at: str, delta: str, reason: str, reference_id: str | None, *, customer: str = EXTERNAL_ID,
          metadata: dict[str, Any] | None = None, adjusts: dict[str, str] | None = None) -> dict[str, Any]:
    return proofs.canonical_item(
        adjusts=adjusts, created_at=created_at, customer_id=customer, delta=Decimal(delta),
        metadata=metadata, reason=reason, reference_id=reference_id, vendor_account_id=VENDOR,
    )


def customer_deltas() -> list[Delta]:
    """d1–d3 exactly as proofs.md §8.2, then four more (April d4; May d5–d7)."""
    meta1 = {"tokens": Decimal("1.25E6"), "note": "café", "tags": ["gpu", True, None]}
    return [
        Delta("d1", _item("2026-04-01T23:59:58.120Z", "-12.50", "daily_usage_flush:2026-04-01",
                          "usage:acct-9001:2026-04-01", metadata=meta1)),
        Delta("d2", _item("2026-04-02T23:59:59.004Z", "-7", "daily_usage_flush:2026-04-02",
                          "usage:acct-9001:2026-04-02")),
        Delta("d3", _item("2026-04-03T08:15:00.000Z", "2.5", "credit: duplicate flush", None,
                          adjusts={"referenceId": "usage:acct-9001:2026-04-01"})),
        Delta("d4", _item("2026-04-20T10:00:00.000Z", "4.750", "=promo credit, \"spring\"", "promo:2026-04",
                          metadata={"gpuHours": Decimal("0.50"), "line\nbreak": "tab\there"})),
        Delta("d5", _item("2026-05-01T00:00:00.000Z", "-3", "daily_usage_flush:2026-05-01",
                          "usage:acct-9001:2026-05-01")),
        Delta("d6", _item("2026-05-02T12:30:00.250Z", "-1.25", "daily_usage_flush:2026-05-02",
                          "usage:acct-9001:2026-05-02", metadata={"région": "eu-west"})),
        Delta("d7", _item("2026-05-03T07:00:00.000Z", "0.5", "goodwill", None,
                          adjusts={"recordId": ident("rec_", "d6")})),
    ]


class Log:
    """An in-memory RFC 6962 log kept the way the service stores it: (level, index) → hash."""

    def __init__(self, signer: tlog.NoteSigner) -> None:
        self.signer = signer
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0

    def append(self, content: bytes) -> int:
        leaf = tlog.leaf_hash(content)
        for level, index, h in tlog.new_subtrees(self.size, [leaf], lambda lv, i: self.nodes[(lv, i)]):
            self.nodes[(level, index)] = h
        self.size += 1
        return self.size - 1

    def root(self) -> bytes:
        return tlog.root(self.size, self.nodes)

    def reference(self) -> str:
        return tlog.format_reference(self.size, self.root())

    def note(self) -> str:
        return self.signer.sign_note(ORIGIN, self.size, self.root())

    def path(self, index: int) -> list[bytes]:
        return tlog.inclusion_path(index, self.size, self.nodes)


@dataclass
class World:
    signer: tlog.NoteSigner
    log: Log
    deltas: dict[str, Delta]
    checkpoint: dict[str, Any] = field(default_factory=dict)


def _other(n: int) -> bytes:
    return proofs.content_hash(_item(f"2026-04-{n + 1:02d}T01:00:00.000Z", str(n + 1), "other customer",
                                     f"o-{n}", customer=f"acct-{5000 + n}"))


def make_world() -> World:
    """Seal the customer's deltas in runs interleaved with other customers' leaves."""
    signer = tlog.NoteSigner.from_base64_seed(SEED_B64)
    log, deltas = Log(signer), {d.label: d for d in customer_deltas()}
    others = iter(range(100))
    chain_head, chain_index = proofs.ZERO_HASH, 0
    # One list per seal run; "x" is another customer's delta.
    runs = [["x", "d1", "x"], ["d2", "x"], ["x", "x", "d3"], ["d4", "x"], ["x", "d5", "d6", "x", "x"],
            ["x", "x"]]
    for n, run in enumerate(runs):
        sealed = []
        for label in run:
            if label == "x":
                log.append(_other(next(others)))
                continue
            d = deltas[label]
            d.leaf_index = log.append(d.content)
            d.chain_index, d.previous = chain_index, chain_head
            d.proof = chain_head = proofs.proof_hash(chain_head, d.content)
            chain_index += 1
            sealed.append(d)
        for d in sealed:
            d.reference = log.reference()
        if n == 3:  # the April checkpoint is verified by the seal run that sealed d4
            april = [deltas[k] for k in ("d1", "d2", "d3", "d4")]
            checkpoint_id = ident("chk_", "april")
            for d in april:
                d.checkpoint_id = checkpoint_id
            world_checkpoint = {
                "checkpointId": checkpoint_id,
                "proofRoot": proofs.to_hex(proofs.merkle_root([d.content for d in april])),
                "recordCount": len(april),
                "verificationReference": log.reference(),
                "treeSize": log.size,
                "verifiedAt": "2026-05-01T00:05:00.000Z",
            }
    return World(signer, log, deltas, world_checkpoint)


def _hex(b: bytes | None) -> str | None:
    return None if b is None else proofs.to_hex(b)


def _scope(world: World, basis: str) -> dict[str, Any]:
    if basis == "checkpoint":
        return {"basis": "checkpoint", "period": "2026-04", "checkpointId": world.checkpoint["checkpointId"],
                "windowStart": "2026-04-01T00:00:00.000Z", "windowEnd": "2026-05-01T00:00:00.000Z"}
    return {"basis": "live", "period": "2026-05", "checkpointId": None,
            "windowStart": "2026-05-01T00:00:00.000Z", "windowEnd": "2026-06-01T00:00:00.000Z"}


def selected(world: World, basis: str) -> list[Delta]:
    labels = ("d1", "d2", "d3", "d4") if basis == "checkpoint" else ("d5", "d6", "d7")
    return [world.deltas[k] for k in labels]


def _totals(deltas: list[Delta]) -> dict[str, Any]:
    amounts = [Decimal(d.item["delta"]) for d in deltas]
    credits = sum((a for a in amounts if a > 0), Decimal(0))
    debits = sum((a for a in amounts if a < 0), Decimal(0))
    return {"recordCount": len(deltas), "credits": credits, "debits": debits, "netChange": credits + debits}


def _sorted_deep(value: Any) -> Any:
    """The canonical object as records.json shows it: keys in canonical (sorted) order at every depth."""
    if isinstance(value, dict):
        return {k: _sorted_deep(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_deep(v) for v in value]
    return value


def record_entry(d: Delta) -> dict[str, Any]:
    """One records.json record, keys in the §7.2 order."""
    return {
        "recordId": d.record_id,
        "state": d.state,
        "amount": Decimal(d.item["delta"]),
        "recordedAt": d.item["createdAt"],
        "reason": d.item["reason"],
        "referenceId": d.item["referenceId"],
        "canonical": _sorted_deep(d.item),
        "contentHash": proofs.to_hex(d.content),
        "proofHash": _hex(d.proof),
        "previousProofHash": _hex(d.previous),
        "chainIndex": d.chain_index,
        "leafIndex": d.leaf_index,
        "verificationReference": d.reference,
        "checkpointId": d.checkpoint_id,
    }


def records_document(world: World, basis: str) -> dict[str, Any]:
    """records.json (proofs.md §7.2), keys in the spec's order."""
    deltas = selected(world, basis)
    return {
        "schema": "pacspace-records/v1",
        "profile": "pacspace-item-v1",
        "generatedAt": GENERATED_AT,
        "environment": "production",
        "identity": IDENTITY,
        "customer": CUSTOMER,
        "scope": _scope(world, basis),
        "checkpoint": world.checkpoint if basis == "checkpoint" else None,
        "totals": _totals(deltas),
        "records": [record_entry(d) for d in deltas],
    }


CSV_HEADER = ("recordId,recordedAt,amount,state,reason,referenceId,adjustsRecordId,adjustsReferenceId,"
              "metadata,contentHash,proofHash,previousProofHash,chainIndex,leafIndex,verificationReference,"
              "checkpointId").split(",")


def _guard(text: str | None) -> str:
    if text is None:
        return ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def records_csv(world: World, basis: str) -> bytes:
    """records.csv (proofs.md §7.3)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for d in selected(world, basis):
        adjusts = d.item["adjusts"] or {}
        texts = [d.item["reason"], d.item["referenceId"], adjusts.get("recordId"), adjusts.get("referenceId"),
                 proofs.canonical_json(d.item["metadata"]).decode()]
        writer.writerow([
            d.record_id, d.item["createdAt"], d.item["delta"], d.state, *map(_guard, texts),
            _hex(d.content), _hex(d.proof), _hex(d.previous), d.chain_index, d.leaf_index, d.reference,
            d.checkpoint_id,
        ])
    return out.getvalue().encode("utf-8")


def proofs_for(world: World, basis: str) -> dict[str, Any]:
    log = world.log
    rows = [
        {**record_entry(d), "leafHash": tlog.leaf_hash(d.content),
         "inclusionPath": log.path(d.leaf_index) if d.leaf_index is not None else None}
        for d in selected(world, basis)
    ]
    return proofs_document(
        origin=ORIGIN, tree_size=log.size, root_hash=log.root(), key_name=ORIGIN,
        key_id_hex=world.signer.key_id(ORIGIN).hex(),
        checkpoint=world.checkpoint if basis == "checkpoint" else None, records=rows,
    )


def bundle_bytes(world: World, basis: str) -> bytes:
    doc = records_document(world, basis)
    return build_bundle(
        export_id=ident("exp_", basis), generated_at=GENERATED_AT, identity=IDENTITY, customer=CUSTOMER,
        scope=doc["scope"], records_json=dumps_document(doc), records_csv=records_csv(world, basis),
        statement_pdf=b"%PDF-1.7\n% synthetic statement for tests\n%%EOF\n", proofs=proofs_for(world, basis),
        checkpoint_note=world.log.note(), verifier_key=world.signer.verifier_key(ORIGIN),
        public_base_url=PUBLIC_BASE_URL, origin=ORIGIN,
    )
