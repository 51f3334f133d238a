"""Ingest benchmarks (api.md §2.1–2.2, proofs.md §5), each against a baseline measured in the same run.

(a) Batch ingest sealed to VERIFIED: N batches of 1,000 items through the real HTTP batch route of
    `gunicorn -w 2`, sealed by a real `celery -A pacspace worker -Q seal -c 2`; timed from the first
    request to the moment every delta is VERIFIED. Baseline: one raw psycopg `executemany` INSERT of the
    same rows (same columns) into a table shaped like records_delta, in one transaction. Target ≥ 0.30.
(a') The SQL floor of (a): only the statements proofs.md §5 makes sealing run for the same rows, hand-
    written with the fastest client path (COPY), no HTTP, no hashing, no JSON: the INSERT of the
    QUEUED rows, per SEAL_BATCH_SIZE batch the claim UPDATE and its commit, then the seal UPDATE, the
    log leaves and subtree nodes, one outbox event per delta (a body of a typical delta.verified
    size), the signed head and the log row, and the seal commit. Its ratio to the same baseline is
    the ceiling of (a) on this schema and machine, whatever the application does.
(b) Single emit: requests/s of POST /api/v1/balance/delta from a few client threads, with no seal
    worker running (the request path alone), vs a bare Django view doing one INSERT under the same
    gunicorn settings (bench/settings.py + bench/baseline_urls.py). Target ≥ 0.6.
(c) Verification latency: emit → VERIFIED as seen by polling GET /api/v1/balance/delta/:id while the
    (b) load runs again, now with the seal worker sealing. Target p95 < 1 s.

Run alone with `python -m bench.ingest [--quick]`.
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

from bench.support import (
    REDIS_URL,
    SEAL_QUEUE,
    Row,
    SealWorker,
    Server,
    bench_database,
    log,
    parse_args,
    percentile,
    raw_connection,
    report,
    running,
    scratch_table_create,
    seal_queue_purge,
    setup_django,
    tenant_with_key,
)

BATCH_ITEMS = 1000
BATCH_CLIENTS = 2
CUSTOMERS_PER_CLIENT = 50
EMIT_CLIENTS = 4
BATCH_ATTEMPTS = 5
BATCH_TABLE = "bench_delta_batch"
EMIT_TABLE = "bench_delta_emit"  # bench/baseline_urls.py writes here
PROBE_POLL_SECONDS = 0.02
PROBE_EVERY_SECONDS = 0.2
PROBE_DRAIN_SECONDS = 120
VERIFY_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Scale:
    batches: int
    emit_seconds: float

    @classmethod
    def of(cls, quick: bool) -> Scale:
        return cls(batches=5, emit_seconds=4.0) if quick else cls(batches=50, emit_seconds=20.0)


# --------------------------------------------------------------------------------------- workload
def delta_item(customer_id: str, n: int, tag: str) -> dict:
    """A realistic usage debit: amount as a decimal string, a referenceId, a little metadata."""
    return {
        "customerId": customer_id,
        "delta": f"-{n % 900 + 1}.{n % 97:02d}",
        "reason": "inference usage",
        "referenceId": f"{tag}-{n}",
        "metadata": {"model": "large-v2", "inputTokens": 1000 + n % 500, "outputTokens": 200 + n % 50},
    }


def batch_payloads(batches: int) -> list[list[list[dict]]]:
    """Per client thread, its batches; each client has its own customers (independent producers)."""
    per_client: list[list[list[dict]]] = [[] for _ in range(BATCH_CLIENTS)]
    for b in range(batches):
        client = b % BATCH_CLIENTS
        customers = [f"b{client}-cust-{k}" for k in range(CUSTOMERS_PER_CLIENT)]
        start = b * BATCH_ITEMS
        per_client[client].append(
            [delta_item(customers[n % CUSTOMERS_PER_CLIENT], n, "batch") for n in range(start, start + BATCH_ITEMS)]
        )
    return per_client


RAW_COLUMNS = (
    "record_id", "tenant_id", "environment", "customer_record_id", "vendor_account_id", "customer_id",
    "delta_text", "amount", "reason", "reference_id", "metadata_json", "adjusts_json", "adjusts_delta_id",
    "status", "intake_sequence", "created_at", "content_hash", "chain_index", "leaf_index", "proof_hash",
    "previous_proof_hash", "verification_reference", "verified_at", "checkpoint_id", "failed_at",
    "error_code", "error_message",
)  # fmt: skip  # every column of records_delta but the identity id: what our bulk INSERT writes


def raw_rows(items: list[dict]) -> list[tuple]:
    """The rows our ingest would insert for these items (QUEUED state), built before the clock starts."""
    from django.utils import timezone

    now = timezone.now()
    sequences: dict[str, int] = {}
    rows = []
    for item in items:
        sequence = sequences[item["customerId"]] = sequences.get(item["customerId"], 0) + 1
        rows.append((
            "rec_" + secrets.token_hex(10), "tnt_baseline", "sandbox", "cus_" + item["customerId"][-20:], None,
            item["customerId"], item["delta"], Decimal(item["delta"]), item["reason"], item["referenceId"],
            json.dumps(item["metadata"], sort_keys=True, separators=(",", ":")), None, None, "QUEUED", sequence,
            now, "0x" + secrets.token_hex(32), None, None, None, None, None, None, None, None, "", "",
        ))  # fmt: skip
    return rows


# --------------------------------------------------------------------------------------- HTTP client
class Client:
    """A minimal http.client wrapper: cheaper per request than requests, so the client threads (on the same
    two cores) take as little as possible from the servers being measured."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["X-Api-Key"] = api_key

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        try:
            self.conn.request(method, path, body=body, headers=self.headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # gunicorn's sync workers close every connection; reconnect next time
            return 0, b""

    def close(self) -> None:
        self.conn.close()


def run_threads(targets: list, *, before_start=None) -> tuple[float, float]:
    """Start all targets behind a barrier; returns (start, end) perf_counter stamps."""
    barrier = threading.Barrier(len(targets) + 1)

    def wrap(target):
        def run():
            barrier.wait()
            target()

        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    if before_start:
        before_start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return start, time.perf_counter()


def delta_counts(tenant_id: str) -> tuple[int, int, int]:
    """(total, VERIFIED, FAILED) deltas of a tenant, read with plain SQL."""
    with raw_connection(autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'VERIFIED'), count(*) FILTER (WHERE status = 'FAILED')"
            " FROM records_delta WHERE tenant_id = %s",
            [tenant_id],
        ).fetchone()


