"""The evidence bundle's log files (proofs.md §7.4): proofs.json against the latest signed head,
checkpoint.txt and log-key.pub, then the zip through the pure `records.bundle.build_bundle`.

Inclusion paths are computed from stored subtrees, a batch of leaves at a time: one query per table per
batch, grouped by tree level, instead of one proof request per record.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.db.models import Q

from records import tlog
from records.bundle import build_bundle, proofs_document
from records.models import LogLeaf, LogNode, LogState, SignedTreeHead
from records.proofs import from_hex

PATH_BATCH = 1000


@dataclass(frozen=True)
class SealedRecord:
    """The proof fields of one sealed export row, kept while the rows stream past."""

    record_id: str
    content_hash: str
    proof_hash: str
    previous_proof_hash: str
    chain_index: int
    leaf_index: int

    @classmethod
    def of(cls, row: Any) -> SealedRecord:
        return cls(row.record_id, row.content_hash, row.proof_hash, row.previous_proof_hash, row.chain_index,
                   row.leaf_index)


def _subtrees(log: LogState, coords: Iterable[tlog.Coord]) -> dict[tlog.Coord, bytes]:
    by_level: dict[int, list[int]] = defaultdict(list)
    for level, index in coords:
        by_level[level].append(index)
    found: dict[tlog.Coord, bytes] = {}
    leaves = LogLeaf.objects.filter(log=log, leaf_index__in=by_level.pop(0, []))
    for index, digest in leaves.values_list("leaf_index", "leaf_hash"):
        found[(0, index)] = bytes(digest)
    if by_level:
        levels = reduce(or_, (Q(level=level, index__in=indexes) for level, indexes in by_level.items()))
        nodes = LogNode.objects.filter(log=log).filter(levels).values_list("level", "index", "hash")
        for level, index, digest in nodes:
            found[(level, index)] = bytes(digest)
    return found


def _batches(items: list[SealedRecord], size: int) -> Iterator[list[SealedRecord]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _proof_rows(head: SignedTreeHead, sealed: list[SealedRecord]) -> Iterator[dict[str, Any]]:
    for batch in _batches(sealed, PATH_BATCH):
        coords = set().union(*(tlog.inclusion_coords(r.leaf_index, head.tree_size) for r in batch))
        nodes = _subtrees(head.log, coords)
        for r in batch:
            yield {
                "recordId": r.record_id, "contentHash": r.content_hash, "proofHash": r.proof_hash,
                "previousProofHash": r.previous_proof_hash, "chainIndex": r.chain_index,
                "leafIndex": r.leaf_index, "leafHash": tlog.leaf_hash(from_hex(r.content_hash)),
                "inclusionPath": tlog.inclusion_path(r.leaf_index, head.tree_size, nodes),
            }


def head_verifier_key(head: SignedTreeHead) -> str:
    """The verifier key of the key that signed this head (not today's key: the log key may have rotated)."""
    return tlog.verifier_key(head.log.origin, base64.b64decode(head.public_key))


def proofs_for(
    *, head: SignedTreeHead, checkpoint: dict[str, Any] | None, sealed: list[SealedRecord],
) -> dict[str, Any]:
    """proofs.json: every sealed record's inclusion path against `head` (which must cover them all)."""
    origin = head.log.origin
    return proofs_document(
        origin=origin, tree_size=head.tree_size, root_hash=bytes(head.root_hash), key_name=origin,
        key_id_hex=head.key_id, checkpoint=checkpoint, records=list(_proof_rows(head, sealed)),
    )


def bundle_zip(
    *, export_id: str, generated_at: str, header: dict[str, Any], records_json: bytes, records_csv: bytes,
    statement_pdf: bytes, proofs: dict[str, Any], head: SignedTreeHead,
) -> bytes:
    """The §7.1 zip; `header` is the records.json header the files were rendered from."""
    return build_bundle(
        export_id=export_id, generated_at=generated_at, identity=header["identity"],
        customer=header["customer"], scope=header["scope"], records_json=records_json,
        records_csv=records_csv, statement_pdf=statement_pdf, proofs=proofs, checkpoint_note=head.note,
        verifier_key=head_verifier_key(head), public_base_url=settings.PUBLIC_BASE_URL,
        origin=head.log.origin,
    )
