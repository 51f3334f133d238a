"""Object identifiers (api.md §1.5): a prefix plus 20 characters of lowercase base32 (100 random bits)."""

from __future__ import annotations

import base64
import re
import secrets

ID_BODY = r"[a-z2-7]{20}"


def new_id(prefix: str) -> str:
    body = base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()  # 15 bytes = 24 chars
    return f"{prefix}_{body[:20]}"


def id_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{prefix}_{ID_BODY}$")


def is_id(value: object, prefix: str) -> bool:
    return isinstance(value, str) and id_pattern(prefix).fullmatch(value) is not None