def wait_verified(tenant_id: str, expected: int, timeout: float = VERIFY_TIMEOUT_SECONDS) -> float:
    """Poll until `expected` deltas of the tenant are VERIFIED; returns the perf_counter stamp."""
    deadline = time.monotonic() + timeout
    while True:
        total, verified, failed = delta_counts(tenant_id)
        if failed:
            raise RuntimeError(f"{failed} deltas FAILED while sealing")
        if verified >= expected:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {verified}/{expected} deltas VERIFIED after {timeout}s (total {total})")
        time.sleep(0.05)


# --------------------------------------------------------------------------------------- (a) batch
def raw_executemany(rows: list[tuple]) -> float:
    """Seconds for one executemany INSERT of the rows plus its commit, on an emptied scratch table."""
    placeholders = ", ".join(["%s"] * len(RAW_COLUMNS))
    sql = f"INSERT INTO {BATCH_TABLE} ({', '.join(RAW_COLUMNS)}) VALUES ({placeholders})"
    with raw_connection(autocommit=True) as conn:
        conn.execute(f"TRUNCATE {BATCH_TABLE}")
        conn.execute(f"VACUUM ANALYZE {BATCH_TABLE}")
    with raw_connection() as conn:
        start = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)
        conn.commit()
        return time.perf_counter() - start


EVENT_BODY_BYTES = 1600  # a delta.verified envelope of this workload, measured: about 1.5 KB


