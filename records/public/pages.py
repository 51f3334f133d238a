"""Shared Record pages and the verify page (api.md §5.3): the JSON routes' access rules and logging,
rendered for people. No scripts and no outside assets: one inline stylesheet, pinned by its hash in
the Content-Security-Policy, so a page cannot load or run anything else."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views import View

from pacspace.api import public_rate_limit, query_int
from pacspace.errors import DomainError
from records.public import present
from records.public.access import (
    SharedAccess,
    set_step_up_cookie,
    shared_access,
    summary_out,
    with_shared_headers,
)
from records.scopes import current_period, period_window
from records.selectors.balance import identity
from records.selectors.shared import activity, period_detail, period_of_record, period_out, verified_periods
from records.services.period_compare import periods_compare
from records.services.shared_records import normalize_code, step_up_verify
from records.verification import verify

PAGE_SIZE = 50
PERIOD_PAGE_SIZE = 100
MAX_CODE_CHARS = 64
NEXT_PATTERN = re.compile(r"^/c/cus_[a-z2-7]{20}(/[a-z0-9_/-]*)?(\?[a-z0-9_=&%.-]*)?$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _stylesheet() -> tuple[str, str]:
    """The inline CSS and the policy that allows exactly it (and nothing else) on these pages."""
    css = render_to_string("shared_record/style.css").strip()
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    policy = (f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; form-action 'self'; "
              "frame-ancestors 'none'; base-uri 'none'")
    return css, policy


def with_page_headers(response: HttpResponseBase) -> HttpResponseBase:
    response["Content-Security-Policy"] = _stylesheet()[1]
    return with_shared_headers(response)


def page(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    return render(request, template, {"style": mark_safe(_stylesheet()[0]), **context}, status=status)  # noqa: S308


def not_found_page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    """One page for every handle that leads nowhere, whatever the reason."""
    return with_page_headers(page(request, "shared_record/not_found.html", {}, status=404))


def _query_int(request: HttpRequest, name: str, *, default: int, maximum: int | None = None) -> int:
    # query_int reads only `.query_params`; a plain Django request offers the same mapping as GET.
    return query_int(SimpleNamespace(query_params=request.GET), name, default=default, minimum=0, maximum=maximum)


def safe_next(value: str, handle: str) -> str:
    """A redirect target inside this record only; anything else goes to the landing page."""
    landing = f"/c/{handle}"
    if NEXT_PATTERN.fullmatch(value or "") and value[3:27].lower() == handle:
        return landing + value[27:]
    return landing


def pager(request: HttpRequest, *, total: int, offset: int, limit: int) -> dict[str, Any] | None:
    if total <= limit and offset == 0:
        return None

    def link(to: int) -> str:
        return f"{request.path}?{urlencode({**request.GET.dict(), 'offset': to})}"

    return {"first": min(offset + 1, total), "last": min(offset + limit, total), "total": total,
            "newer": link(max(offset - limit, 0)) if offset > 0 else None,
            "older": link(offset + limit) if offset + limit < total else None}


def export_links(handle: str, **scope: str) -> list[dict[str, str]]:
    base = f"/api/v1/c/{handle}/export"
    return [{"label": label, "href": f"{base}?{urlencode({'format': fmt, **scope})}"}
            for fmt, label in (("csv", "CSV"), ("json", "JSON"))]


def _adjacent_period(period: str, months: int) -> str:
    start, _end = period_window(period)
    year, month = divmod(start.year * 12 + start.month - 1 + months, 12)
    return f"{year:04d}-{month + 1:02d}"


def _retry_after(response: HttpResponse, error: DomainError) -> HttpResponse:
    response["Retry-After"] = str(error.retry_after)
    return response


def wrong_code_message(remaining: int) -> str:
    if remaining <= 0:
        return "That code did not match. For your protection, code entry is paused for a while."
    attempts = "attempt" if remaining == 1 else "attempts"
    return f"That code did not match. {remaining} {attempts} left before code entry pauses."


class SharedRecordPage(View):
    """Base of the record pages: handle → access (generic 404 page), the tier check, errors as pages
    and the §5.1 headers on every answer."""

    page = "landing"
    is_detail = True
    template = ""
    access: SharedAccess | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            public_rate_limit(request)
            self.access = shared_access(request, kwargs["handle"])
            if self.is_detail:
                self.access.require_detail()
            response = super().dispatch(request, *args, **kwargs)
        except DomainError as error:
            response = self.error_page(request, error)
        return with_page_headers(response)

    def error_page(self, request: HttpRequest, error: DomainError) -> HttpResponseBase:
        if error.code == "RATE_LIMITED":  # may come before the handle is known, so it names no one
            return _retry_after(page(request, "shared_record/busy.html", {}, status=429), error)
        if self.access is None or error.code == "NOT_FOUND":
            return page(request, "shared_record/not_found.html", {}, status=404)
        if error.code == "STEP_UP_REQUIRED":
            return self.render(request, "shared_record/step_up.html", {"next": request.get_full_path()}, status=403)
        if error.code == "STEP_UP_LOCKED":
            minutes = -(-error.retry_after // 60)
            return _retry_after(self.render(request, "shared_record/locked.html", {"minutes": minutes}, status=429),
                                error)
        return self.render(request, "shared_record/problem.html", {"message": error.message}, status=error.status)

    def chrome(self) -> dict[str, Any]:
        """What every record page shows: who wrote it, the environment, where the visitor stands."""
        access = self.access
        name = identity(access.record)["tenant"]["name"]
        return {
            "name": name, "initial": name[:1].upper(), "base": f"/c/{access.handle}",
            "is_sandbox": access.is_sandbox, "is_unlocked": access.is_unlocked, "current": self.page,
            "policy_text": present.POLICY_LABELS[access.policy],
            "unlock_until": present.time_text(access.unlock_expires_at) if access.unlock_expires_at else None,
        }

    def render(self, request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200):
        return page(request, template, {**self.chrome(), **context}, status=status)

    def viewed(self, request: HttpRequest, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
        self.access.view(tier="detail" if self.is_detail else "summary", page=self.page, surface="page")
        return self.render(request, self.template, context, status=status)


def landing_context(access: SharedAccess) -> dict[str, Any]:
    if not access.is_summary_open:
        return {"is_summary_open": False, "next": f"/c/{access.handle}"}
    summary = summary_out(access)
    return {
        "is_summary_open": True,
        "next": f"/c/{access.handle}",
        "period_label": present.period_label(summary["period"]),
        "total": present.amount_text(summary["recordedThisPeriod"]),
        "count": summary["recordCountThisCycle"],
        "through": present.through_text(summary["verifiedThrough"]),
        "recent": [present.entry_row(entry) for entry in summary["recentRecords"]],
        "downloads": export_links(access.handle, period=summary["period"]),
    }


class LandingPage(SharedRecordPage):
    is_detail = False
    template = "shared_record/landing.html"

    def get(self, request: HttpRequest, handle: str) -> HttpResponse:
        return self.viewed(request, landing_context(self.access))


class AccessPage(SharedRecordPage):
    """The code form's target: 303 on success, the form again with what went wrong otherwise."""

    is_detail = False
    http_method_names = ["post"]

    def post(self, request: HttpRequest, handle: str) -> HttpResponseBase:
        access, code = self.access, request.POST.get("code", "")
        target = safe_next(request.POST.get("next", ""), access.handle)
        if not normalize_code(code) or len(code) > MAX_CODE_CHARS:  # refused before it can count
            return self.refused(request, target, "Enter the access code from your invoice.", status=400)
        try:
            result = step_up_verify(shared=access.shared, value=code, visitor=access.visitor, surface="page")
        except DomainError as error:
            if error.code != "ACCESS_CODE_INVALID":
                raise
            return self.refused(request, target, wrong_code_message(error.details["attemptsRemaining"]), status=403)
        response = HttpResponseRedirect(target)
        response.status_code = 303
        if result.token:
            set_step_up_cookie(response, request, access.shared, result.token)
        return response

    def refused(self, request: HttpRequest, target: str, message: str, *, status: int) -> HttpResponse:
        context = {"error": message, "next": target}
        if target == f"/c/{self.access.handle}":
            return self.render(request, "shared_record/landing.html", {**landing_context(self.access), **context},
                               status=status)
        return self.render(request, "shared_record/step_up.html", context, status=status)


