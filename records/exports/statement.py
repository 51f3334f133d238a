"""The PDF statement (proofs.md §7.4): `templates/exports/statement.html` rendered by WeasyPrint.

Everything shown comes from a `Statement` the caller assembles; nothing here queries. The template is
rendered with Django's autoescaping, and WeasyPrint gets a fetcher that refuses every URL but `data:`,
so neither a record's text nor the template can make the renderer read a file or call the network.
Only the Identity names appear (never the middleware's own name), and the Shared Record link but never
its access code.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import qrcode
import qrcode.image.svg
from django.template.loader import render_to_string

from records.proofs import normalize_decimal
from records.scopes import PERIOD_PATTERN

# Rows listed in the PDF; the bundle's records.json/csv always carry the whole period.
PDF_ROW_CAP = 2000
TEMPLATE = "exports/statement.html"
FOOTER = "Written by {name}. Visible to both. Owned by neither."


@dataclass(frozen=True)
class Statement:
    identity: dict[str, Any]
    customer: dict[str, Any]  # records.json `customer`
    environment: str
    basis: str
    period: str | None
    window_start: dt.datetime
    window_end: dt.datetime
    checkpoint: dict[str, Any] | None  # records.json `checkpoint`
    totals: dict[str, Any]
    entries: list[dict[str, Any]]  # Entry objects, at most PDF_ROW_CAP
    link_url: str | None
    verify_url: str | None
    log_reference: str | None  # the signed head this render saw
    generated_at: dt.datetime


@functools.cache
def _fetcher_class() -> type:
    # WeasyPrint loads on the first render only: web processes serving json/csv never import it.
    import weasyprint

    class DataUrlsOnly(weasyprint.URLFetcher):
        """Refuse network and file URLs; only inline `data:` resources (the QR code) load."""

        def __init__(self) -> None:
            super().__init__(allowed_protocols={"data"}, allow_redirects=False)

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError("statement renders fetch nothing but data: URLs")
            return super().fetch(url, headers)

    return DataUrlsOnly


def data_urls_only() -> Any:
    """A WeasyPrint URL fetcher that loads `data:` URLs and refuses everything else."""
    return _fetcher_class()()


def statement_pdf(statement: Statement) -> bytes:
    import weasyprint

    html = render_to_string(TEMPLATE, _context(statement))
    # base_url None: a relative URL has nothing to resolve against, so it cannot reach the filesystem.
    return weasyprint.HTML(string=html, base_url=None, url_fetcher=data_urls_only()).write_pdf()


def amount_text(value: Decimal | str) -> str:
    """Exact decimal with thousands separators: `-1,234.5`; never rounded, never a float."""
    text = normalize_decimal(Decimal(value))
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = digits.partition(".")
    return f"{sign}{int(whole):,}" + (f".{fraction}" if fraction else "")


def _moment(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def period_label(period: str | None, start: dt.datetime, end: dt.datetime) -> str:
    if period and PERIOD_PATTERN.fullmatch(period):
        return start.strftime("%B %Y")
    return f"{_moment(start)} to {_moment(end)}"


def _window(start: dt.datetime, end: dt.datetime) -> str:
    last_day = end - dt.timedelta(microseconds=1)  # windows are half-open
    return f"{start:%d %b %Y} – {last_day:%d %b %Y} (UTC)"


def _qr_data_uri(url: str) -> str:
    svg = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=0).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "recorded_at": entry["recordedAt"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "record_id": entry["recordId"],
        "reason": entry["reason"],
        "reference": entry["referenceId"] or "",
        "state": entry["state"],
        "amount": amount_text(entry["amount"]),
        "is_credit": entry["amount"] > 0,
    }


def _context(s: Statement) -> dict[str, Any]:
    name = s.identity["recordedBy"]["displayName"]
    count = s.totals["recordCount"]
    return {
        "title": f"{name} — usage statement, {period_label(s.period, s.window_start, s.window_end)}",
        "vendor": name,
        "footer": FOOTER.format(name=name),
        "customer": s.customer,
        "is_sandbox": s.environment == "sandbox",
        "is_closed": s.basis == "checkpoint",
        "period_label": period_label(s.period, s.window_start, s.window_end),
        "window": _window(s.window_start, s.window_end),
        "checkpoint": s.checkpoint,
        "verified_at": _moment(dt.datetime.fromisoformat(s.checkpoint["verifiedAt"])) if s.checkpoint else "",
        "totals": {key: amount_text(s.totals[key]) for key in ("credits", "debits", "netChange")},
        "record_count": f"{count:,}",
        "rows": [_row(entry) for entry in s.entries],
        "is_truncated": len(s.entries) < count,
        "shown_count": f"{len(s.entries):,}",
        "link_url": s.link_url,
        "qr": _qr_data_uri(s.link_url) if s.link_url else None,
        "verify_url": s.verify_url,
        "log_reference": s.log_reference,
        "generated_at": _moment(s.generated_at),
    }
