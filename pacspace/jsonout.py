"""JSON writer for API responses: Decimals as exact number text (proofs.md §2.2), never via float."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from records.proofs import format_timestamp, normalize_decimal

_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_str(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Decimal):
        out.append(normalize_decimal(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dt.datetime):
        out.append(_encode_str(format_timestamp(value)))
    elif isinstance(value, float):
        out.append(json.dumps(value))
    else:
        out.append(_encode_str(str(value)))


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON with key order kept; non-ASCII literal; Decimals normalized."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")
