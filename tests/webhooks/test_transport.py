"""One attempt on the wire (webhooks.md §5.3, §5.6): error codes, the total timeout, no redirects, the
address check, and a connection to the checked address that keeps Host and TLS name = the URL's host."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.webhooks.conftest import Receiver
from webhooks import transport

BODY = b'{"id":"evt_1","event":"webhook.test","data":{}}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "evt_1"}


def _post(url: str, *, timeout: float = 5, allow_private: bool = True) -> transport.Outcome:
    return transport.post(url=url, body=BODY, headers=HEADERS, timeout=timeout, allow_private=allow_private)


def test_success_returns_status_latency_and_body(receiver):
    outcome = _post(receiver.url + "?source=test")
    assert (outcome.status_code, outcome.error, outcome.response_body, outcome.is_success) == (
        200, "", '{"ok":true}', True
    )  # fmt: skip
    assert (outcome.address_check, outcome.addresses) == ("skipped", ("127.0.0.1",))
    assert 0 <= outcome.latency_ms < 5000
    (request,) = receiver.requests
    assert (request.path, request.body, request.headers["Host"]) == (
        "/hooks?source=test",
        BODY,
        f"127.0.0.1:{receiver.port}",
    )


def test_response_excerpt_is_the_first_2048_bytes_decoded_with_replacement(receiver):
    receiver.response_body = b"\xff" + b"a" * 5000
    outcome = _post(receiver.url)
    assert outcome.response_body == "\ufffd" + "a" * 2047


@pytest.mark.parametrize(
    ("status", "error"), [(204, ""), (299, ""), (400, "HTTP_STATUS"), (500, "HTTP_STATUS")]
)
def test_status_codes(receiver, status, error):
    receiver.statuses = [status]
    receiver.response_body = b"" if status == 204 else receiver.response_body
    outcome = _post(receiver.url)
    assert (outcome.status_code, outcome.error) == (status, error)


def test_redirects_are_reported_not_followed(receiver):
    receiver.statuses = [302]
    outcome = _post(receiver.url)
    assert (outcome.status_code, outcome.error) == (302, "REDIRECT")
    assert len(receiver.requests) == 1


def test_closed_port_is_a_connection_error(stopped_receiver):
    outcome = _post(stopped_receiver.url)
    assert (outcome.status_code, outcome.error, outcome.address_check) == (
        None,
        "CONNECTION_ERROR",
        "skipped",
    )


def test_slow_answer_is_a_timeout(receiver):
    receiver.delay = 2
    started = time.monotonic()
    outcome = _post(receiver.url, timeout=0.5)
    assert (outcome.status_code, outcome.error) == (None, "TIMEOUT")
    assert time.monotonic() - started < 1.5


def test_the_timeout_bounds_the_whole_answer_not_each_read():
    """A receiver that trickles its body a byte at a time never trips a per-read timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        while not stop.wait(0.1):
            try:
                connection.sendall(b"x")
            except OSError:
                break
        connection.close()

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    try:
        outcome = _post(f"http://127.0.0.1:{server.getsockname()[1]}/", timeout=1)
    finally:
        stop.set()
        server.close()
    assert (outcome.error, outcome.status_code) == ("TIMEOUT", None)
    assert 0.9 < time.monotonic() - started < 3


def test_dns_failure_and_dns_timeout(monkeypatch):
    def unknown(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    outcome = _post("http://nowhere.invalid/")
    assert (outcome.error, outcome.address_check, outcome.addresses) == ("CONNECTION_ERROR", "unresolved", ())

    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: time.sleep(2))
    started = time.monotonic()
    outcome = _post("http://slow-dns.invalid/", timeout=0.3)
    assert (outcome.error, outcome.address_check) == ("TIMEOUT", "unresolved")
    assert time.monotonic() - started < 1


