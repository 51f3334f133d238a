"""One webhook HTTP attempt with the send-time target check (webhooks.md §5.3, §5.6).

No ORM and no settings: the caller passes the timeout and whether private targets are allowed.
The host is resolved once, every address is checked, and the connection goes to a checked address
while `Host` and the TLS server name stay the URL's host, so DNS re-binding between the check and
the connect cannot move the request. Redirects are never followed (there is no client that could).
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import os
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import RemoteDisconnected
from urllib.parse import SplitResult, urlsplit

import certifi
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError
from urllib3.util.ssl_match_hostname import CertificateError as Urllib3CertificateError

from webhooks.targets import TargetNotAllowed, is_allowed_address, validate_endpoint_url

# Attempt error codes (webhooks.md §5.3).
TIMEOUT = "TIMEOUT"
CONNECTION_ERROR = "CONNECTION_ERROR"
TLS_ERROR = "TLS_ERROR"
TARGET_NOT_ALLOWED = "TARGET_NOT_ALLOWED"
HTTP_STATUS = "HTTP_STATUS"
REDIRECT = "REDIRECT"

# Address check results, as stored on the attempt.
CHECK_ALLOWED = "allowed"
CHECK_REFUSED = "refused"
CHECK_SKIPPED = "skipped"
CHECK_UNRESOLVED = "unresolved"

RESPONSE_EXCERPT_BYTES = 2048
DRAIN_BYTES = 64 * 1024  # read past the excerpt so that a connection can be kept; longer answers close it
IDLE_SECONDS = 4.0
IDLE_PER_KEY = 4  # per receiver address: one per worker thread is plenty
# A kept connection the receiver closed while it was idle fails like this before any answer arrives.
_CLOSED_WHILE_IDLE = (RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
USER_AGENT = "pacspace-verified-records-webhooks/1"
CA_BUNDLE = certifi.where()  # the same trust store as `requests`; tests point it at their own CA


@dataclass(frozen=True)
class Outcome:
    address_check: str
    addresses: tuple[str, ...] = ()
    status_code: int | None = None
    latency_ms: int | None = None
    error: str = ""
    response_body: str = ""

    @property
    def is_success(self) -> bool:
        return not self.error


def resolve(host: str, port: int, *, timeout: float) -> tuple[str, ...]:
    """A and AAAA answers in resolver order. getaddrinfo has no timeout, so it runs in a thread we
    stop waiting for."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-dns")
    try:
        infos = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(timeout=timeout)
    finally:
        pool.shutdown(wait=False)
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool) -> Outcome:
    """POST `body` to `url`; never raises for network trouble, the outcome carries the error code."""
    deadline = time.monotonic() + timeout
    try:
        validate_endpoint_url(url, allow_private=allow_private)
    except TargetNotAllowed:
        return Outcome(CHECK_REFUSED, error=TARGET_NOT_ALLOWED)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(parts.hostname, port, timeout=timeout)
    except TimeoutError:
        return Outcome(CHECK_UNRESOLVED, error=TIMEOUT)
    except OSError:
        return Outcome(CHECK_UNRESOLVED, error=CONNECTION_ERROR)
    check = _check(addresses, allow_private=allow_private)
    if check == CHECK_REFUSED:
        return Outcome(check, addresses, error=TARGET_NOT_ALLOWED)
    started = time.monotonic()
    status, excerpt, error = _exchange(parts, port, addresses, body, headers, deadline)
    latency_ms = round((time.monotonic() - started) * 1000)
    return Outcome(check, addresses, status, latency_ms, error, excerpt.decode("utf-8", errors="replace"))


def _check(addresses: tuple[str, ...], *, allow_private: bool) -> str:
    if allow_private:
        return CHECK_SKIPPED
    # Every answer must pass: a name with one private address could be connected to that one.
    if addresses and all(is_allowed_address(address) for address in addresses):
        return CHECK_ALLOWED
    return CHECK_REFUSED