def sql_floor(items: list[dict], rows: list[tuple]) -> float:
    """Seconds for the statements sealing must run for these rows (see (a') above), on the real tables."""
    from django.conf import settings
    from django.utils import timezone

    tenant_id, _ = tenant_with_key("bench floor")
    batch = settings.SEAL_BATCH_SIZE
    body = b'{"data":"' + b"x" * (EVENT_BODY_BYTES - 11) + b'"}'
    with raw_connection(autocommit=True) as conn:  # untimed: the customer records and the log row exist
        records = {}
        for customer in sorted({item["customerId"] for item in items}):
            records[customer] = "cus_" + secrets.token_hex(10)
            conn.execute(
                "INSERT INTO records_customerrecord (id, tenant_id, environment, customer_id, created_at,"
                " last_intake_sequence, chain_length, chain_head) VALUES (%s, %s, 'sandbox', %s, now(), 0, 0, '')",
                [records[customer], tenant_id, customer],
            )
        (log_id,) = conn.execute(
            "INSERT INTO records_logstate (tenant_id, environment, origin, tree_size, updated_at)"
            " VALUES (%s, 'sandbox', 'bench', 0, now()) RETURNING id", [tenant_id],
        ).fetchone()
    ours = [(r[0], tenant_id, "sandbox", records[item["customerId"]]) + r[4:] for r, item in zip(rows, items, strict=True)]
    with raw_connection() as conn, conn.cursor() as cursor:
        start = time.perf_counter()
        with cursor.copy(f"COPY records_delta ({', '.join(RAW_COLUMNS)}) FROM STDIN") as copy:
            for row in ours:
                copy.write_row(row)
        ids = [i for (i,) in cursor.execute("SELECT id FROM records_delta WHERE tenant_id = %s ORDER BY id", [tenant_id])]
        conn.commit()
        for first in range(0, len(ids), batch):
            chunk = ids[first : first + batch]
            cursor.execute("UPDATE records_delta SET status = 'PROCESSING' WHERE id = ANY(%s)", [chunk])
            conn.commit()
            now, size = timezone.now(), first + len(chunk)
            cursor.execute(
                "UPDATE records_delta AS d SET status = 'VERIFIED', chain_index = v.leaf, leaf_index = v.leaf,"
                " proof_hash = v.proof, previous_proof_hash = v.previous, verification_reference = v.reference,"
                " verified_at = v.at FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[],"
                " %s::varchar[], %s::timestamptz[]) AS v(id, leaf, proof, previous, reference, at) WHERE d.id = v.id",
                [chunk, list(range(first, size)), ["0x" + secrets.token_hex(32) for _ in chunk],
                 ["0x" + secrets.token_hex(32) for _ in chunk], [f"{size}:0x" + "ab" * 32] * len(chunk), [now] * len(chunk)],
            )  # fmt: skip
            with cursor.copy("COPY records_logleaf (log_id, leaf_index, leaf_hash, delta_id) FROM STDIN") as copy:
                for offset, delta_id in enumerate(chunk):
                    copy.write_row((log_id, first + offset, secrets.token_bytes(32), delta_id))
            with cursor.copy("COPY records_lognode (log_id, level, index, hash) FROM STDIN") as copy:
                for offset in range(len(chunk)):  # about one complete subtree per leaf
                    copy.write_row((log_id, 1 + offset % 9, first + offset, secrets.token_bytes(32)))
            with cursor.copy("COPY webhooks_event (id, tenant_id, environment, type, body, created_at) FROM STDIN") as copy:
                for _ in chunk:
                    copy.write_row(("evt_" + secrets.token_hex(10), tenant_id, "sandbox", "delta.verified", body, now))
            cursor.execute(
                "INSERT INTO records_signedtreehead (log_id, tree_size, root_hash, note, key_id, public_key, signed_at)"
                " VALUES (%s, %s, %s, %s, 'abcd1234', 'key', %s)", [log_id, size, secrets.token_bytes(32), "note\n" * 4, now],
            )
            cursor.execute("UPDATE records_logstate SET tree_size = %s, root_hash = %s, updated_at = %s WHERE id = %s",
                           [size, secrets.token_bytes(32), now, log_id])
            conn.commit()
        return time.perf_counter() - start


def batch_ours(server: Server, payloads: list[list[list[dict]]]) -> dict:
    tenant_id, key = tenant_with_key("bench batch")
    bodies = [[json.dumps({"deltas": batch}).encode() for batch in client] for client in payloads]
    expected = sum(len(batch) for client in payloads for batch in client)
    problems: list[str] = []
    retried: list[str] = []

    def client_loop(mine: list[bytes]):
        def run():
            client = Client(server.url, key)
            for body in mine:
                # A 5xx rolled the whole batch back; a client retries it (referenceIds make retries safe).
                for _ in range(BATCH_ATTEMPTS):
                    status, answer = client.call("POST", "/api/v1/balance/delta/batch", body)
                    if status < 500:
                        break
                    retried.append(f"{status} {answer[:120]!r}")
                data = json.loads(answer or b"{}").get("data") or {}
                if status != 200 or data.get("totalFailed") != 0:
                    problems.append(f"{status} {answer[:200]!r}")
            client.close()

        return run

    start, ingested = run_threads([client_loop(mine) for mine in bodies])
    if problems:
        raise RuntimeError(f"batch requests failed: {problems[:3]}")
    verified = wait_verified(tenant_id, expected)
    return {"rows": expected, "ingest_s": ingested - start, "verified_s": verified - start, "retried": retried}


