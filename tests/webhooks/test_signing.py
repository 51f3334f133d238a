"""Golden vectors of webhooks.md §4.4, checked again with the receivers' own verifiers."""

from __future__ import annotations

import base64
import importlib
import time
from datetime import datetime, timezone
from types import ModuleType

import pytest

from webhooks.signing import (
    generate_secret,
    pacspace_signature,
    signature_headers,
    standard_signature,
)

BODY = b'{"id":"evt_1","event":"delta.verified","data":{"recordId":"rec_1"}}'
TIMESTAMP = 1700000000
CURRENT = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
PREVIOUS = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
ROTATION_PACSPACE = (
    "v1=0557eadaaab1753360bfcf239a1959f3a2f23b8396e020dc304dade3c6ddf374,"
    "v1=e066e25f25fb6496a518315cf919059a145e8a9301076240790fe5e45bde4896"
)
ROTATION_STANDARD = (
    "v1,Mwi6xsT7cxu02J1Xpf8mgspYLTN0a1ZkksCylJi5wNA= v1,DuS2HHMkstV6kSFF1DUlg3qSnHzbmcPMETP1BE9AbOE="
)


def _headers(secrets: list[str], timestamp: int = TIMESTAMP) -> dict[str, str]:
    return signature_headers(
        secrets=secrets,
        event_id="evt_1",
        event_type="delta.verified",
        timestamp=timestamp,
        body=BODY,
        delivery_id="dlv_1",
        attempt=2,
    )


def test_secret_format() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(secret) == 6 + 44
    assert len(base64.b64decode(secret[6:], validate=True)) == 32
    assert generate_secret() != secret


def test_pacspace_scheme_sdk_vector() -> None:
    expected = "d88462a422a15e9649216e9c555ca723993c34a780bf5e0f080ece22cb2aefff"
    assert pacspace_signature("whsec_test", TIMESTAMP, BODY) == expected


def test_pacspace_scheme_real_format_secret() -> None:
    expected = "0557eadaaab1753360bfcf239a1959f3a2f23b8396e020dc304dade3c6ddf374"
    assert pacspace_signature(CURRENT, TIMESTAMP, BODY) == expected


def test_standard_webhooks_scheme() -> None:
    expected = "Mwi6xsT7cxu02J1Xpf8mgspYLTN0a1ZkksCylJi5wNA="
    assert standard_signature(CURRENT, "evt_1", TIMESTAMP, BODY) == expected
    # "test" happens to be base64 for 3 bytes; standardwebhooks keys with them, so do we.
    assert standard_signature("whsec_test", "evt_1", TIMESTAMP, BODY) == standard_signature(
        "whsec_test=", "evt_1", TIMESTAMP, BODY
    )
    for bad in ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "whsec_", "whsec_not base64!", "whsec_A"):
        with pytest.raises(ValueError):
            standard_signature(bad, "evt_1", TIMESTAMP, BODY)


def test_single_secret_headers() -> None:
    assert _headers([CURRENT]) == {
        "Content-Type": "application/json",
        "X-PacSpace-Signature": "v1=0557eadaaab1753360bfcf239a1959f3a2f23b8396e020dc304dade3c6ddf374",
        "X-PacSpace-Timestamp": "1700000000",
        "X-Webhook-Event": "delta.verified",
        "X-Event-ID": "evt_1",
        "webhook-id": "evt_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1,Mwi6xsT7cxu02J1Xpf8mgspYLTN0a1ZkksCylJi5wNA=",
        "X-Delivery-ID": "dlv_1",
        "X-Delivery-Attempt": "2",
    }


def test_rotation_overlap_headers() -> None:
    headers = _headers([CURRENT, PREVIOUS])
    assert headers["X-PacSpace-Signature"] == ROTATION_PACSPACE
    assert headers["webhook-signature"] == ROTATION_STANDARD


def test_secret_count_is_one_or_two() -> None:
    with pytest.raises(ValueError):
        _headers([])
    with pytest.raises(ValueError):
        _headers([CURRENT, PREVIOUS, generate_secret()])


# ----------------------------------------------------------------------------- receivers' verifiers


def _import_or_skip(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.skip(f"{package} is not installed (pip install '.[test]')")


@pytest.fixture
def frozen_at_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both verifiers reject timestamps older than 300 s; pin their clocks to the vector's."""
    sdk_verify = _import_or_skip("pacspace_sdk.webhooks.verify", "pacspace-sdk")
    std = _import_or_skip("standardwebhooks.webhooks", "standardwebhooks")
    monkeypatch.setattr(sdk_verify.time, "time", lambda: float(TIMESTAMP))

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return datetime.fromtimestamp(TIMESTAMP, tz=tz or timezone.utc)

    monkeypatch.setattr(std, "datetime", FrozenDatetime)


@pytest.mark.usefixtures("frozen_at_vector")
@pytest.mark.parametrize("secret", [CURRENT, PREVIOUS])
def test_both_libraries_accept_rotation_headers_with_either_secret(secret: str) -> None:
    from pacspace_sdk.webhooks import Webhooks
    from standardwebhooks.webhooks import Webhook

    headers = _headers([CURRENT, PREVIOUS])
    assert Webhooks(secret).verify_from_headers(headers, BODY.decode())["id"] == "evt_1"
    assert Webhook(secret).verify(BODY, headers)["id"] == "evt_1"


@pytest.mark.usefixtures("frozen_at_vector")
def test_libraries_accept_the_sdk_whsec_test_vector() -> None:
    from pacspace_sdk.webhooks import Webhooks
    from standardwebhooks.webhooks import Webhook

    signature = "v1=" + pacspace_signature("whsec_test", TIMESTAMP, BODY)
    assert Webhooks("whsec_test").verify(signature, str(TIMESTAMP), BODY.decode())["id"] == "evt_1"
    headers = _headers(["whsec_test"])
    assert headers["X-PacSpace-Signature"] == signature
    assert Webhook("whsec_test").verify(BODY, headers)["id"] == "evt_1"


@pytest.mark.usefixtures("frozen_at_vector")
def test_libraries_reject_other_secrets_and_bodies() -> None:
    from pacspace_sdk.errors import WebhookVerificationError as SdkError
    from pacspace_sdk.webhooks import Webhooks
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    headers = _headers([CURRENT])
    stranger = generate_secret()
    with pytest.raises(SdkError):
        Webhooks(stranger).verify_from_headers(headers, BODY.decode())
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, headers)
    with pytest.raises(SdkError):
        Webhooks(CURRENT).verify_from_headers(headers, BODY.decode().replace("rec_1", "rec_2"))
    with pytest.raises(WebhookVerificationError):
        Webhook(CURRENT).verify(BODY.replace(b"rec_1", b"rec_2"), headers)


def test_libraries_accept_a_live_delivery_without_clock_pinning() -> None:
    sdk = _import_or_skip("pacspace_sdk.webhooks", "pacspace-sdk")
    std = _import_or_skip("standardwebhooks.webhooks", "standardwebhooks")
    secret = generate_secret()
    headers = _headers([secret], timestamp=int(time.time()))
    assert sdk.Webhooks(secret).verify_from_headers(headers, BODY.decode())["id"] == "evt_1"
    assert std.Webhook(secret).verify(BODY, headers)["id"] == "evt_1"
