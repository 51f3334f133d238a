"""Scope parameters shared by derive, compare, checkpoint, checkpoints list and receipts (api.md §1.10)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from pacspace.errors import DomainError, validation_error

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SCOPE_KEYS = ("period", "timePreset", "startDate", "endDate", "startingCheckpoint", "startingCheckpointType")


@dataclass(frozen=True)
class Scope:
    """A resolved window. `kind` is period | custom | checkpoint | all; windows are half-open."""

    kind: str
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    period: str | None = None
    starting_checkpoint: str | None = None
    starting_checkpoint_type: str | None = None

    def out(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "period": self.period,
            "startDate": self.start,
            "endDate": self.end,
            "startingCheckpoint": self.starting_checkpoint,
            "startingCheckpointType": self.starting_checkpoint_type,
        }


def month_window(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end


def period_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m")


def period_window(period: str) -> tuple[dt.datetime, dt.datetime]:
    match = PERIOD_PATTERN.fullmatch(period) if isinstance(period, str) else None
    if match is None:
        raise validation_error({"period": ["must be YYYY-MM with a month 01–12"]})
    return month_window(int(match.group(1)), int(match.group(2)))


def window_period(start: dt.datetime, end: dt.datetime) -> str | None:
    """`YYYY-MM` when the window is exactly one UTC month, else None."""
    candidate = period_of(start)
    return candidate if period_window(candidate) == (start, end) else None


def current_period(now: dt.datetime | None = None) -> str:
    return period_of(now or timezone.now())


def previous_period(now: dt.datetime | None = None) -> str:
    first = period_window(current_period(now))[0]
    return period_of(first - dt.timedelta(days=1))


def parse_instant(value: Any, field: str) -> dt.datetime:
    """`YYYY-MM-DD` (midnight UTC) or RFC 3339 with or without offset (no offset = UTC)."""
    if not isinstance(value, str) or not value or len(value) > 40:
        raise validation_error({field: ["must be YYYY-MM-DD or an RFC 3339 timestamp"]})
    text = value.strip()
    try:
        if DATE_PATTERN.fullmatch(text):
            parsed = dt.datetime.strptime(text, "%Y-%m-%d")
        else:
            parsed = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError as exc:
        raise validation_error({field: ["must be YYYY-MM-DD or an RFC 3339 timestamp"]}) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    last_day = (month_window(year, month)[1] - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _present(params: Mapping[str, Any], key: str) -> bool:
    return params.get(key) not in (None, "")


def _check_combinations(params: Mapping[str, Any], allow_checkpoint: bool) -> None:
    has = {key: _present(params, key) for key in SCOPE_KEYS}
    checkpoint = has["startingCheckpoint"] or has["startingCheckpointType"]
    dates = has["startDate"] or has["endDate"]
    preset = params.get("timePreset")
    conflicts = [
        (checkpoint and not allow_checkpoint, "startingCheckpoint is not accepted on this route"),
        (checkpoint and (has["period"] or has["timePreset"] or dates), "startingCheckpoint excludes other scope"),
        (has["startingCheckpointType"] and not has["startingCheckpoint"], "startingCheckpointType needs startingCheckpoint"),
        (has["period"] and (has["timePreset"] or dates), "period cannot be combined with timePreset or dates"),
        (preset == "current_month" and dates, "timePreset=current_month cannot be combined with dates"),
        (has["startDate"] != has["endDate"], "startDate and endDate go together"),
        (preset == "custom" and not dates, "timePreset=custom needs startDate and endDate"),
    ]
    for broken, message in conflicts:
        if broken:
            raise DomainError("INVALID_SCOPE_COMBINATION", message)


def scope_parse(
    params: Mapping[str, Any], *, default: str = "current", allow_checkpoint: bool = False,
    now: dt.datetime | None = None,
) -> Scope:
    """Resolve scope parameters; `default` is what no parameters mean: current | all."""
    now = now or timezone.now()
    _check_combinations(params, allow_checkpoint)
    for key in SCOPE_KEYS:
        if _present(params, key) and not isinstance(params[key], str):
            raise validation_error({key: ["must be a string"]})
    preset = params.get("timePreset") or None
    if preset not in (None, "current_month", "custom"):
        raise validation_error({"timePreset": ["must be current_month or custom"]})
    if _present(params, "startingCheckpoint"):
        kind = params.get("startingCheckpointType") or "proofRoot"
        if kind not in ("proofRoot", "recordId"):
            raise validation_error({"startingCheckpointType": ["must be proofRoot or recordId"]})
        return Scope(kind="checkpoint", starting_checkpoint=params["startingCheckpoint"], starting_checkpoint_type=kind)
    if _present(params, "period"):
        start, end = period_window(params["period"])
        scope = Scope(kind="period", start=start, end=end, period=params["period"])
    elif _present(params, "startDate"):
        start, end = parse_instant(params["startDate"], "startDate"), parse_instant(params["endDate"], "endDate")
        if end <= start:
            raise validation_error({"endDate": ["must be after startDate"]})
        if end > add_months(start, settings.MAX_SCOPE_MONTHS):
            raise DomainError("SCOPE_TOO_WIDE", f"Window longer than {settings.MAX_SCOPE_MONTHS} months")
        scope = Scope(kind="custom", start=start, end=end, period=window_period(start, end))
    elif preset == "current_month" or default == "current":
        period = current_period(now)
        start, end = period_window(period)
        scope = Scope(kind="period", start=start, end=end, period=period)
    else:
        return Scope(kind="all")
    if scope.start > now:
        raise validation_error({"startDate" if scope.kind == "custom" else "period": ["window starts in the future"]})
    return scope