def bench_batch(server: Server, scale: Scale) -> tuple[list[Row], list[str]]:
    from django.conf import settings

    payloads = batch_payloads(scale.batches)
    items = [item for client in payloads for batch in client for item in batch]
    rows = raw_rows(items)
    scratch_table_create(BATCH_TABLE)
    log(f"(a) baseline: executemany of {len(rows)} rows")
    raw_first = raw_executemany(rows)
    log(f"(a) ours: {scale.batches} batches of {BATCH_ITEMS} via HTTP, sealed by a celery worker")
    with running(SealWorker()):
        ours = batch_ours(server, payloads)
    log("(a) baseline again")
    raw_second = raw_executemany(rows)
    log("(a') the SQL floor of sealing the same rows")
    floor_s = sql_floor(items, rows)
    raw_s = min(raw_first, raw_second)  # the faster baseline: the conservative ratio
    raw_rate, ours_rate = len(rows) / raw_s, ours["rows"] / ours["verified_s"]
    ingest_rate = ours["rows"] / ours["ingest_s"]
    ratio = ours_rate / raw_rate
    row = Row(
        "(a) batch ingest → VERIFIED",
        f"{ours_rate:,.0f} rows/s",
        f"{raw_rate:,.0f} rows/s",
        ratio,
        "≥ 0.30",
        ratio >= 0.30,
        note=(
            f"{ours['rows']:,} rows in {ours['verified_s']:.1f} s (HTTP accepted all in {ours['ingest_s']:.1f} s = "
            f"{ingest_rate:,.0f} rows/s, ratio {ingest_rate / raw_rate:.3f} before sealing); raw executemany "
            f"{raw_first:.2f} s / {raw_second:.2f} s; batch requests retried after a 5xx: {len(ours['retried'])}"
            + (f" (first: {ours['retried'][0]}; see bench/out/gunicorn-app.log)" if ours["retried"] else "")
        ),
    )
    floor_rate = len(rows) / floor_s
    floor = Row(
        "(a') SQL floor of sealing (proofs.md §5)",
        f"{floor_rate:,.0f} rows/s",
        f"{raw_rate:,.0f} rows/s",
        floor_rate / raw_rate,
        "ceiling of (a)",
        None,
        note=(
            f"{len(rows):,} rows in {floor_s:.2f} s: COPY of the QUEUED rows, then per {settings.SEAL_BATCH_SIZE}-row batch"
            " the claim UPDATE + commit and the seal UPDATE + leaves + nodes + one outbox event per delta + signed head"
            f" + commit; no HTTP, hashing or JSON; (a) reaches {ours_rate / floor_rate:.2f} of this floor"
        ),
    )
    return [row, floor], []


# --------------------------------------------------------------------------------------- (b) and (c)
@dataclass
class LoadResult:
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def emit_load(
    base_url: str, path: str, api_key: str | None, seconds: float, tag: str, *, during=None
) -> LoadResult:
    """EMIT_CLIENTS threads POSTing single deltas for `seconds`; `during` runs in its own thread meanwhile."""
    result = LoadResult()
    lock = threading.Lock()
    stop_at: list[float] = []

    def client_loop(index: int):
        def run():
            client = Client(base_url, api_key)
            n, ok, errors, latencies = 0, 0, 0, []
            while time.perf_counter() < stop_at[0]:
                body = json.dumps(delta_item(f"{tag}-{index}-cust-{n % 20}", n, f"{tag}-{index}")).encode()
                sent = time.perf_counter()
                status, _ = client.call("POST", path, body)
                latencies.append(time.perf_counter() - sent)
                ok, errors, n = ok + (status == 201), errors + (status != 201), n + 1
            client.close()
            with lock:
                result.ok, result.errors = result.ok + ok, result.errors + errors
                result.latencies += latencies

        return run

    # Warm both gunicorn workers (imports, connections) before the clock starts.
    warm = Client(base_url, api_key)
    for n in range(20):
        warm.call("POST", path, json.dumps(delta_item(f"{tag}-warm", n, f"{tag}-warm")).encode())
    warm.close()
    targets = [client_loop(i) for i in range(EMIT_CLIENTS)]
    side = threading.Thread(target=during, daemon=True) if during else None

    def arm():
        stop_at.append(time.perf_counter() + seconds)
        if side:
            side.start()

    start, end = run_threads(targets, before_start=arm)
    if side:
        side.join()
    result.seconds = end - start
    return result