def _exchange(
    parts: SplitResult,
    port: int,
    addresses: tuple[str, ...],
    body: bytes,
    headers: dict[str, str],
    deadline: float,
) -> tuple[int | None, bytes, str]:
    """(status, first bytes of the body, error code) from the first address that accepts a connection.

    A kept-alive connection is only taken for an address of this attempt's checked answers (the pool is
    keyed by address), so reuse never sends to an address this attempt did not check. One that the
    receiver closed while it sat idle fails before any answer; the send is then made once more on a new
    connection (a duplicate at worst, which at-least-once delivery allows)."""
    error = CONNECTION_ERROR
    for address in addresses:
        key = (parts.scheme, parts.hostname, port, address, CA_BUNDLE)
        kept = _POOL.take(key)
        if kept is not None:
            result = _exchange_on(kept, key, parts, body, headers, deadline, is_kept=True)
            if result is not None:
                return result
        connection = _connection(parts, address, port, timeout=max(deadline - time.monotonic(), 0.001))
        try:
            return _exchange_on(connection, key, parts, body, headers, deadline, is_kept=False)
        except _ConnectFailed as exc:
            error = exc.error  # this address refused or is unreachable; the next one passed the same check
    return None, b"", error


def _exchange_on(
    connection: HTTPConnection,
    key: tuple,
    parts: SplitResult,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    *,
    is_kept: bool,
) -> tuple[int | None, bytes, str] | None:
    """One request on `connection`, which goes back to the pool when the receiver keeps it open. None:
    a kept connection turned out closed. _ConnectFailed: a new one could not be made."""
    if is_kept:
        connection.timeout = max(deadline - time.monotonic(), 0.001)
        connection.sock.settimeout(connection.timeout)
    watchdog = _WATCHDOG.watch(connection, deadline)
    reusable = False
    try:
        status, excerpt, reusable = _request(connection, parts, body, headers)
    except NewConnectionError as exc:
        raise _ConnectFailed(TIMEOUT if watchdog.fired else CONNECTION_ERROR) from exc
    except _CLOSED_WHILE_IDLE:
        if is_kept and not watchdog.fired:
            return None
        return None, b"", TIMEOUT if watchdog.fired else CONNECTION_ERROR
    except Exception as exc:  # noqa: BLE001 - every failure of the exchange becomes an error code
        return None, b"", TIMEOUT if watchdog.fired else _error_code(exc)
    finally:
        watchdog.cancel()
        if reusable and not watchdog.fired:
            _POOL.give(key, connection)
        else:
            connection.close()
    if watchdog.fired:
        return None, b"", TIMEOUT  # the answer was cut off at the deadline, however it began
    return status, excerpt, _status_error(status)


class _ConnectFailed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _connection(parts: SplitResult, address: str, port: int, *, timeout: float) -> HTTPConnection:
    if parts.scheme == "https":
        return HTTPSConnection(
            address,
            port,
            timeout=timeout,
            server_hostname=parts.hostname,
            assert_hostname=parts.hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=CA_BUNDLE,
        )
    return HTTPConnection(address, port, timeout=timeout)


def _request(
    connection: HTTPConnection, parts: SplitResult, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, bool]:
    """(status, first bytes of the body, whether the connection can carry another request)."""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection.request(
        "POST",
        target,
        body=body,
        headers={**headers, "Host": host, "User-Agent": USER_AGENT},
        preload_content=False,
    )
    response = connection.getresponse()
    excerpt = response.read(RESPONSE_EXCERPT_BYTES, decode_content=False)
    # The rest of a short answer is read and dropped so the connection can be used again; a long one
    # costs its connection instead.
    response.read(DRAIN_BYTES, decode_content=False)
    return response.status, excerpt, response.isclosed() and not response._original_response.will_close


