"""Persistence of the per-(tenant, environment) RFC 6962 log: leaves, complete subtrees, signed heads.

All maths is in the pure `records.tlog`; this module only reads and writes rows. Every subtree a root
or proof needs is fetched in one query per table (O(log n) rows), never recomputed from the whole log.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from pacspace.rows import Inserter
from records import tlog
from records.models import Delta, LogLeaf, LogNode, LogState, SignedTreeHead, Tenant
from records.signing import log_signer

Coord = tuple[int, int]
LEAF_INSERT = Inserter(LogLeaf)  # a seal run appends hundreds of leaves and nodes: pacspace.rows
NODE_INSERT = Inserter(LogNode)


def log_origin(tenant_id: str, environment: str) -> str:
    """`{host}/{tenantId}/{environment}` with the host of PUBLIC_BASE_URL (proofs.md §4.1)."""
    parts = urlsplit(settings.PUBLIC_BASE_URL)
    host = (parts.hostname or "localhost").lower()
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return f"{host}/{tenant_id}/{environment}"


def log_lock(tenant: Tenant | str, environment: str) -> LogState:
    """The log row, created on first use and locked FOR UPDATE: the sealing lock of this log."""
    tenant_id = tenant if isinstance(tenant, str) else tenant.id
    log, _ = LogState.objects.get_or_create(
        tenant_id=tenant_id, environment=environment, defaults={"origin": log_origin(tenant_id, environment)}
    )
    return LogState.objects.select_for_update().get(pk=log.pk)


def log_nodes(log: LogState, coords: Iterable[Coord]) -> dict[Coord, bytes]:
    coords = set(coords)
    leaves = [index for level, index in coords if level == 0]
    found: dict[Coord, bytes] = {}
    if leaves:
        for index, digest in LogLeaf.objects.filter(log=log, leaf_index__in=leaves).values_list("leaf_index", "leaf_hash"):
            found[(0, index)] = bytes(digest)
    inner = [(level, index) for level, index in coords if level > 0]
    if inner:
        condition = Q()
        for level, index in inner:
            condition |= Q(level=level, index=index)
        for level, index, digest in LogNode.objects.filter(log=log).filter(condition).values_list("level", "index", "hash"):
            found[(level, index)] = bytes(digest)
    missing = coords - set(found)
    if missing:
        raise RuntimeError(f"log {log.origin} is missing subtrees {sorted(missing)[:5]}")
    return found


def log_append(log: LogState, deltas: list[Delta], content_hashes: list[bytes]) -> bytes:
    """Append leaves for these deltas (in order) to the locked log; returns the new root hash."""
    start = log.tree_size
    leaf_hashes = [tlog.leaf_hash(h) for h in content_hashes]
    existing = log_nodes(log, tlog.root_coords(start)) if start else {}
    created = tlog.new_subtrees(start, leaf_hashes, lambda level, index: existing[(level, index)])
    LEAF_INSERT.write(
        LogLeaf(log=log, leaf_index=start + offset, leaf_hash=digest, delta=delta)
        for offset, (delta, digest) in enumerate(zip(deltas, leaf_hashes, strict=True))
    )
    NODE_INSERT.write(
        LogNode(log=log, level=level, index=index, hash=digest) for level, index, digest in created if level > 0
    )
    size = start + len(deltas)
    known = {**existing, **{(level, index): digest for level, index, digest in created}}
    missing = tlog.root_coords(size) - known.keys()
    if missing:
        known.update(log_nodes(log, missing))
    root = tlog.root(size, known)
    log.tree_size, log.root_hash = size, root
    log.save(update_fields=["tree_size", "root_hash", "updated_at"])
    return root


def log_sign(log: LogState) -> SignedTreeHead:
    """Sign the locked log's current head; tree sizes only grow, so heads are always consistent."""
    signer = log_signer()
    root = bytes(log.root_hash)
    return SignedTreeHead.objects.create(
        log=log,
        tree_size=log.tree_size,
        root_hash=root,
        note=signer.sign_note(log.origin, log.tree_size, root),
        key_id=signer.key_id(log.origin).hex(),
        public_key=base64.b64encode(signer.public_key).decode("ascii"),
        signed_at=timezone.now(),
    )


def latest_head(tenant: Tenant | str, environment: str) -> SignedTreeHead | None:
    tenant_id = tenant if isinstance(tenant, str) else tenant.id
    return (
        SignedTreeHead.objects.filter(log__tenant_id=tenant_id, log__environment=environment)
        .select_related("log")
        .order_by("-tree_size")
        .first()
    )


def log_of(tenant: Tenant | str, environment: str) -> LogState | None:
    tenant_id = tenant if isinstance(tenant, str) else tenant.id
    return LogState.objects.filter(tenant_id=tenant_id, environment=environment).first()


def log_inclusion(log: LogState, leaf_index: int, tree_size: int) -> dict:
    """RFC 9162 PATH(leaf, D[tree_size]) from stored subtrees, with the head of that size if signed."""
    nodes = log_nodes(log, tlog.inclusion_coords(leaf_index, tree_size) | tlog.root_coords(tree_size) | {(0, leaf_index)})
    leaf = LogLeaf.objects.select_related("delta").get(log=log, leaf_index=leaf_index)
    head = SignedTreeHead.objects.filter(log=log, tree_size=tree_size).first()
    return {
        "leafIndex": leaf_index,
        "treeSize": tree_size,
        "leafHash": "0x" + bytes(leaf.leaf_hash).hex(),
        "contentHash": leaf.delta.content_hash,
        "recordId": leaf.delta.record_id,
        "auditPath": ["0x" + h.hex() for h in tlog.inclusion_path(leaf_index, tree_size, nodes)],
        "rootHash": "0x" + tlog.root(tree_size, nodes).hex(),
        "note": head.note if head else None,
    }


def log_consistency(log: LogState, first: int, second: int) -> dict:
    coords = tlog.root_coords(first) | tlog.root_coords(second)
    if first < second:
        coords |= tlog.consistency_coords(first, second)
    nodes = log_nodes(log, coords)
    proof = tlog.consistency_proof(first, second, nodes) if first < second else []
    return {
        "first": first,
        "second": second,
        "firstRootHash": "0x" + tlog.root(first, nodes).hex(),
        "secondRootHash": "0x" + tlog.root(second, nodes).hex(),
        "proof": ["0x" + h.hex() for h in proof],
    }