class ActivityPage(SharedRecordPage):
    page = "activity"
    template = "shared_record/activity.html"

    def get(self, request: HttpRequest, handle: str) -> HttpResponse:
        period = request.GET.get("period") or current_period()
        offset = _query_int(request, "offset", default=0)
        data = activity(self.access.record, period=period, limit=PAGE_SIZE, offset=offset)
        earlier, later = _adjacent_period(period, -1), _adjacent_period(period, 1)
        if later > current_period():
            later = None
        return self.viewed(request, {
            "period_label": present.period_label(period),
            "rows": [present.entry_row(entry) for entry in data["items"]],
            "pager": pager(request, total=data["total"], offset=offset, limit=PAGE_SIZE),
            "earlier": earlier, "earlier_label": present.period_label(earlier),
            "later": later, "later_label": present.period_label(later),
            "downloads": export_links(handle=self.access.handle, period=period),
        })


class PeriodsPage(SharedRecordPage):
    page = "periods"
    template = "shared_record/periods.html"

    def get(self, request: HttpRequest, handle: str) -> HttpResponse:
        offset = _query_int(request, "offset", default=0)
        closed = verified_periods(self.access.record)
        rows = [present.period_row(period_out(c)) for c in closed[offset : offset + PAGE_SIZE]]
        return self.viewed(request, {"rows": rows,
                                     "pager": pager(request, total=closed.count(), offset=offset, limit=PAGE_SIZE)})


