"""JSON writer for API responses and webhook bodies: Decimals as exact number text (proofs.md §2.2),
never through float; compact separators; key order kept; non-ASCII literal.

Speed matters (sealing serializes hundreds of webhook bodies per run), so the C encoder does the work:
each Decimal becomes a string wrapped in U+0000 markers and one regex turns the marked strings back into
bare numbers. Inputs can never contain U+0000 (the parser refuses it), so no user text looks marked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

from records.proofs import format_timestamp, normalize_decimal

_MARK = "\x00"
_MARKED_NUMBER = re.compile(r'"\\u0000(-?[0-9]+(?:\.[0-9]+)?)\\u0000"')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_MARK}{normalize_decimal(value)}{_MARK}"
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default, allow_nan=False)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON with key order kept; non-ASCII literal; Decimals normalized and unquoted."""
    return _MARKED_NUMBER.sub(r"\1", _ENCODER.encode(value)).encode("utf-8")