class LatencyProbe:
    """Emit a probe delta every PROBE_EVERY_SECONDS; poll GET /balance/delta/:id of the oldest outstanding
    probe until it is VERIFIED, recording the time since its emit was sent.

    Sealing follows acceptance order, so polling only the oldest keeps the probe at one GET per poll
    interval however many probes are outstanding; a probe found VERIFIED is re-checked at once for the next.
    """

    def __init__(self, server: Server, api_key: str, emit_for: float) -> None:
        self.server, self.api_key, self.emit_for = server, api_key, emit_for
        self.samples: list[float] = []
        self.timeouts = 0
        self.queue_lengths: list[int] = []

    def run(self) -> None:
        import redis

        broker = redis.Redis.from_url(REDIS_URL)
        client = Client(self.server.url, self.api_key)
        outstanding: deque[tuple[str, float]] = deque()
        start = time.perf_counter()
        next_emit, n = start, 0
        while True:
            now = time.perf_counter()
            if now - start > self.emit_for + PROBE_DRAIN_SECONDS:
                self.timeouts += len(outstanding)
                break
            if now - start <= self.emit_for and now >= next_emit:
                next_emit, n = now + PROBE_EVERY_SECONDS, n + 1
                body = json.dumps(delta_item("probe-cust", n, "probe")).encode()
                status, answer = client.call("POST", "/api/v1/balance/delta", body)
                if status == 201:
                    outstanding.append((json.loads(answer)["data"]["recordId"], now))
                self.queue_lengths.append(broker.llen(SEAL_QUEUE))
            elif outstanding:
                record_id, sent = outstanding[0]
                status, answer = client.call("GET", f"/api/v1/balance/delta/{record_id}")
                if status == 200 and json.loads(answer)["data"]["status"] == "VERIFIED":
                    self.samples.append(time.perf_counter() - sent)
                    outstanding.popleft()
                    continue
                time.sleep(PROBE_POLL_SECONDS)
            elif now - start > self.emit_for:
                break
            else:
                time.sleep(min(PROBE_POLL_SECONDS, max(0.0, next_emit - now)))
        client.close()


def server_side_latency(tenant_id: str) -> tuple[float, float, int]:
    """p50/p95 of verifiedAt − createdAt over every delta of the tenant (createdAt is ms-truncated)."""
    with raw_connection(autocommit=True) as conn:
        values = [
            row[0]
            for row in conn.execute(
                "SELECT extract(epoch FROM verified_at - created_at) FROM records_delta"
                " WHERE tenant_id = %s AND status = 'VERIFIED'",
                [tenant_id],
            )
        ]
    floats = [float(v) for v in values]
    return percentile(floats, 50), percentile(floats, 95), len(floats)


