"""Public verification of a proof root or receipt (api.md §2.18, proofs.md §6)."""

from __future__ import annotations

import base64
import re
from typing import Any

from django.db.models import Max, Min, QuerySet

from pacspace.errors import DomainError, validation_error
from records import tlog
from records.models import Checkpoint, Delta, DeltaStatus, LogLeaf, SignedTreeHead
from records.proofs import ZERO_HASH, from_hex, merkle_root, proof_hash, to_hex
from records.selectors import amount_of, identity
from records.services.checkpoints import covered_deltas
from records.services.log import log_nodes
from records.services.sealing import recomputed_content_hash

ROOT_PATTERN = re.compile(r"^0x[0-9a-fA-F]{64}$")
MAX_RECORDS = 1000


def _resolve(value: str) -> tuple[str, Checkpoint | None, Delta | None]:
    if not ROOT_PATTERN.fullmatch(value):
        raise validation_error({"proofRoot": ["must be 0x followed by 64 hex digits"]})
    normalized = value.lower()
    if from_hex(normalized) == ZERO_HASH:
        raise DomainError("NOT_FOUND", "Nothing is recorded under this proof root")
    checkpoint = (
        Checkpoint.objects.filter(proof_root=normalized, status=Checkpoint.Status.VERIFIED)
        .select_related("customer_record__tenant", "customer_record__vendor_account")
        .order_by("-verified_at").first()
    )
    if checkpoint is not None:
        return "checkpoint", checkpoint, None
    delta = (
        Delta.objects.filter(proof_hash=normalized, status=DeltaStatus.VERIFIED)
        .select_related("customer_record__tenant", "customer_record__vendor_account").first()
    )
    if delta is None:
        raise DomainError("NOT_FOUND", "Nothing is recorded under this proof root")
    return "receipt", None, delta


def _chain_intact(deltas: list[Delta]) -> bool:
    previous = None
    for delta in deltas:
        expected = to_hex(ZERO_HASH) if delta.chain_index == 0 else (previous or delta.previous_proof_hash)
        recomputed = to_hex(proof_hash(from_hex(delta.previous_proof_hash), from_hex(delta.content_hash)))
        if delta.previous_proof_hash != expected or recomputed != delta.proof_hash:
            return False
        previous = delta.proof_hash
    return True


def _inclusion_ok(deltas: list[Delta], head: SignedTreeHead | None) -> bool:
    if head is None:
        return False
    log = head.log
    leaves = dict(LogLeaf.objects.filter(log=log, delta__in=deltas).values_list("delta_id", "leaf_hash"))
    for delta in deltas:
        stored = leaves.get(delta.pk)
        if stored is None or bytes(stored) != tlog.leaf_hash(from_hex(delta.content_hash)):
            return False
        nodes = log_nodes(log, tlog.inclusion_coords(delta.leaf_index, head.tree_size))
        path = tlog.inclusion_path(delta.leaf_index, head.tree_size, nodes)
        if not tlog.verify_inclusion(delta.leaf_index, head.tree_size, bytes(stored), path, bytes(head.root_hash)):
            return False
    return True


def _signature_ok(head: SignedTreeHead | None) -> bool:
    if head is None:
        return False
    try:
        verifier = tlog.verifier_key(head.log.origin, base64.b64decode(head.public_key))
        tlog.open_note(head.note, verifier)
    except (ValueError, tlog.NoteError):
        return False
    return True


def _head_for(reference: str | None, deltas: list[Delta]) -> SignedTreeHead | None:
    if not reference or not deltas:
        return None
    size = int(reference.split(":")[0])
    return SignedTreeHead.objects.select_related("log").filter(
        log__tenant_id=deltas[0].tenant_id, log__environment=deltas[0].environment, tree_size=size).first()


def chain_checks(kind: str, checkpoint: Checkpoint | None, deltas: list[Delta], reference: str | None) -> dict[str, bool]:
    head = _head_for(reference, deltas)
    checks = {
        "contentHashes": all(recomputed_content_hash(d) == d.content_hash for d in deltas),
        "chain": _chain_intact(deltas),
        "proofRoot": True,
        "inclusion": _inclusion_ok(deltas, head),
        "signature": _signature_ok(head),
    }
    if kind == "checkpoint":
        checks["proofRoot"] = to_hex(merkle_root([from_hex(d.content_hash) for d in deltas])) == checkpoint.proof_root
    return checks


def verify(value: str, *, source: str = "db") -> dict[str, Any]:
    if source not in ("db", "chain", "both"):
        raise validation_error({"source": ["must be db, chain or both"]})
    kind, checkpoint, delta = _resolve(value)
    record = (checkpoint or delta).customer_record
    deltas_qs: QuerySet = covered_deltas(checkpoint) if checkpoint else Delta.objects.filter(pk=delta.pk)
    stats = deltas_qs.aggregate(first=Min("created_at"), last=Max("created_at"))
    rows = list(deltas_qs.order_by("chain_index")[:MAX_RECORDS]) if source == "db" else list(deltas_qs.order_by("chain_index"))
    reference = checkpoint.verification_reference if checkpoint else delta.verification_reference
    head = _head_for(reference, rows)
    data: dict[str, Any] = {
        "verified": True,
        "kind": kind,
        "proofRoot": value.lower(),
        "recordedAt": (checkpoint or delta).verified_at,
        "identity": identity(record),
        "environment": record.environment,
        "summary": {
            "recordCount": checkpoint.record_count if checkpoint else 1,
            "netChange": checkpoint.net_change if checkpoint else amount_of(delta),
            "firstRecordAt": stats["first"],
            "lastRecordAt": stats["last"],
        },
        "records": [
            {"amount": amount_of(d), "reason": d.reason, "referenceId": d.reference_id, "status": "verified",
             "time": d.created_at}
            for d in rows[:MAX_RECORDS]
        ],
        "verification": {
            "verificationReference": reference,
            "treeSize": head.tree_size if head else None,
            "rootHash": "0x" + bytes(head.root_hash).hex() if head else None,
            "logOrigin": head.log.origin if head else None,
            "checkpointNote": head.note if head else None,
        },
        "message": "Recorded and verified." if kind == "checkpoint" else "Verified receipt of one record.",
    }
    if source in ("chain", "both"):
        checks = chain_checks(kind, checkpoint, rows, reference)
        data["checks"] = checks
        data["verified"] = all(checks.values())
        if not data["verified"]:
            data["message"] = "One or more checks failed: " + ", ".join(k for k, ok in checks.items() if not ok)
    return data


