"""Text for people: the selectors' exact values as the HTML pages print them. Amounts keep every
significant digit (at least two decimals, a true minus sign); times are UTC and say so."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

TWO_PLACES = Decimal("0.01")
MINUS = "\u2212"
STATE_LABELS = {"recording": "Recording", "recorded": "Recorded", "verified": "Verified"}
POLICY_LABELS = {
    "TWO_TIER": "the summary is open to anyone with this link; the details need the access code",
    "GATED": "the whole record needs the access code",
    "OPEN": "open to anyone with this link",
}


def amount_text(value: Decimal | None, *, signed: bool = False) -> str:
    if value is None:
        return "\u2014"
    value = Decimal(value).normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(TWO_PLACES)
    text = format(value, ",f")
    if text.startswith("-"):
        return MINUS + text[1:]
    return f"+{text}" if signed and value > 0 else text


def date_text(moment: dt.datetime | None) -> str:
    if moment is None:
        return "\u2014"
    moment = moment.astimezone(dt.UTC)
    return f"{moment.day} {moment:%b %Y}"


def datetime_text(moment: dt.datetime | None) -> str:
    if moment is None:
        return "\u2014"
    moment = moment.astimezone(dt.UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def time_text(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%H:%M} UTC"


def through_text(moment: dt.datetime | None) -> str | None:
    """Windows are half-open: covered through midnight means through the day before."""
    if moment is None:
        return None
    moment = moment.astimezone(dt.UTC)
    if moment.time() == dt.time(0):
        return date_text(moment - dt.timedelta(days=1))
    return datetime_text(moment)


def period_label(period: str | None) -> str:
    if not period:
        return ""
    return dt.datetime.strptime(period, "%Y-%m").strftime("%B %Y")  # noqa: DTZ007 - a month name, no instant


def window_text(start: dt.datetime, end: dt.datetime) -> str:
    """`1 Mar – 31 Mar 2026` for the half-open window [start, end)."""
    last = end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)
    return f"{date_text(start)} \u2013 {date_text(last)}"


def entry_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One record row; the brief form (summary tier) has only time, amount and state."""
    adjusts = entry.get("adjusts") or {}
    return {
        "date": date_text(entry["recordedAt"]),
        "recorded": datetime_text(entry["recordedAt"]),
        "iso": entry["recordedAt"].astimezone(dt.UTC).isoformat(),
        "amount": amount_text(entry["amount"]),
        "state": STATE_LABELS.get(entry["state"], ""),
        "reason": entry.get("reason", ""),
        "reference": entry.get("referenceId"),
        "adjusts": adjusts.get("referenceId") or adjusts.get("recordId"),
        "proof": entry.get("proofHash"),
        "record_id": entry.get("recordId"),
    }


def period_row(period: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": period["checkpointId"],
        "label": period_label(period["period"]) or window_text(period["windowStart"], period["windowEnd"]),
        "window": window_text(period["windowStart"], period["windowEnd"]),
        "through": through_text(period["coveredThrough"]),
        "count": period["recordCount"],
        "credits": amount_text(period["credits"]),
        "debits": amount_text(period["debits"]),
        "net": amount_text(period["netChange"]),
        "verified": datetime_text(period["verifiedAt"]),
        "proof_root": period["proofRoot"],
        "reference": period["verificationReference"],
        "superseded_by": period["supersededBy"],
    }


def side_row(side: dict[str, Any]) -> dict[str, Any]:
    """One side of a compare."""
    return {
        "label": period_label(side["period"]) or window_text(side["windowStart"], side["windowEnd"]),
        "basis": "Closed and verified" if side["basis"] == "checkpoint" else "Live, not closed yet",
        "window": window_text(side["windowStart"], side["windowEnd"]),
        "count": side["recordCount"],
        "credits": amount_text(side["credits"]),
        "debits": amount_text(side["debits"]),
        "net": amount_text(side["netChange"]),
        "proof_root": side["proofRoot"],
    }


def difference_row(difference: dict[str, Any]) -> dict[str, Any]:
    count = difference["recordCount"]
    return {
        "count": f"+{count}" if count > 0 else (f"{MINUS}{-count}" if count < 0 else "0"),
        "credits": amount_text(difference.get("credits"), signed=True),
        "debits": amount_text(difference.get("debits"), signed=True),
        "net": amount_text(difference["netChange"], signed=True),
    }


def reason_row(group: dict[str, Any]) -> dict[str, Any]:
    return {
        "reason": group["reasonGroup"],
        "from_count": group["from"]["recordCount"],
        "from_net": amount_text(group["from"]["netChange"]),
        "to_count": group["to"]["recordCount"],
        "to_net": amount_text(group["to"]["netChange"]),
        "difference": difference_row(group["difference"]),
    }
