"""Checkpoint benchmark (api.md §2.6, proofs.md §5): one customer with 1,000,000 VERIFIED deltas.

Fixture: the deltas are written with COPY, each with its real contentHash (canonical item + keccak, the
same functions ingest uses), its proofHash chain link, chainIndex = leafIndex = position, and the
verification reference of one signed tree head over them (the head's RFC 6962 root is computed from the
leaves; leaf and node rows are not stored, as the checkpoint never reads them). The customer record's
intake and chain heads match the rows.

Timed: `checkpoints_commit(...)` for the month holding every delta. All of them are terminal, so it
verifies at once: root, count and totals streamed from the rows, covered deltas marked, events written.
The call runs in a fresh process whose peak RSS growth is sampled; SQL statements and `_compute` are timed to split the phases.
Baseline: `merkle_root` over the same 1,000,000 32-byte leaves in the same run. Target: < 10 s and memory
that does not grow with the number of deltas.

Run alone with `python -m bench.checkpoint [--quick] [--profile]`.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal

from bench.support import (
    OUT_DIR,
    REPO_ROOT,
    Row,
    RssSampler,
    bench_database,
    bench_env,
    log,
    parse_args,
    raw_connection,
    report,
    setup_django,
)

FULL_DELTAS = 1_000_000
QUICK_DELTAS = 100_000
PERIOD = "2026-10"
CUSTOMER_ID = "checkpoint-customer"
TIME_TARGET_SECONDS = 10.0
CHILD_FLAG = "--timed-child"
MEMORY_BOUND_MIB = 64  # a few stream chunks; 1M materialised rows would take several hundred MiB

COPY_COLUMNS = (
    "record_id", "tenant_id", "environment", "customer_record_id", "customer_id", "delta_text", "amount",
    "reason", "reference_id", "metadata_json", "status", "intake_sequence", "created_at", "content_hash",
    "chain_index", "leaf_index", "proof_hash", "previous_proof_hash", "verification_reference", "verified_at",
    "error_code", "error_message",
)  # fmt: skip


# --------------------------------------------------------------------------------------- fixture
def _rfc6962_root(leaf_hashes: bytes, count: int) -> bytes:
    """MTH over `count` RFC 6962 leaf hashes packed in one bytes object, folding perfect subtrees."""
    from records.tlog import node_hash

    stack: list[tuple[int, bytes]] = []  # (size, hash) of perfect subtrees, left to right
    for i in range(count):
        size, h = 1, leaf_hashes[i * 32 : (i + 1) * 32]
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, h = size + left_size, node_hash(left, h)
        stack.append((size, h))
    _, root = stack.pop()
    while stack:  # RFC 6962 splits at the largest power of two: fold the right edge from the right
        _, left = stack.pop()
        root = node_hash(left, root)
    return root


def _amount(i: int) -> Decimal:
    """Mostly debits, every tenth a credit, two decimals: totals are exact sums."""
    cents = i % 5000 + 1
    return Decimal(cents).scaleb(-2) if i % 10 == 0 else -Decimal(cents).scaleb(-2)


def _item(i: int, created: dt.datetime) -> dict:
    from records.proofs import canonical_item, format_timestamp

    return canonical_item(
        adjusts=None, created_at=format_timestamp(created), customer_id=CUSTOMER_ID, delta=_amount(i),
        metadata={"model": "large-v2", "tokens": i % 4000}, reason="inference usage", reference_id=f"ref-{i}",
        vendor_account_id=None,
    )  # fmt: skip


def build_fixture(count: int) -> dict:
    """Tenant, record, signed head and `count` VERIFIED deltas; returns ids, window and the contentHashes.

    Two streaming passes (hash, then COPY) keep this process small: a large transient fixture would leave
    free memory behind that the timed call could reuse without its RSS growing, hiding its real footprint.
    """
    from records.models import CustomerRecord, LogState
    from records.proofs import content_hash
    from records.scopes import period_window
    from records.services.log import log_origin, log_sign
    from records.services.tenants import tenant_create
    from records.tlog import leaf_hash

    tenant = tenant_create(name="bench checkpoint", kind="direct")
    record = CustomerRecord.objects.create(tenant=tenant, environment="sandbox", customer_id=CUSTOMER_ID)
    start, end = period_window(PERIOD)
    step = dt.timedelta(milliseconds=(end - start) // dt.timedelta(milliseconds=1) // count)
    contents, leaves = bytearray(), bytearray()
    for i in range(count):
        content = content_hash(_item(i, start + i * step))
        contents += content
        leaves += leaf_hash(content)
    root = _rfc6962_root(bytes(leaves), count)
    del leaves
    log_state = LogState.objects.create(
        tenant=tenant, environment="sandbox", origin=log_origin(tenant.id, "sandbox"), tree_size=count, root_hash=root
    )
    head = log_sign(log_state)
    chain_head = _copy_rows(tenant.id, record.id, bytes(contents), start, step, head.reference, head.signed_at)
    CustomerRecord.objects.filter(pk=record.pk).update(
        last_intake_sequence=count, last_created_at=start + (count - 1) * step, chain_length=count,
        chain_head=chain_head,
    )  # fmt: skip
    with raw_connection(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE records_delta")  # settled history: visibility map and stats are current
    return {"tenant": tenant, "record_id": record.id, "start": start, "end": end, "contents": bytes(contents)}


def _copy_rows(
    tenant_id: str, record_id: str, contents: bytes, start: dt.datetime, step: dt.timedelta, reference: str,
    verified_at: dt.datetime,
) -> str:
    """COPY the rows, extending the proofHash chain as it goes; returns the chain head."""
    from records.proofs import ZERO_HASH, canonical_json, proof_hash, to_hex

    previous = ZERO_HASH
    with raw_connection() as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY records_delta ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            for i in range(len(contents) // 32):
                created = start + i * step
                item = _item(i, created)
                content = contents[i * 32 : (i + 1) * 32]
                link = proof_hash(previous, content)
                copy.write_row((
                    f"rec_{i:020d}", tenant_id, "sandbox", record_id, CUSTOMER_ID, item["delta"], _amount(i),
                    item["reason"], item["referenceId"], canonical_json(item["metadata"]).decode(), "VERIFIED",
                    i + 1, created, to_hex(content), i, i, to_hex(link), to_hex(previous), reference, verified_at,
                    "", "",
                ))  # fmt: skip
                previous = link
        conn.commit()
    return to_hex(previous)


# --------------------------------------------------------------------------------------- measuring
class StatementTimer:
    """Django execute wrapper: wall time per SQL statement kind during the timed call."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.server_side_cursor = False

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = self._kind(sql, context)
            self.seconds[kind] += time.perf_counter() - start
            self.calls[kind] += 1

    def _kind(self, sql: str, context: dict) -> str:
        import psycopg

        head = sql.lstrip()[:60].upper()
        raw_cursor = getattr(context.get("cursor"), "cursor", None)
        if isinstance(raw_cursor, psycopg.ServerCursor):  # Django's chunked_cursor(): a named DECLAREd cursor
            self.server_side_cursor = True
            head = "STREAM " + head
        table = next((word for word in sql.split() if word.startswith('"records_') or word.startswith('"webhooks_')), "")
        return f"{head.split()[0]} {table.strip(chr(34))}"


