"""Prometheus metrics (operations.md §7); no tenant ids in labels. `/metrics` may need a bearer token."""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_DURATION = Histogram("http_request_duration_seconds", "HTTP request duration", ["route", "method"])
DELTAS_ACCEPTED = Counter("deltas_accepted_total", "Deltas accepted", ["environment"])
DELTAS_VERIFIED = Counter("deltas_verified_total", "Deltas verified", ["environment"])
DELTAS_FAILED = Counter("deltas_failed_total", "Deltas failed", ["environment", "code"])
SEAL_RUNS = Counter("seal_runs_total", "Seal runs")
SEAL_BATCH = Histogram("seal_batch_size", "Deltas per seal run", buckets=(1, 10, 50, 100, 250, 500, 1000))
SEAL_DURATION = Histogram("seal_duration_seconds", "Seal run duration")
CHECKPOINTS_VERIFIED = Counter("checkpoints_verified_total", "Checkpoints verified")
IDEMPOTENCY_REPLAYS = Counter("idempotency_replays_total", "Idempotency-Key replays")
RATE_LIMITED = Counter("rate_limited_total", "Requests refused by rate limits", ["surface"])
DELTAS_PENDING = Gauge("deltas_pending", "QUEUED or PROCESSING deltas", ["environment"], multiprocess_mode="max")
WEBHOOK_DELIVERIES_PENDING = Gauge("webhook_deliveries_pending", "PENDING webhook deliveries", multiprocess_mode="max")


def _collect_pending() -> None:
    from django.db.models import Count

    from records.models import Delta, DeltaStatus

    rows = (
        Delta.objects.filter(status__in=[DeltaStatus.QUEUED, DeltaStatus.PROCESSING])
        .values("environment").annotate(n=Count("id"))
    )
    found = {row["environment"]: row["n"] for row in rows}
    for environment in ("sandbox", "production"):
        DELTAS_PENDING.labels(environment=environment).set(found.get(environment, 0))
    from webhooks.models import Delivery

    WEBHOOK_DELIVERIES_PENDING.set(Delivery.objects.filter(status=Delivery.Status.PENDING).count())


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_BEARER_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "")
        if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    _collect_pending()
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