# ------------------------------------------------------------------------------------- target check
@pytest.mark.parametrize(
    "addresses",
    [
        ("127.0.0.1",), ("10.0.0.5",), ("172.16.0.1",), ("192.168.1.1",), ("100.64.0.1",),
        ("169.254.169.254",), ("0.0.0.0",), ("224.0.0.1",), ("240.0.0.1",), ("::1",), ("fc00::1",),  # noqa: S104
        ("fe80::1",), ("::ffff:127.0.0.1",), ("::ffff:10.0.0.1",), ("93.184.216.34", "10.0.0.1"),
        ("2606:2800:220:1::1", "::1"),
    ],
)  # fmt: skip
def test_any_private_answer_refuses_the_attempt(receiver, monkeypatch, addresses):
    monkeypatch.setattr(transport, "resolve", lambda host, port, timeout: addresses)
    outcome = _post("https://hooks.example.com/in", allow_private=False)
    assert outcome == transport.Outcome("refused", addresses, error="TARGET_NOT_ALLOWED")
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    ["http://93.184.216.34/in", "https://user:pw@hooks.example.com/", "https://localhost/", "https://a.localhost/",
     "https://metadata.google.internal/", "https://169.254.169.254/latest", "https://[::1]/"],
)  # fmt: skip
def test_urls_that_break_the_rules_are_refused_before_any_lookup(monkeypatch, url):
    monkeypatch.setattr(transport, "resolve", lambda *args, **kwargs: pytest.fail("no lookup expected"))
    assert _post(url, allow_private=False) == transport.Outcome("refused", error="TARGET_NOT_ALLOWED")


def test_public_answers_pass_the_check():
    assert transport._check(("93.184.216.34", "2606:2800:220:1::1"), allow_private=False) == "allowed"
    assert transport._check((), allow_private=False) == "refused"


def test_the_connection_goes_to_the_checked_address_with_the_original_host(receiver, monkeypatch):
    """Resolved once, connected to that address: a second lookup (a DNS re-binding) has no say."""
    monkeypatch.setattr(transport, "resolve", lambda host, port, timeout: ("127.0.0.1",))
    numeric = socket.getaddrinfo

    def no_name_lookups(host, *args, **kwargs):
        if host != "127.0.0.1":
            pytest.fail(f"looked {host} up again")
        return numeric(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_name_lookups)
    outcome = _post(f"http://hooks.rebind.test:{receiver.port}/in")
    assert (outcome.status_code, outcome.addresses) == (200, ("127.0.0.1",))
    assert receiver.requests[0].headers["Host"] == f"hooks.rebind.test:{receiver.port}"


# ---------------------------------------------------------------------------------------- keep-alive
def test_one_connection_carries_consecutive_sends_to_a_receiver(receiver):
    outcomes = [_post(receiver.url) for _ in range(3)]
    assert [(o.status_code, o.error) for o in outcomes] == [(200, "")] * 3
    assert len({r.client_port for r in receiver.requests}) == 1


def test_a_kept_connection_is_used_only_for_an_address_of_this_attempts_answers(receiver, monkeypatch):
    """The pool is keyed by address: when the name now resolves elsewhere, the connection to the old
    address is not reused (here the new address has no listener, so the attempt cannot connect)."""
    answers = {"now": ("127.0.0.1",)}
    monkeypatch.setattr(transport, "resolve", lambda host, port, timeout: answers["now"])
    url = f"http://hooks.rebind.test:{receiver.port}/in"
    assert _post(url).status_code == 200
    answers["now"] = ("127.0.0.2",)
    outcome = _post(url)
    assert (outcome.status_code, outcome.error) == (None, "CONNECTION_ERROR")
    assert outcome.addresses == ("127.0.0.2",)
    assert len(receiver.requests) == 1


def test_the_address_check_runs_before_a_kept_connection_is_taken(receiver, monkeypatch):
    monkeypatch.setattr(transport, "resolve", lambda host, port, timeout: ("127.0.0.1",))
    url = f"http://hooks.rebind.test:{receiver.port}/in"
    assert _post(url).status_code == 200  # private targets allowed: the connection is kept
    outcome = _post(url, allow_private=False)
    assert (outcome.address_check, outcome.error) == ("refused", "TARGET_NOT_ALLOWED")
    assert len(receiver.requests) == 1