def timed_commit(tenant_id: str, profile: bool) -> dict:
    """The timed call, in this process; returns plain data (it is run in a fresh child, see `measure`)."""
    from django.db import connection

    import records.services.checkpoints as checkpoints
    from records.models import Tenant
    from records.scopes import Scope, period_window

    tenant = Tenant.objects.get(pk=tenant_id)
    start_at, end_at = period_window(PERIOD)
    scope = Scope(kind="period", start=start_at, end=end_at, period=PERIOD)
    compute_seconds = [0.0]
    original_compute = checkpoints._compute

    def compute(checkpoint):
        started = time.perf_counter()
        original_compute(checkpoint)
        compute_seconds[0] += time.perf_counter() - started

    statements = StatementTimer()
    profiler = cProfile.Profile() if profile else None
    checkpoints._compute = compute  # checkpoint_verify looks it up at call time
    try:
        with RssSampler() as rss, connection.execute_wrapper(statements):
            if profiler:
                profiler.enable()
            started = time.perf_counter()
            (result,) = checkpoints.checkpoints_commit(
                tenant=tenant, environment="sandbox", vendor=None, customer_id=CUSTOMER_ID, scope=scope
            )
            seconds = time.perf_counter() - started
            if profiler:
                profiler.disable()
    finally:
        checkpoints._compute = original_compute
    if profiler:
        OUT_DIR.mkdir(exist_ok=True)
        profiler.dump_stats(OUT_DIR / "checkpoint.prof")
    phases = sorted(statements.seconds.items(), key=lambda kv: -kv[1])
    return {
        "seconds": seconds,
        "compute": compute_seconds[0],
        "rss_start_mib": rss.start_bytes / 2**20,
        "rss_peak_mib": rss.peak_bytes / 2**20,
        "hwm_mib": _vm_hwm_mib(),
        "server_side_cursor": statements.server_side_cursor,
        "statements": [(kind, statements.calls[kind], secs) for kind, secs in phases],
        "checkpoint_id": result.checkpoint.pk,
    }