class PeriodPage(SharedRecordPage):
    page = "period"
    template = "shared_record/period.html"

    def get(self, request: HttpRequest, handle: str, checkpointId: str) -> HttpResponse:
        record = self.access.record
        offset = _query_int(request, "offset", default=0)
        data = period_detail(record, period_of_record(record, checkpointId), limit=PERIOD_PAGE_SIZE, offset=offset)
        return self.viewed(request, {
            "period": present.period_row(data["period"]),
            "rows": [present.entry_row(entry) for entry in data["records"]["items"]],
            "pager": pager(request, total=data["records"]["total"], offset=offset, limit=PERIOD_PAGE_SIZE),
            "downloads": export_links(self.access.handle, checkpointId=checkpointId),
        })


def _side_key(value: str) -> str:
    return "CheckpointId" if value.startswith("chk_") else "Period"


class ComparePage(SharedRecordPage):
    page = "compare"
    template = "shared_record/compare.html"
    REFUSALS = ("VALIDATION_ERROR", "INVALID_SCOPE_COMBINATION", "PERIOD_NOT_CLOSED", "NOT_FOUND")

    def get(self, request: HttpRequest, handle: str) -> HttpResponse:
        chosen = {side: request.GET.get(side, "").strip() for side in ("from", "to")}
        choices = self.choices()
        defaults = {"to": choices[0]["value"], "from": choices[min(1, len(choices) - 1)]["value"]}
        context: dict[str, Any] = {"choices": choices, "selected": {k: chosen[k] or defaults[k] for k in chosen}}
        if not (chosen["from"] and chosen["to"]):
            return self.viewed(request, context)
        try:
            context.update(self.compare(chosen["from"], chosen["to"]))
        except DomainError as error:
            if error.code not in self.REFUSALS:
                raise
            return self.viewed(request, {**context, "error": error.message}, status=error.status)
        return self.viewed(request, context)

    def choices(self) -> list[dict[str, str]]:
        """Closed months newest first, with the current month (live) on top."""
        periods = {c.period for c in verified_periods(self.access.record) if c.period}
        periods.add(current_period())
        return [{"value": p, "label": present.period_label(p)} for p in sorted(periods, reverse=True)]

    def compare(self, left: str, right: str) -> dict[str, Any]:
        access = self.access
        body = {f"from{_side_key(left)}": left, f"to{_side_key(right)}": right}
        data = periods_compare(record=access.record, body=body, actor=access.visitor.actor(),
                               identity=identity(access.record), handle=access.handle, visitor=access.visitor)
        sides = {"from": present.side_row(data["from"]), "to": present.side_row(data["to"])}
        return {
            "result": True,
            "sides": [{"title": "From", "row": sides["from"]}, {"title": "To", "row": sides["to"]}],
            "difference": present.difference_row(data["difference"]),
            "reasons": [present.reason_row(group) for group in data["byReason"]],
            "onlies": [{"label": sides[side]["label"], **data[key], "rows": [present.entry_row(e) for e in data[key]["items"]]}
                       for side, key in (("from", "onlyInFrom"), ("to", "onlyInTo"))],
        }


