"""Webhook test helpers: a real HTTP receiver on 127.0.0.1, a settable clock, the PacSpace SDK wired to
the test client, and a real Celery worker process for the tests marked `celery_worker`."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.conftest import Persona
from webhooks.models import Endpoint, Event
from webhooks.services import endpoint_create, event_record

ROOT = Path(__file__).resolve().parents[2]
SDK_BASE_URL = "http://testserver"
WAIT_SECONDS = 30.0


# ------------------------------------------------------------------------------------------- receiver
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    verified: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # secret -> (sdk, standard)
    client_port: int = 0  # the sender's side of the connection: equal ports, one kept-alive connection

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]


def verify_both(secret: str, headers: dict[str, str], body: bytes) -> tuple[bool, bool]:
    """(PacSpace SDK accepts, standardwebhooks accepts), each over the raw body as received."""
    from pacspace_sdk.errors import WebhookVerificationError as SdkError
    from pacspace_sdk.webhooks import Webhooks
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    try:
        Webhooks(secret).verify_from_headers(headers, body.decode("utf-8"))
        sdk = True
    except SdkError:
        sdk = False
    try:
        Webhook(secret).verify(body, headers)
        standard = True
    except WebhookVerificationError:
        standard = False
    return sdk, standard


class Receiver:
    """A webhook receiver as a tenant would write one: it verifies (when given secrets), answers from a
    script, and deduplicates on the event id like webhooks.md §7 tells receivers to."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls  # a server context makes it an HTTPS receiver
        self.requests: list[Received] = []
        self.statuses: list[int] = []  # answers for the next requests, in order; then `default_status`
        self.default_status = 200
        self.delay = 0.0
        self.response_body = b'{"ok":true}'
        self.secrets: list[str] = []  # each must verify with both libraries, else 401
        self.processed: Counter[str] = Counter()  # event id -> times handled after dedupe (must stay 1)
        self.hold: threading.Event | None = None  # when set, requests wait for it before answering
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        self.port = _free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, headers: dict[str, str], body: bytes, path: str, client_port: int = 0) -> Received:
        verified = {secret: verify_both(secret, headers, body) for secret in self.secrets}
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else self.default_status
            if verified and not all(all(pair) for pair in verified.values()):
                status = 401
            received = Received(path, headers, body, status, verified, client_port)
            self.requests.append(received)
            if 200 <= status < 300 and "webhook-id" in headers:
                if self.processed[received.event_id] == 0:  # dedupe: a repeat is acknowledged, not redone
                    self.processed[received.event_id] = 1
        self.arrived.set()
        return received

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(self.requests)} of {count} requests in {timeout} s")
            time.sleep(0.02)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: on a kept-alive connection Nagle would hold the body until
        # the client's delayed ACK, 40 ms per request.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if receiver.hold is not None:
                receiver.arrived.set()
                receiver.hold.wait(WAIT_SECONDS)
            if receiver.delay:
                time.sleep(receiver.delay)
            received = receiver.answer(dict(self.headers.items()), body, self.path, self.client_address[1])
            self.send_response(received.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(receiver.response_body)))
            self.end_headers()
            self.wfile.write(receiver.response_body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence per-request logging
            pass

    return Handler


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    yield receiver
    if receiver.hold is not None:
        receiver.hold.set()
    receiver.stop()


@pytest.fixture
def stopped_receiver() -> Iterator[Receiver]:
    """A receiver whose port nothing listens on until the test calls `start()`."""
    receiver = Receiver()
    yield receiver
    receiver.stop()


# ---------------------------------------------------------------------------------------------- clock
class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """`timezone.now()` frozen at a millisecond-exact instant; the test moves it with `advance`."""
    start = timezone.now().replace(microsecond=0)
    frozen = Clock(start)
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


# -------------------------------------------------------------------------------------------- helpers
def make_endpoint(persona: Persona, url: str, **kwargs) -> tuple[Endpoint, str]:
    return endpoint_create(tenant=persona.tenant, environment="sandbox", url=url, **kwargs)


def record_events(persona: Persona, count: int = 1, event_type: str = "delta.verified") -> list[Event]:
    """Events written the way domain services write them: inside their own transaction."""
    with transaction.atomic():
        return [
            event_record(
                tenant_id=persona.tenant.pk,
                environment="sandbox",
                event_type=event_type,
                data={"recordId": f"rec_{index}", "amount": "-12.5"},
            )
            for index in range(count)
        ]


@pytest.fixture
def committed(django_capture_on_commit_callbacks) -> Callable:
    """`with committed(): ...` runs the block's on-commit callbacks as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def sdk_for(persona: Persona):
    """The official SDK with its transport hook forwarding to Django's test client (operations.md §10)."""
    from pacspace_sdk import PacSpace
    from pacspace_sdk.client import TransportResponse

    client = Client(enforce_csrf_checks=True)

    def transport(
        method: str, url: str, headers: dict, body: str | None, timeout_ms: int
    ) -> TransportResponse:
        path = url.removeprefix(SDK_BASE_URL)
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        content_type = headers.get("Content-Type", "application/json")
        response = client.generic(
            method, path, (body or "").encode(), content_type=content_type, headers=extra
        )
        return TransportResponse(
            response.status_code, {k.lower(): v for k, v in response.items()}, response.content
        )

    return PacSpace(persona.api_key, base_url=SDK_BASE_URL, transport=transport, max_retries=0)


# --------------------------------------------------------------------------------------- celery worker
class WorkerProcess:
    """`celery -A pacspace worker -Q webhooks` against the test database, as its own process group."""

    def __init__(self, database_url: str, processes: int = 1) -> None:
        self.database_url = database_url
        self.processes = processes  # pool children taking messages side by side
        self.name = f"webhooks-test-{os.getpid()}@{socket.gethostname()}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "DATABASE_URL": self.database_url,
        }
        command = [
            str(Path(sys.executable).with_name("celery")), "-A", "pacspace", "worker", "-Q", "webhooks",
            "-c", str(self.processes), "--pool", "prefork", "-l", "warning", "-n", self.name, "--without-heartbeat",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603 - our own argv
        self._wait_ready()

    def _wait_ready(self) -> None:
        from pacspace.celery import app

        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"celery worker exited with {self.process.returncode}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise AssertionError("celery worker did not answer a ping within 30 s")

    def kill(self) -> None:
        """SIGKILL to the whole group: the main process and its pool child die mid-task, no cleanup."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=WAIT_SECONDS)
        self.process = None


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _purge_webhooks_queue() -> None:
    from pacspace.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("webhooks")


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[WorkerProcess]:
    """A real worker; tasks enqueued by this process go through Redis to it. Killed at teardown."""
    yield from _running_worker(processes=1)


@pytest.fixture
def two_worker_processes(transactional_db) -> Iterator[WorkerProcess]:
    """The same with two pool processes, which take messages side by side (the issue's setup)."""
    yield from _running_worker(processes=2)


def _running_worker(*, processes: int) -> Iterator[WorkerProcess]:
    from pacspace.celery import app

    _purge_webhooks_queue()
    worker = WorkerProcess(_test_database_url(), processes=processes)
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    try:
        worker.start()
        yield worker
    finally:
        worker.kill()
        app.conf.task_always_eager = eager
        _purge_webhooks_queue()


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_SECONDS, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)
