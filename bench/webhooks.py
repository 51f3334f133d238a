"""Webhook delivery benchmark: `.venv/bin/python -m bench.webhooks [--deliveries N] [--slow-events K]`.

1. Throughput: N deliveries to a fast loopback receiver through the real path (outbox rows, Redis,
   two worker processes, lease claim, signing, address check, attempt log) against a baseline of
   N plain `requests.post` calls from one process to the same receiver. Target ratio: >= 0.5.
   Deliveries travel in batches of one endpoint (webhooks/services/dispatch.py); the receiver answers
   HTTP/1.0 and closes every connection, so neither side gains from keep-alive here. A third part runs
   the same against a receiver that keeps connections open, with a `requests.Session` loop beside it.
2. Isolation: K events to two endpoints of one tenant, one answering after 2 s and one at once; the
   fast endpoint's deliveries must not wait behind the slow one's.

Needs PostgreSQL and Redis on loopback. It works in a database of its own (`pacspace_webhooks_bench`,
created and migrated on first use) and Redis database 12, so no test-suite worker takes its tasks.
Results are printed and appended to bench/RESULTS.md; worker logs go to bench/out/.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
OUT = ROOT / "bench" / "out"  # git-ignored
PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE_URL = f"{PG_SERVER}/pacspace_webhooks_bench"
REDIS_URL = os.environ.get("BENCH_WEBHOOKS_REDIS_URL", "redis://127.0.0.1:6379/12")
SLOW_SECONDS = 2.0
WAIT_LIMIT = 300.0


# ------------------------------------------------------------------------------------------ receivers
def _serve(port: int, delay: float, keep_alive: bool) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"  # 1.0: one request per connection
        # Headers and body go out as two writes; on a kept connection Nagle holds the second until the
        # client's delayed ACK (40 ms), as servers that set TCP_NODELAY (most do) never make it wait.
        disable_nagle_algorithm = keep_alive

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if delay:
                time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    server.serve_forever()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_receiver(delay: float = 0.0, *, keep_alive: bool = False) -> tuple[multiprocessing.Process, str]:
    """A receiver in its own process, so it does not share a GIL with what it measures."""
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, delay, keep_alive), daemon=True
    )
    process.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return process, f"http://127.0.0.1:{port}/hooks"
    raise RuntimeError("receiver did not start")


# ---------------------------------------------------------------------------------------- environment
def configure() -> dict[str, str]:
    """The test settings (private targets allowed, for loopback receivers) on the bench's own database
    and Redis database, with a real broker."""
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    _create_database(env["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def _create_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True, connect_timeout=5) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def reset() -> None:
    from pacspace.celery import app
    from webhooks.models import Attempt, Delivery, Endpoint, Event

    for model in (Attempt, Delivery, Event, Endpoint):
        model.objects.all().delete()
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("webhooks")


# `celery worker` with Django connections kept across tasks. Celery's Django fixup closes them before
# and after every task unless CELERY_DB_REUSE_MAX is set, which the service's settings do not (yet) do.
REUSE_LAUNCHER = (
    "import sys; from pacspace.celery import app; "
    "app.conf.CELERY_DB_REUSE_MAX = 1000; app.worker_main(sys.argv[1:])"
)


class Workers:
    """Worker processes on the `webhooks` queue: `solo` = that many single-process workers (each
    process takes a message and sends it), `prefork` = one node with that many pool children."""

    def __init__(self, env: dict[str, str], *, pool: str, processes: int = 2, reuse_db: bool = False) -> None:
        OUT.mkdir(exist_ok=True)
        nodes = {
            "solo": [["--pool", "solo"]] * processes,
            "threads": [["--pool", "threads", "-c", str(THREADS)]] * processes,
            "prefork": [["--pool", "prefork", "-c", str(processes)]],
        }[pool]
        self.names = [
            f"bench-{pool}{index}-{os.getpid()}@{socket.gethostname()}" for index in range(len(nodes))
        ]
        self.processes = [
            self._start(env, name, args, reuse_db) for name, args in zip(self.names, nodes, strict=True)
        ]

    @staticmethod
    def _start(env: dict[str, str], name: str, pool_args: list[str], reuse_db: bool) -> subprocess.Popen:
        launcher = (
            [sys.executable, "-c", REUSE_LAUNCHER]
            if reuse_db
            else [str(Path(sys.executable).with_name("celery")), "-A", "pacspace"]
        )
        command = [
            *launcher, "worker", "-Q", "webhooks", *pool_args,
            "-l", "warning", "-n", name, "--without-heartbeat", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        log = (OUT / f"celery-webhooks-{name.split('@')[0]}.log").open("w")
        return subprocess.Popen(  # noqa: S603 - our own argv
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        from pacspace.celery import app

        deadline = time.monotonic() + 60
        for name in self.names:
            while not app.control.ping(destination=[name], timeout=0.5):
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                    raise RuntimeError("workers did not start; see bench/out/")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


# ------------------------------------------------------------------------------------------- scenarios
def _tenant():
    from records.services.tenants import tenant_create

    return tenant_create(name=f"Bench {datetime.now(timezone.utc):%H%M%S}", kind="direct")


def _record(tenant, count: int) -> float:
    """Writes `count` events in one transaction; returns the monotonic time just before the commit."""
    from django.db import transaction

    from webhooks.services import event_record

    with transaction.atomic():
        for index in range(count):
            event_record(
                tenant_id=tenant.pk,
                environment="sandbox",
                event_type="delta.verified",
                data={"recordId": f"rec_{index:020d}", "amount": -12.5, "reason": "daily_usage_flush"},
            )
        started = time.monotonic()
    return started


def _wait_delivered(deliveries, count: int) -> float:
    """Polls until all are DELIVERED, running the dispatch sweep every 10 s as `celery beat` would."""
    from webhooks.services import deliveries_dispatch_due

    deadline = time.monotonic() + WAIT_LIMIT
    sweep = time.monotonic() + 10
    while deliveries.filter(status="DELIVERED").count() < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {deliveries.filter(status='DELIVERED').count()} of {count} delivered")
        if time.monotonic() > sweep:
            deliveries_dispatch_due()
            sweep = time.monotonic() + 10
        time.sleep(0.02)
    return time.monotonic()


def baseline(url: str, count: int, *, session: bool = False) -> float:
    """Deliveries per second of a bare `requests.post` loop: no database, no queue, no signing.
    `session`: the loop runs on one `requests.Session`, which keeps its connection if the receiver does."""
    import requests

    body = b'{"id":"evt_bench","event":"delta.verified","data":{"amount":-12.5}}'
    headers = {"Content-Type": "application/json"}
    client = requests.Session() if session else requests
    started = time.monotonic()
    for _ in range(count):
        client.post(url, data=body, headers=headers, timeout=15, allow_redirects=False).raise_for_status()
    rate = count / (time.monotonic() - started)
    if session:
        client.close()
    return rate


def throughput(url: str, count: int) -> float:
    from webhooks.models import Delivery
    from webhooks.services import endpoint_create

    tenant = _tenant()
    endpoint, _ = endpoint_create(tenant=tenant, environment="sandbox", url=url)
    started = _record(tenant, count)
    finished = _wait_delivered(Delivery.objects.filter(endpoint=endpoint), count)
    return count / (finished - started)


def isolation(slow_url: str, fast_url: str, events: int) -> dict[str, float]:
    """Seconds from commit until the last delivery of each endpoint is DELIVERED."""
    from webhooks.models import Delivery
    from webhooks.services import endpoint_create

    tenant = _tenant()
    slow, _ = endpoint_create(tenant=tenant, environment="sandbox", url=slow_url, description="slow")
    fast, _ = endpoint_create(tenant=tenant, environment="sandbox", url=fast_url, description="fast")
    started = _record(tenant, events)
    fast_done = _wait_delivered(Delivery.objects.filter(endpoint=fast), events) - started
    slow_done = _wait_delivered(Delivery.objects.filter(endpoint=slow), events) - started
    return {"fast": fast_done, "slow": slow_done}


def keep_alive(url: str, count: int) -> dict[str, float]:
    """A receiver that keeps connections open (HTTP/1.1): the workers reuse theirs within a batch."""
    baseline(url, 50)
    return {
        "post": baseline(url, count),
        "session": baseline(url, count, session=True),
        "webhooks": throughput(url, count),
    }


# ------------------------------------------------------------------------------------------------ main
THREADS = 4
SETUPS = {
    "solo": {"pool": "solo"},
    "prefork": {"pool": "prefork"},
    "threads": {"pool": "threads"},
    "solo-reuse": {"pool": "solo", "reuse_db": True},
    "threads-reuse": {"pool": "threads", "reuse_db": True},
}
LABELS = {
    "solo": "webhooks, 2 worker processes (`--pool solo` x 2), as configured",
    "prefork": "webhooks, 1 node `--pool prefork -c 2` (2 processes), as configured",
    "threads": f"webhooks, 2 worker processes (`--pool threads -c {THREADS}` x 2), as configured",
    "solo-reuse": "webhooks, 2 worker processes (`--pool solo` x 2), with `CELERY_DB_REUSE_MAX=1000`",
    "threads-reuse": f"webhooks, 2 worker processes (`--pool threads -c {THREADS}` x 2), with the reuse",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--slow-events", type=int, default=10)
    args = parser.parse_args(argv)

    env = configure()
    reset()
    receivers = [start_receiver(), start_receiver(SLOW_SECONDS), start_receiver(keep_alive=True)]
    (_, fast_url), (_, slow_url), (_, keep_url) = receivers
    figures: dict = {}
    try:
        baseline(fast_url, 50)  # warm-up: imports, first connections
        figures["raw"] = [baseline(fast_url, args.deliveries)]
        for setup, options in SETUPS.items():
            workers = Workers(env, **options)
            try:
                workers.wait_ready()
                throughput(fast_url, 50)
                figures[setup] = throughput(fast_url, args.deliveries)
                if setup == "solo":
                    figures["spread"] = isolation(slow_url, fast_url, args.slow_events)
                    figures["keep"] = keep_alive(keep_url, args.deliveries)
            finally:
                workers.stop()
        figures["raw"].append(baseline(fast_url, args.deliveries))  # the machine may have drifted
    finally:
        for process, _ in receivers:
            process.terminate()
    report = _report(args, figures)
    print(report)
    _append(report)
    return 0


def _report(args: argparse.Namespace, figures: dict) -> str:
    from webhooks.services.dispatch import BATCH_SIZE

    raw = sum(figures["raw"]) / len(figures["raw"])
    spread = figures["spread"]
    fifo = args.slow_events * SLOW_SECONDS / 2  # two processes taking the queue in order
    return "\n".join(
        [
            f"## Webhooks — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
            "",
            f"`python -m bench.webhooks --deliveries {args.deliveries} --slow-events {args.slow_events}`; "
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, PostgreSQL and Redis on the same host; "
            f"load average at the end {os.getloadavg()[0]:.1f} (a shared host: compare ratios, not rates).",
            "",
            f"Throughput, {args.deliveries} deliveries to one fast loopback receiver "
            "(from commit to the last DELIVERED):",
            "",
            "| Sender | Deliveries/s | Ratio to baseline |",
            "|---|---|---|",
            f"| baseline: plain `requests.post` loop, one process (runs: "
            f"{', '.join(f'{r:,.0f}' for r in figures['raw'])}) | {raw:,.0f} | 1.00 |",
            *(
                f"| {LABELS[setup]} | {figures[setup]:,.0f} | **{figures[setup] / raw:.2f}** |"
                for setup in SETUPS
            ),
            "",
            "Target ratio >= 0.5. The webhook path includes the outbox rows, the on-commit messages through",
            "Redis, the lease claim, HMAC signing (two schemes), the address check, the attempt log and the",
            f"counters; messages, claims and recording transactions are per batch of up to {BATCH_SIZE}",
            "deliveries of one endpoint, the signing, address check and attempt row per delivery. The",
            "receiver closes every connection (HTTP/1.0), so no figure above gains from keep-alive.",
            "",
            f"Isolation, {args.slow_events} events to two endpoints of one tenant, one answering after "
            f"{SLOW_SECONDS:.0f} s, one at once (2 solo workers):",
            "",
            f"- fast endpoint: all delivered {spread['fast']:.2f} s after commit "
            f"(taking the queue in order behind the slow ones would need about {fifo:.0f} s)",
            f"- slow endpoint: all delivered after {spread['slow']:.2f} s (one delivery in flight at a time)",
            "",
            *_keep_alive_lines(args, figures["keep"]),
        ]
    )


def _keep_alive_lines(args: argparse.Namespace, keep: dict[str, float]) -> list[str]:
    return [
        f"Keep-alive, {args.deliveries} deliveries to a receiver answering HTTP/1.1 (it keeps connections "
        "open; same handler otherwise), 2 solo workers:",
        "",
        "| Sender | Deliveries/s | Ratio to `requests.post` here |",
        "|---|---|---|",
        f"| plain `requests.post` loop, one process (a new connection each) | {keep['post']:,.0f} | 1.00 |",
        f"| `requests.Session` loop, one process (one kept connection) | {keep['session']:,.0f} | "
        f"{keep['session'] / keep['post']:.2f} |",
        f"| webhooks, 2 worker processes (`--pool solo` x 2) | {keep['webhooks']:,.0f} | "
        f"**{keep['webhooks'] / keep['post']:.2f}** |",
        "",
    ]


def _append(report: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\n", encoding="utf-8")
    separator = "" if RESULTS.read_text(encoding="utf-8").endswith("\n\n") else "\n"
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(separator + report + "\n")


if __name__ == "__main__":
    sys.exit(main())
