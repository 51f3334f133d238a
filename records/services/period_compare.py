"""Period sides and the two-period compare (api.md §4.11); sides also scope exports (§4.12)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from pacspace.errors import DomainError, validation_error
from pacspace.ids import is_id
from records.models import AccessLogEntry, Checkpoint, CustomerRecord
from records.scopes import PERIOD_PATTERN, current_period, period_window
from records.selectors.shared import entry_out, visible_deltas
from records.services.checkpoints import covered_deltas
from records.services.shared_records import access_log_write, customer_event

ONLY_IN_LIMIT = 200


@dataclass(frozen=True)
class Side:
    """A closed period (basis checkpoint) or the live deltas of a month (basis live)."""

    basis: str
    period: str | None
    checkpoint: Checkpoint | None
    window_start: dt.datetime
    window_end: dt.datetime

    def deltas(self, record: CustomerRecord) -> QuerySet:
        if self.checkpoint is not None:
            return covered_deltas(self.checkpoint)
        return visible_deltas(record).filter(
            created_at__gte=self.window_start, created_at__lt=self.window_end
        ).order_by("intake_sequence")

    def scope(self) -> dict[str, Any]:
        return {"basis": self.basis, "period": self.period,
                "checkpointId": self.checkpoint.id if self.checkpoint else None}


def side_from_checkpoint(record: CustomerRecord, checkpoint_id: Any) -> Side:
    checkpoint = None
    if is_id(checkpoint_id, "chk"):
        checkpoint = Checkpoint.objects.filter(customer_record=record, pk=checkpoint_id).first()
    if checkpoint is None or checkpoint.status == Checkpoint.Status.FAILED:
        raise DomainError("NOT_FOUND", "No checkpoint with this id for this customer")
    if checkpoint.status != Checkpoint.Status.VERIFIED:
        raise DomainError("PERIOD_NOT_CLOSED", "The checkpoint is not verified yet")
    return Side("checkpoint", checkpoint.period or None, checkpoint, checkpoint.window_start, checkpoint.window_end)


def side_from_period(record: CustomerRecord, period: Any, field: str = "period") -> Side:
    if not isinstance(period, str) or not PERIOD_PATTERN.fullmatch(period):
        raise validation_error({field: ["must be YYYY-MM with a month 01–12"]})
    start, end = period_window(period)
    if period > current_period():
        raise validation_error({field: ["must not be after the current period"]})
    checkpoint = (
        Checkpoint.objects.filter(customer_record=record, status=Checkpoint.Status.VERIFIED,
                                  window_start=start, window_end=end)
        .order_by("-verified_at", "-id").first()
    )
    if checkpoint is not None:
        return Side("checkpoint", period, checkpoint, start, end)
    return Side("live", period, None, start, end)


def _totals(rows: list) -> dict[str, Any]:
    credits = sum((r.amount for r in rows if r.amount > 0), Decimal(0))
    debits = sum((r.amount for r in rows if r.amount < 0), Decimal(0))
    return {"recordCount": len(rows), "credits": credits, "debits": debits, "netChange": credits + debits}


def _difference(a: dict, b: dict, keys=("recordCount", "credits", "debits", "netChange")) -> dict[str, Any]:
    return {key: b[key] - a[key] for key in keys}


def _by_reason(left: list, right: list) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, list]] = defaultdict(lambda: {"from": [], "to": []})
    for side, rows in (("from", left), ("to", right)):
        for row in rows:
            groups[row.reason.split(":", 1)[0]][side].append(row)
    result = []
    for reason in sorted(groups):
        summary = {
            side: {"recordCount": len(rows), "netChange": sum((r.amount for r in rows), Decimal(0))}
            for side, rows in groups[reason].items()
        }
        result.append({"reasonGroup": reason, **summary,
                       "difference": _difference(summary["from"], summary["to"], ("recordCount", "netChange"))})
    return result


def _only_in(rows: list, other_ids: set[str]) -> dict[str, Any]:
    only = [row for row in rows if row.record_id not in other_ids]
    return {"total": len(only), "items": [entry_out(r) for r in only[:ONLY_IN_LIMIT]],
            "truncated": len(only) > ONLY_IN_LIMIT}


def resolve_pair(record: CustomerRecord, body: dict[str, Any]) -> tuple[Side, Side]:
    checkpoints = [body.get("fromCheckpointId"), body.get("toCheckpointId")]
    periods = [body.get("fromPeriod"), body.get("toPeriod")]
    has_checkpoints, has_periods = any(v is not None for v in checkpoints), any(v is not None for v in periods)
    if has_checkpoints == has_periods or None in (checkpoints if has_checkpoints else periods):
        raise DomainError("INVALID_SCOPE_COMBINATION",
                          "Send exactly one pair: fromCheckpointId+toCheckpointId or fromPeriod+toPeriod")
    if has_checkpoints:
        return side_from_checkpoint(record, checkpoints[0]), side_from_checkpoint(record, checkpoints[1])
    return side_from_period(record, periods[0], "fromPeriod"), side_from_period(record, periods[1], "toPeriod")


def _side_out(side: Side, rows: list) -> dict[str, Any]:
    return {
        "basis": side.basis, "period": side.period, "checkpointId": side.checkpoint.id if side.checkpoint else None,
        "windowStart": side.window_start, "windowEnd": side.window_end,
        "proofRoot": side.checkpoint.proof_root if side.checkpoint else None, **_totals(rows),
    }


def periods_compare(
    *, record: CustomerRecord, body: dict[str, Any], actor: dict[str, Any], identity: dict[str, Any],
    handle: str = "", visitor=None,
) -> dict[str, Any]:
    """Compare two sides; the compare is logged and fires `customer.compare_run` (compareKind periods)."""
    left_side, right_side = resolve_pair(record, body)
    left, right = list(left_side.deltas(record)), list(right_side.deltas(record))
    data = {
        "customerId": record.id, "externalCustomerId": record.customer_id,
        "vendorAccountId": record.vendor_account_id, "identity": identity, "comparedAt": timezone.now(),
        "from": _side_out(left_side, left), "to": _side_out(right_side, right),
    }
    data["difference"] = _difference(data["from"], data["to"])
    data["byReason"] = _by_reason(left, right)
    data["onlyInFrom"] = _only_in(left, {r.record_id for r in right})
    data["onlyInTo"] = _only_in(right, {r.record_id for r in left})
    with transaction.atomic():
        access_log_write(record=record, action=AccessLogEntry.Action.COMPARE, actor=actor, handle=handle,
                         visitor=visitor, detail={"from": left_side.scope(), "to": right_side.scope()})
        customer_event(record, "customer.compare_run", actor, compareKind="periods", **{
            "from": left_side.scope(), "to": right_side.scope(),
            "difference": {k: data["difference"][k] for k in ("recordCount", "netChange")}})
    return data