def _status_error(status: int) -> str:
    if 200 <= status < 300:
        return ""
    return REDIRECT if 300 <= status < 400 else HTTP_STATUS


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError, Urllib3SSLError, Urllib3CertificateError)):
        return TLS_ERROR
    if isinstance(exc, (TimeoutError, Urllib3TimeoutError)):
        return TIMEOUT
    return CONNECTION_ERROR


class _Watch:
    """One exchange under the watchdog: `fired` is set once its socket was shut at the deadline."""

    __slots__ = ("cancelled", "connection", "fired")

    def __init__(self, connection: HTTPConnection) -> None:
        self.connection, self.fired, self.cancelled = connection, False, False

    def cancel(self) -> None:
        _WATCHDOG.cancel(self)


class _Watchdog:
    """Shuts sockets down at their deadlines: socket timeouts bound each read, not the whole answer,
    and a receiver that trickles bytes must not hold a worker past WEBHOOK_TIMEOUT_SECONDS.

    One thread per process with a heap of deadlines, rather than a timer thread per attempt: starting a
    thread cost about a quarter of a millisecond, a sixth of a loopback delivery. Cancelled entries stay
    in the heap until their deadline comes up; the lock makes cancel and fire exclusive, so a cancelled
    exchange is never cut off and a fired one is always reported."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._sequence = itertools.count()
        self._pid: int | None = None  # a forked worker child has no copy of the parent's thread

    def watch(self, connection: HTTPConnection, deadline: float) -> _Watch:
        watch = _Watch(connection)
        with self._condition:
            if self._pid != os.getpid():
                self._pid, self._heap = os.getpid(), []
                threading.Thread(target=self._run, name="webhook-watchdog", daemon=True).start()
            heapq.heappush(self._heap, (deadline, next(self._sequence), watch))
            if self._heap[0][2] is watch:  # a new earliest deadline: the thread sleeps until a later one
                self._condition.notify()
        return watch

    def cancel(self, watch: _Watch) -> None:
        with self._condition:
            watch.cancelled = True

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is None or wait > 0:
                    self._condition.wait(wait)
                    continue
                _deadline, _, watch = heapq.heappop(self._heap)
                watch.fired = True
                _shutdown(watch.connection)


def _shutdown(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        try:
            # The plain-socket shutdown also unblocks a TLS read in progress on the same descriptor.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


_WATCHDOG = _Watchdog()


class _Pool:
    """Idle kept-alive connections of this process, by (scheme, host, port, address, CA bundle).

    Within a batch (services/deliveries.py) the same receiver gets one delivery after another, so a kept
    connection saves a TCP and TLS handshake per delivery. Connections idle for more than IDLE_SECONDS
    are closed rather than reused: receivers drop idle ones after a few seconds (5 s is common)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple, list[tuple[float, HTTPConnection]]] = {}
        self._pid: int | None = None

    def take(self, key: tuple) -> HTTPConnection | None:
        with self._lock:
            self._forget_parents()
            kept = self._idle.get(key, [])
            while kept:
                since, connection = kept.pop()
                # is_connected: nothing to read yet; a receiver that closed it made it readable (EOF).
                if time.monotonic() - since <= IDLE_SECONDS and connection.is_connected:
                    return connection
                connection.close()
        return None

    def give(self, key: tuple, connection: HTTPConnection) -> None:
        now = time.monotonic()
        with self._lock:
            self._forget_parents()
            for kept in self._idle.values():  # close what has idled too long, whoever it belongs to
                while kept and now - kept[0][0] > IDLE_SECONDS:
                    kept.pop(0)[1].close()
            kept = self._idle.setdefault(key, [])
            if len(kept) >= IDLE_PER_KEY:
                kept.pop(0)[1].close()
            kept.append((now, connection))

    def _forget_parents(self) -> None:
        # A forked worker child must not share its parent's sockets; the parent keeps and closes them.
        if self._pid != os.getpid():
            self._pid, self._idle = os.getpid(), {}


_POOL = _Pool()
