"""Shared machinery of the balance benchmarks: the bench environment, its own database, the gunicorn and
Celery processes it starts, the result table and `RESULTS.md`.

Everything runs against a database of its own (`pacspace_bench` unless BENCH_DB_NAME says otherwise),
created, migrated and dropped here; the service's own databases are refused by name. The machine is
shared and noisy, so every figure is reported as a ratio to a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
OUT_DIR = BENCH_DIR / "out"  # logs and profiles; git-ignored
RESULTS = BENCH_DIR / "RESULTS.md"
VENV_BIN = Path(sys.executable).parent

PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB_NAME", "pacspace_bench")
# A Redis database of its own, so a test suite's seal worker (db 0) never takes the bench's tasks.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
PROTECTED_DATABASES = {"pacspace", "test_pacspace", "postgres", "template0", "template1"}
SEAL_QUEUE = "seal"


def bench_env() -> dict[str, str]:
    """The production settings module with DEBUG off; test-only secrets taken from tests/settings.py."""
    return {
        "DJANGO_SETTINGS_MODULE": "pacspace.settings",
        "DEBUG": "false",
        "DATABASE_URL": f"{PG_SERVER}/{DB_NAME}",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PUBLIC_BASE_URL": "https://records.example.com",
        "LOG_SIGNING_KEY": "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",  # RFC 8032 test-1 seed
        "SECURE_SSL_REDIRECT": "false",
        # The per-key limiter still runs (its Redis round trip is part of every request); the default 6000/min
        # would turn the emit benchmark into a measurement of the limit.
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        "VAR_DIR": str(REPO_ROOT / "var" / "bench"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }


def setup_django() -> None:
    """Configure this process like the servers it starts (must run before any model import)."""
    os.environ.update(bench_env())
    import django

    django.setup()


# --------------------------------------------------------------------------------------- arguments
def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="scale everything down ~10x (smoke run)")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md even with --quick")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument(
        "--profile", action="store_true", help="also write cProfile output to bench/out/ (inflates timings)"
    )
    args = parser.parse_args()
    # Smoke runs and profiled runs (cProfile slows the timed call) are not results unless asked for.
    args.should_record = not args.no_record and (args.record or not (args.quick or args.profile))
    return args


# --------------------------------------------------------------------------------------- database
def _admin_connection() -> psycopg.Connection:
    return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True)


def _check_name() -> None:
    if DB_NAME in PROTECTED_DATABASES or not DB_NAME.replace("_", "").isalnum():
        raise SystemExit(f"refusing to use database {DB_NAME!r}: the bench drops what it creates")


def database_drop() -> None:
    _check_name()
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def database_create() -> None:
    """A fresh, migrated bench database (a leftover of a crashed run is dropped first)."""
    database_drop()
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


@contextmanager
def bench_database() -> Iterator[None]:
    from django.db import connections

    database_create()
    try:
        yield
    finally:
        connections.close_all()
        database_drop()


def raw_connection(**kwargs) -> psycopg.Connection:
    return psycopg.connect(f"{PG_SERVER}/{DB_NAME}", **kwargs)


def scratch_table_create(name: str) -> None:
    """A table shaped like records_delta: same columns, defaults, indexes and unique constraints (no FKs,
    which LIKE never copies), so a raw INSERT pays the same index maintenance as ours."""
    with raw_connection(autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"CREATE TABLE {name} (LIKE records_delta INCLUDING ALL)")


def tenant_with_key(name: str) -> tuple[str, str]:
    """A direct tenant and a sandbox API key; returns (tenant id, full key)."""
    from records.services.tenants import api_key_create, tenant_create

    tenant = tenant_create(name=name, kind="direct")
    _, key = api_key_create(tenant=tenant, environment="test", name="bench")
    return tenant.id, key


# --------------------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM then SIGKILL to the process group this module created (start_new_session) — never wider."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Server:
    """`gunicorn pacspace.wsgi -w 2` on a free port, with the bench env and the given settings module."""

    def __init__(self, label: str, settings_module: str = "pacspace.settings", workers: int = 2) -> None:
        self.label, self.settings_module, self.workers = label, settings_module, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = OUT_DIR / f"gunicorn-{label}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        OUT_DIR.mkdir(exist_ok=True)
        env = {**os.environ, **bench_env(), "DJANGO_SETTINGS_MODULE": self.settings_module}
        command = [
            str(VENV_BIN / "gunicorn"), "pacspace.wsgi", "-b", f"127.0.0.1:{self.port}",
            "-w", str(self.workers), "--timeout", "120", "--log-level", "warning",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.label} exited:\n{_tail(self.log)}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn {self.label} not ready after {timeout}s:\n{_tail(self.log)}")

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process)
            self.process = None


class SealWorker:
    """`celery -A pacspace worker -Q seal -c 2` on the bench database; ready once its node answers."""

    def __init__(self, concurrency: int = 2) -> None:
        self.concurrency = concurrency
        self.node = f"bench-seal-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.log = OUT_DIR / "celery-seal.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> SealWorker:
        OUT_DIR.mkdir(exist_ok=True)
        command = [
            str(VENV_BIN / "celery"), "-A", "pacspace", "worker", "-Q", SEAL_QUEUE, "-c", str(self.concurrency),
            "-l", "warning", "-n", self.node, "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env={**os.environ, **bench_env()}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        from pacspace.celery import app

        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[self.node], timeout=1):
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{_tail(self.log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"celery worker not ready after 60s:\n{_tail(self.log)}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process, grace=30)
            self.process = None


def seal_queue_purge() -> None:
    from pacspace.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(SEAL_QUEUE)


@contextmanager
def running(*processes) -> Iterator[None]:
    try:
        for process in processes:
            process.start()
        yield
    finally:
        for process in reversed(processes):
            process.stop()


# --------------------------------------------------------------------------------------- measuring
class RssSampler:
    """Peak resident set size of this process while active, sampled from /proc every few ms.

    `ru_maxrss` is the lifetime peak (the fixture build would hide the call), hence the sampling.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start_bytes = self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current_bytes() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.current_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.start_bytes = self.peak_bytes = self.current_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self.current_bytes())

    @property
    def growth_mib(self) -> float:
        return (self.peak_bytes - self.start_bytes) / 2**20


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n·q/100)
    return ordered[int(rank) - 1]