def _vm_hwm_mib() -> float:
    """This process's peak RSS since exec. Not ru_maxrss: Linux carries that over from the forking parent."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(tenant_id: str, profile: bool) -> dict:
    """Run `timed_commit` in a fresh interpreter: the fixture's freed memory would otherwise be reused by the
    call without RSS growing, and the peak would be the fixture's, not the call's."""
    command = [sys.executable, "-m", "bench.checkpoint", CHILD_FLAG, tenant_id, *(["--profile"] if profile else [])]
    done = subprocess.run(command, cwd=REPO_ROOT, env={**os.environ, **bench_env()}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"timed checkpoint child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline_merkle(contents: bytes) -> tuple[float, bytes]:
    from records.proofs import merkle_root

    leaves = [contents[i : i + 32] for i in range(0, len(contents), 32)]
    start = time.perf_counter()
    root = merkle_root(leaves)
    return time.perf_counter() - start, root


def run(*, quick: bool, profile: bool = False) -> tuple[list[Row], list[str]]:
    from records.models import Checkpoint
    from records.proofs import to_hex

    count = QUICK_DELTAS if quick else FULL_DELTAS
    with bench_database():
        log(f"checkpoint fixture: {count:,} VERIFIED deltas of one customer (hashing, then COPY)")
        started = time.perf_counter()
        fixture = build_fixture(count)
        log(f"fixture ready in {time.perf_counter() - started:.0f} s; timed checkpoints_commit")
        ours = measure(fixture["tenant"].id, profile)
        log("baseline merkle_root, twice (after the timed call, whose memory it would otherwise pre-grow)")
        base_first, root = baseline_merkle(fixture["contents"])
        base_second, _ = baseline_merkle(fixture["contents"])
        checkpoint = Checkpoint.objects.get(pk=ours["checkpoint_id"])
        if checkpoint.status != Checkpoint.Status.VERIFIED or checkpoint.record_count != count:
            raise RuntimeError(f"checkpoint not verified over {count} deltas: {checkpoint.status} {checkpoint.record_count}")
        if checkpoint.proof_root != to_hex(root):
            raise RuntimeError("checkpoint proofRoot differs from merkle_root over the same leaves")
    base = min(base_first, base_second)
    seconds = ours["seconds"]
    ratio = seconds / base
    growth = ours["rss_peak_mib"] - ours["rss_start_mib"]
    memory_ok = growth <= MEMORY_BOUND_MIB
    split = "; ".join(f"{kind} ×{calls} {secs:.2f} s" for kind, calls, secs in ours["statements"][:5])
    rows = [
        Row(
            f"checkpoint of {count:,} deltas",
            f"{seconds:.2f} s",
            f"merkle_root {base:.2f} s",
            ratio,
            f"< {TIME_TARGET_SECONDS:.0f} s",
            seconds < TIME_TARGET_SECONDS,
            note=(
                f"ratio = ours ÷ merkle_root time (lower is better); merkle_root runs {base_first:.2f} / "
                f"{base_second:.2f} s; _compute (stream + root + totals) {ours['compute']:.2f} s; slowest SQL: {split}"
            ),
        ),
        Row(
            "checkpoint peak RSS growth",
            f"{growth:,.1f} MiB",
            "—",
            None,
            f"≤ {MEMORY_BOUND_MIB} MiB (bounded)",
            memory_ok,
            note=(
                f"timed call in a fresh process: RSS {ours['rss_start_mib']:,.0f} → peak {ours['rss_peak_mib']:,.0f} MiB "
                f"(sampled every 5 ms), VmHWM {ours['hwm_mib']:,.0f} MiB; server-side cursor "
                f"{'used' if ours['server_side_cursor'] else 'NOT used'} for the stream"
            ),
        ),
    ]
    details = []
    if profile:
        details.append(f"cProfile of the call: {OUT_DIR.name}/checkpoint.prof")
    return rows, details


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == CHILD_FLAG:  # the timed call of `measure`, in a fresh process
        setup_django()
        print(json.dumps(timed_commit(sys.argv[2], profile="--profile" in sys.argv)))
        return
    args = parse_args("Checkpoint of one customer with 1,000,000 verified deltas")
    setup_django()
    rows, details = run(quick=args.quick, profile=args.profile)
    report("Balance checkpoint", rows, quick=args.quick, record=args.should_record, details=details)


if __name__ == "__main__":
    main()
