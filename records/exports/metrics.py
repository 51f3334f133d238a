"""Export metrics of operations.md §7 (no tenant ids in labels)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EXPORTS = Counter("exports_total", "Exports streamed or rendered", ["format", "outcome"])
RENDER_SECONDS = Histogram("export_render_seconds", "Seconds from claim to READY of a pdf or bundle render",
                           buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300))


def export_observe(*, fmt: str, outcome: str, seconds: float | None = None) -> None:
    """outcome: streamed (json/csv answer), ready, retried, failed."""
    EXPORTS.labels(format=fmt, outcome=outcome).inc()
    if seconds is not None:
        RENDER_SECONDS.observe(seconds)
