"""Access-log counts since a moment, batched per page: readiness signals and the close package's
summary (api.md §4.3, §4.7). Views, exports, compares and step-up failures count visitors only."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Min, Q

from records.models import AccessLogEntry

VISITOR = "shared_record_visitor"
Action = AccessLogEntry.Action
LOCKOUT = "lockout"  # pseudo-action: the step-up failure that started a lockout

@dataclass(frozen=True)
class LogStat:
    count: int
    first: dt.datetime | None
    last: dt.datetime | None
    viewers: int = 0


NO_STAT = LogStat(0, None, None)
# Visitor actions only; link changes count whoever made them (api.md §4.3, §4.7).
VISITOR_ACTIONS = (Action.VIEW, Action.EXPORT, Action.COMPARE, Action.STEP_UP_FAILURE)
ANY_ACTOR_ACTIONS = (Action.LINK_REISSUED, Action.LINK_REVOKED, Action.CODE_ROTATED)
# The failure that starts a lockout carries `lockedUntil` in its detail (records.services.shared_records).
LOCKOUT_ENTRY = Q(action=Action.STEP_UP_FAILURE, detail__has_key="lockedUntil")


def access_log_stats(record_ids: Iterable[str], since: dt.datetime) -> dict[str, dict[str, LogStat]]:
    """Per record and action: count, first and last time since `since` — one GROUP BY for a whole page."""
    rows = (
        AccessLogEntry.objects.filter(customer_record_id__in=list(record_ids), created_at__gte=since)
        .filter(Q(actor_type=VISITOR, action__in=VISITOR_ACTIONS) | Q(action__in=ANY_ACTOR_ACTIONS))
        .order_by()
        .values("customer_record_id", "action")
        .annotate(n=Count("pk"), first=Min("created_at"), last=Max("created_at"),
                  viewers=Count("viewer_hash", distinct=True), lockouts=Count("pk", filter=LOCKOUT_ENTRY),
                  first_lockout=Min("created_at", filter=LOCKOUT_ENTRY),
                  last_lockout=Max("created_at", filter=LOCKOUT_ENTRY))
    )
    stats: dict[str, dict[str, LogStat]] = defaultdict(dict)
    for row in rows:
        by_action = stats[row["customer_record_id"]]
        by_action[row["action"]] = LogStat(row["n"], row["first"], row["last"], row["viewers"])
        if row["lockouts"]:
            by_action[LOCKOUT] = LogStat(row["lockouts"], row["first_lockout"], row["last_lockout"])
    return stats


SIGNALS = (
    ("SHARED_RECORD_VIEWED", Action.VIEW),
    ("EXPORT_DOWNLOADED", Action.EXPORT),
    ("COMPARE_RUN", Action.COMPARE),
    ("STEP_UP_FAILED_REPEATEDLY", LOCKOUT),
    ("LINK_REISSUED", Action.LINK_REISSUED),
    ("LINK_REVOKED", Action.LINK_REVOKED),
)


def signals_out(stats: dict[str, LogStat]) -> list[dict[str, Any]]:
    """Neutral facts that happened (count > 0); they never change a row's status."""
    return [
        {"type": kind, "count": stat.count, "firstAt": stat.first, "lastAt": stat.last}
        for kind, action in SIGNALS
        if (stat := stats.get(action, NO_STAT)).count
    ]


def access_log_summary(stats: dict[str, LogStat]) -> dict[str, Any]:
    views = stats.get(Action.VIEW, NO_STAT)

    def count(action: str) -> int:
        return stats.get(action, NO_STAT).count

    return {
        "views": views.count, "uniqueViewers": views.viewers, "exports": count(Action.EXPORT),
        "compares": count(Action.COMPARE), "failedStepUps": count(Action.STEP_UP_FAILURE), "lockouts": count(LOCKOUT),
        "linkReissues": count(Action.LINK_REISSUED), "linkRevocations": count(Action.LINK_REVOKED),
        "codeRotations": count(Action.CODE_ROTATED), "firstViewedAt": views.first, "lastViewedAt": views.last,
    }