def test_a_kept_connection_closed_by_the_receiver_is_replaced_and_the_send_made_again():
    """The receiver takes the second request on the kept connection and drops it unanswered: the send
    goes again on a new connection (the receiver saw it twice, as at-least-once allows)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    seen: list[tuple[int, bytes]] = []
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def read_request(connection: socket.socket) -> bytes:
        data = b""
        while not data.endswith(BODY) and (chunk := connection.recv(65536)):
            data += chunk
        return data

    def serve() -> None:
        for connection_number in (1, 2):
            connection, _ = server.accept()
            seen.append((connection_number, read_request(connection)))
            connection.sendall(answer)
            if connection_number == 1:
                seen.append((connection_number, read_request(connection)))  # read, never answered
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    try:
        first, second = _post(url), _post(url)
    finally:
        server.close()
    assert [(o.status_code, o.error) for o in (first, second)] == [(200, ""), (200, "")]
    assert [number for number, _ in seen] == [1, 1, 2]
    assert all(request.endswith(BODY) for _, request in seen)


def test_a_receiver_that_closes_after_each_answer_gets_a_new_connection_each_time(receiver):
    receiver.response_body = b"x" * (transport.DRAIN_BYTES + transport.RESPONSE_EXCERPT_BYTES + 1)
    outcomes = [_post(receiver.url) for _ in range(2)]
    assert [o.response_body for o in outcomes] == ["x" * transport.RESPONSE_EXCERPT_BYTES] * 2
    assert len({r.client_port for r in receiver.requests}) == 2  # too long to read to the end: not kept


# ---------------------------------------------------------------------------------------------- TLS
def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool, names: list[str] | None = None):
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def _server_context(tmp_path: Path, hostname: str) -> tuple[ssl.SSLContext, Path]:
    """A TLS server context with a certificate for `hostname` from a throwaway CA, and that CA's file."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test CA", ca_key, None, None, ca=True)
    leaf = _certificate(hostname, leaf_key, ca.subject, ca_key, ca=False, names=[hostname])
    ca_file, chain = tmp_path / "ca.pem", tmp_path / "leaf.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return context, ca_file


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """The usual receiver over HTTPS as `hooks.receiver.test`, which resolves to 127.0.0.1; records SNI."""
    context, ca_file = _server_context(tmp_path, "hooks.receiver.test")
    receiver = Receiver(tls=context)
    receiver.server_names = []
    context.sni_callback = lambda sock, name, ctx: receiver.server_names.append(name)
    monkeypatch.setattr(transport, "CA_BUNDLE", str(ca_file))
    monkeypatch.setattr(transport, "resolve", lambda host, port, timeout: ("127.0.0.1",))
    receiver.start()
    yield receiver
    receiver.stop()


def test_tls_connects_to_the_address_with_the_hostname_as_server_name(tls_receiver):
    outcome = _post(f"https://hooks.receiver.test:{tls_receiver.port}/in")
    assert (outcome.status_code, outcome.error, outcome.response_body) == (200, "", '{"ok":true}')
    assert tls_receiver.server_names == ["hooks.receiver.test"]
    assert [r.headers["Host"] for r in tls_receiver.requests] == [f"hooks.receiver.test:{tls_receiver.port}"]


def test_certificate_for_another_name_is_a_tls_error(tls_receiver):
    outcome = _post(f"https://other.receiver.test:{tls_receiver.port}/in")
    assert (outcome.status_code, outcome.error) == (None, "TLS_ERROR")
    assert tls_receiver.requests == []


def test_untrusted_certificate_is_a_tls_error(tls_receiver, monkeypatch):
    monkeypatch.setattr(transport, "CA_BUNDLE", transport.certifi.where())
    assert _post(f"https://hooks.receiver.test:{tls_receiver.port}/in").error == "TLS_ERROR"


def test_https_to_a_plain_http_server_is_a_tls_error(receiver):
    assert _post(f"https://127.0.0.1:{receiver.port}/").error == "TLS_ERROR"
