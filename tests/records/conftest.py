"""Fixtures for tests/records: a real Celery seal worker against the test database.

Tests that use `celery_seal_worker` carry `@pytest.mark.celery_worker` (skipped by tests/conftest.py
when Redis is unavailable) and `@pytest.mark.django_db(transaction=True)`: the worker is another
process, so it only sees committed rows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_READY_SECONDS = 30
WORKER_STOP_SECONDS = 10


def _database_url(db: dict) -> str:
    """A DATABASE_URL (what pacspace.settings reads) for this connection's settings, NAME included."""
    user = quote(db.get("USER") or "", safe="")
    password = db.get("PASSWORD") or ""
    auth = user + (f":{quote(password, safe='')}" if password else "")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth + '@' if auth else ''}{host}{port}/{quote(db['NAME'], safe='')}"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no worker log>"


def _stop(process: subprocess.Popen) -> None:
    """Warm shutdown first, up to 10 s; then SIGKILL to the process group this fixture created
    (start_new_session), which also sweeps any pool child left behind."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=WORKER_STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=WORKER_STOP_SECONDS)


def spawn_seal_worker(log_dir: Path) -> tuple[subprocess.Popen, str]:
    """Start `celery -A pacspace worker -Q seal -c 2` on the test database; return it once its own node
    answers a ping (another worker on the same broker must not make it look ready)."""
    from django.conf import settings
    from django.db import connection

    from pacspace.celery import app

    broker = settings.REDIS_URL or settings.CELERY_BROKER_URL
    # After django_db_setup the connection's NAME is the test database (test_<name>).
    database_url = _database_url(connection.settings_dict)
    node = f"sdk-seal-{uuid.uuid4().hex[:10]}@pytest"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "REDIS_URL": broker,
        "CELERY_BROKER_URL": broker,
        "DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    celery = Path(sys.executable).with_name("celery")
    log_path = log_dir / f"{node.split('@')[0]}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own venv's celery, fixed arguments
            [str(celery), *"-A pacspace worker -Q seal -c 2 -l warning".split(), "-n", node,
             "--without-gossip", "--without-mingle"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + WORKER_READY_SECONDS
    while not app.control.ping(destination=[node], timeout=1):
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited with {process.returncode}:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(f"celery worker not ready after {WORKER_READY_SECONDS}s:\n{_tail(log_path)}")
    return process, node


def kill_worker(process: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group, as a crash or an OOM kill would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=WORKER_STOP_SECONDS)


@pytest.fixture(scope="module")
def celery_seal_worker(django_db_setup, tmp_path_factory) -> Iterator[str]:
    """A seal worker for the module's worker tests, always stopped at the end."""
    process, node = spawn_seal_worker(tmp_path_factory.mktemp("celery"))
    try:
        yield node
    finally:
        _stop(process)


@pytest.fixture
def celery_not_eager(celery_seal_worker, settings) -> Iterator[str]:
    """Route tasks of this process (the live server thread included) to the broker, not in-process."""
    from pacspace.celery import app

    previous = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    try:
        yield celery_seal_worker
    finally:
        app.conf.task_always_eager = previous