def verify_page(request: HttpRequest, proofRoot: str) -> HttpResponseBase:
    """api.md §2.18 for people: what was recorded under a proof root, and the checks on request."""
    source = request.GET.get("source") or "db"
    try:
        public_rate_limit(request)
        data = verify(proofRoot, source=source)
    except DomainError as error:
        if error.code == "RATE_LIMITED":
            return with_page_headers(_retry_after(page(request, "shared_record/busy.html", {}, status=429), error))
        refusal = VERIFY_REFUSALS["NOT_FOUND" if error.code == "NOT_FOUND" else "INVALID"]
        message = "" if error.code == "NOT_FOUND" else error.message
        return with_page_headers(page(request, "verify/refused.html", {**refusal, "message": message},
                                      status=error.status))
    return with_page_headers(page(request, "verify/result.html", verify_context(data, request.path)))


def verify_context(data: dict[str, Any], path: str) -> dict[str, Any]:
    name, summary = data["identity"]["tenant"]["name"], data["summary"]
    checks = data.get("checks")
    return {
        "name": name, "initial": name[:1].upper(), "is_sandbox": data["environment"] == "sandbox", "data": data,
        "kind": "Closed period" if data["kind"] == "checkpoint" else "Single record receipt",
        "recorded_at": present.datetime_text(data["recordedAt"]),
        "net": present.amount_text(summary["netChange"]), "count": summary["recordCount"],
        "first": present.datetime_text(summary["firstRecordAt"]),
        "last": present.datetime_text(summary["lastRecordAt"]),
        "rows": [{"recorded": present.datetime_text(r["time"]), "amount": present.amount_text(r["amount"]),
                  "reason": r["reason"], "reference": r["referenceId"]} for r in data["records"]],
        "checks": [{"label": label, "ok": checks[key]} for key, label in VERIFY_CHECKS] if checks else None,
        "check_url": f"{path}?source=both",
    }


VERIFY_REFUSALS = {
    "NOT_FOUND": {"heading": "Nothing is recorded under this proof",
                  "explanation": "No closed period and no record receipt carries this proof root. Check that it "
                                 "was copied completely: 0x followed by 64 characters."},
    "INVALID": {"heading": "That is not a proof root",
                "explanation": "A proof root is 0x followed by 64 hexadecimal characters, as printed on a receipt "
                               "or statement."},
}
VERIFY_CHECKS = (
    ("contentHashes", "Every record's content hash recomputes from its fields"),
    ("chain", "Each record links to the one before it"),
    ("proofRoot", "The records produce this proof root"),
    ("inclusion", "Every record is included in the signed log"),
    ("signature", "The log's signature is valid"),
)
