"""Webhook metrics of operations.md §7 (no tenant ids in labels). `webhook_deliveries_pending` is a gauge
set at scrape time, which belongs with the other scrape-time gauges in pacspace/metrics.py."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter("webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
ATTEMPT_DURATION = Histogram("webhook_attempt_duration_seconds", "Webhook attempts that reached a receiver")
ENDPOINTS_DISABLED = Counter("webhook_endpoints_disabled_total", "Webhook endpoints disabled", ["reason"])


def attempt_observe(*, error: str, latency_ms: int | None) -> None:
    ATTEMPTS.labels(outcome=error.lower() or "success").inc()
    if latency_ms is not None:
        ATTEMPT_DURATION.observe(latency_ms / 1000)