# --------------------------------------------------------------------------------------- reporting
@dataclass
class Row:
    """One line of the table. `higher_is_better` says which way the ratio must clear `target`."""

    name: str
    ours: str
    baseline: str
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "—"}[self.met]


def table(rows: list[Row]) -> str:
    """A Markdown table (readable as plain text too)."""
    head = ["Benchmark", "Ours", "Baseline", "Ratio", "Target", "Result"]
    body = [
        [r.name, r.ours, r.baseline, "—" if r.ratio is None else f"{r.ratio:.3f}", r.target or "—", r.verdict]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def fmt(line: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    notes = [f"- {r.name}: {r.note}" for r in rows if r.note]
    return "\n".join([fmt(head), rule, *map(fmt, body), *([""] + notes if notes else [])])


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    total = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout.split("\n")[1].split()[1]
    with _admin_connection() as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    from records.proofs import KECCAK_BACKEND

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no").strip() else ""
    return {
        "code": f"git {head}{dirty}",
        "nproc": str(os.cpu_count()),
        "memory": total,
        "cpu": cpu,
        "postgresql": pg,
        "python": platform.python_version(),
        "keccak": KECCAK_BACKEND,
    }


def report(title: str, rows: list[Row], *, quick: bool, record: bool, details: list[str] | None = None) -> None:
    """Print the table; append a dated section to RESULTS.md when asked (full runs by default)."""
    info = machine()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    scale = "quick (~1/10 scale, smoke only)" if quick else "full"
    lines = [
        f"## {title} — {now} ({scale})",
        "",
        f"Machine: nproc {info['nproc']}, memory {info['memory']}, CPU {info['cpu']}, "
        f"PostgreSQL {info['postgresql']}, Python {info['python']}, keccak {info['keccak']}. Code: {info['code']}.",
        "",
        table(rows),
    ]
    if details:
        lines += ["", *details]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if record:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n")
        with open(RESULTS, "a") as results:  # append only: other benchmarks add their own sections
            results.write("\n" + text)
        print(f"appended to {RESULTS.relative_to(REPO_ROOT)}")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