def bench_emit(server: Server, baseline: Server, scale: Scale) -> tuple[list[Row], list[str]]:
    scratch_table_create(EMIT_TABLE)
    seconds = scale.emit_seconds
    log(f"(b) baseline: bare Django view, one INSERT, {EMIT_CLIENTS} clients for {seconds:.0f} s")
    base_first = emit_load(baseline.url, "/bench/insert", None, seconds, "base1")
    log("(b') the emit floor: the same work, hand-written, no framework")
    _, key_f = tenant_with_key("bench emit floor")
    floor = emit_load(baseline.url, "/bench/emit-floor", key_f, seconds, "floor")
    tenant_b, key_b = tenant_with_key("bench emit")
    log("(b) ours: POST /api/v1/balance/delta, no seal worker")
    seal_queue_purge()  # the floor's seal signals too: nothing seals the floor's tenant
    ours = emit_load(server.url, "/api/v1/balance/delta", key_b, seconds, "emit")
    log("(b) baseline again")
    base_second = emit_load(baseline.url, "/bench/insert", None, seconds, "base2")
    base = max(base_first, base_second, key=lambda r: r.rate)
    ratio = ours.rate / base.rate
    rows = [Row(
        "(b) single emit",
        f"{ours.rate:,.0f} req/s",
        f"{base.rate:,.0f} req/s",
        ratio,
        "≥ 0.6",
        ratio >= 0.6 and ours.errors == 0,
        note=(
            f"{EMIT_CLIENTS} client threads, {seconds:.0f} s each; request p50 {percentile(ours.latencies, 50) * 1000:.1f} ms"
            f" vs {percentile(base.latencies, 50) * 1000:.1f} ms; errors ours {ours.errors}, baseline "
            f"{base_first.errors + base_second.errors}; baseline runs {base_first.rate:,.0f} / {base_second.rate:,.0f} req/s"
        ),
    ), Row(
        "(b') emit floor (same work, no framework)",
        f"{floor.rate:,.0f} req/s",
        f"{base.rate:,.0f} req/s",
        floor.rate / base.rate,
        "ceiling of (b)",
        None,
        note=(
            f"bench/baseline_urls.py emit_floor: key lookup, rate-limit count, lock + referenceId lookup + INSERT +"
            f" head UPDATE in one transaction, contentHash, seal signal; p50 {percentile(floor.latencies, 50) * 1000:.1f} ms;"
            f" errors {floor.errors}; (b) reaches {ours.rate / floor.rate:.2f} of this floor"
        ),
    )]

    with running(SealWorker()):
        log("(c) draining the (b) backlog before measuring latency")
        total, _, _ = delta_counts(tenant_b)
        wait_verified(tenant_b, total)
        tenant_c, key_c = tenant_with_key("bench latency")
        log("(c) emit load with the seal worker running, latency probe polling")
        probe = LatencyProbe(server, key_c, emit_for=seconds)
        loaded = emit_load(server.url, "/api/v1/balance/delta", key_c, seconds, "lat", during=probe.run)
        total, _, _ = delta_counts(tenant_c)
        wait_verified(tenant_c, total)
    if not probe.samples:
        raise RuntimeError("the latency probe saw no delta VERIFIED")
    p50, p95 = percentile(probe.samples, 50), percentile(probe.samples, 95)
    s50, s95, n_server = server_side_latency(tenant_c)
    rows.append(Row(
        "(c) emit → VERIFIED p95",
        f"p50 {p50 * 1000:,.0f} ms, p95 {p95 * 1000:,.0f} ms",
        "—",
        None,
        "p95 < 1 s",
        p95 < 1.0 and probe.timeouts == 0,
        note=(
            f"{len(probe.samples)} probes (one per {PROBE_EVERY_SECONDS:.1f} s) polled every {PROBE_POLL_SECONDS * 1000:.0f} ms under {EMIT_CLIENTS}-client emit load"
            f" ({loaded.rate:,.0f} req/s with the worker sealing, {loaded.rate / base.rate:.3f} of baseline); max "
            f"{max(probe.samples) * 1000:,.0f} ms, timeouts {probe.timeouts}; seal queue length at probe emits: max "
            f"{max(probe.queue_lengths, default=0)}, last {(probe.queue_lengths or [0])[-1]}; server-side verifiedAt−createdAt over all "
            f"{n_server:,} deltas: p50 {s50 * 1000:,.0f} ms, p95 {s95 * 1000:,.0f} ms"
        ),
    ))
    return rows, []


# --------------------------------------------------------------------------------------- entry points
def run(*, quick: bool) -> tuple[list[Row], list[str]]:
    """Every ingest benchmark on a fresh bench database; returns table rows and detail lines."""
    scale = Scale.of(quick)
    rows: list[Row] = []
    details: list[str] = []
    with bench_database():
        server, baseline = Server("app"), Server("baseline", "bench.settings")
        with running(server, baseline):
            seal_queue_purge()
            for part in (lambda: bench_batch(server, scale), lambda: bench_emit(server, baseline, scale)):
                part_rows, part_details = part()
                rows += part_rows
                details += part_details
            seal_queue_purge()
    return rows, details


def main() -> None:
    args = parse_args("Ingest benchmarks: batch to VERIFIED, single emit, verification latency")
    setup_django()
    rows, details = run(quick=args.quick)
    report("Balance ingest", rows, quick=args.quick, record=args.should_record, details=details)


if __name__ == "__main__":
    main()
