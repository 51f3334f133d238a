"""Webhook signatures (spec: webhooks.md §4). Pure: no ORM, no settings.

Every delivery carries two signatures over the same raw body so that both the PacSpace SDK
verifier and any Standard Webhooks library accept it:

* PacSpace: ``v1=`` + hex HMAC-SHA256 keyed with the *whole* secret string, over
  ``"{timestamp}.{body}"``;
* Standard Webhooks: ``v1,`` + base64 HMAC-SHA256 keyed with the base64-decoded part after
  ``whsec_``, over ``"{id}.{timestamp}.{body}"``.

During a rotation overlap both the current and the previous secret sign (current first).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
MAX_SIGNING_SECRETS = 2  # §4.3: a second rotation during an overlap drops the older secret


def generate_secret() -> str:
    """``whsec_`` + standard base64 (44 characters, padded) of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode("ascii")


def pacspace_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 (without ``v1=``); works for any secret string."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _standard_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("secret must start with whsec_")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # Padding is optional, as in the standardwebhooks library; anything else must be base64.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("secret is not whsec_ + base64") from None
    if not key:
        raise ValueError("secret key is empty")
    return key


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard base64 HMAC-SHA256 (without ``v1,``). ``ValueError`` if the secret is not
    ``whsec_`` + base64. Key length is not checked: ``whsec_test`` decodes to 3 bytes and
    standardwebhooks signs with them too, so such a secret still interoperates."""
    message = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.digest(_standard_key(secret), message, "sha256")).decode("ascii")


def signature_headers(
    *,
    secrets: Sequence[str],
    event_id: str,
    event_type: str,
    timestamp: int,
    body: bytes,
    delivery_id: str,
    attempt: int,
) -> dict[str, str]:
    """Every §4.2 header for one attempt. ``secrets`` = current first, then the previous one
    while its overlap lasts; ``timestamp`` = Unix seconds at send time of this attempt."""
    if not 1 <= len(secrets) <= MAX_SIGNING_SECRETS:
        raise ValueError("one or two signing secrets are required")
    pacspace = ",".join(f"v1={pacspace_signature(s, timestamp, body)}" for s in secrets)
    standard = " ".join(f"v1,{standard_signature(s, event_id, timestamp, body)}" for s in secrets)
    return {
        "Content-Type": "application/json",
        "X-PacSpace-Signature": pacspace,
        "X-PacSpace-Timestamp": str(timestamp),
        "X-Webhook-Event": event_type,
        "X-Event-ID": event_id,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard,
        "X-Delivery-ID": delivery_id,
        "X-Delivery-Attempt": str(attempt),
    }
