"""Liveness and readiness (api.md §7): plain JSON, no envelope, no authentication."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_migrations() -> str:
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return "ok" if not pending else f"{len(pending)} pending"


def _check_broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "embedded"
    from pacspace.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _check_signing_key() -> str:
    from records.signing import log_signer

    log_signer()
    return "ok"


CHECKS = {
    "database": _check_database,
    "migrations": _check_migrations,
    "broker": _check_broker,
    "signingKey": _check_signing_key,
}


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    failing: list[str] = []
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure makes the process not ready
            checks[name] = f"error: {type(exc).__name__}"
        if checks[name] not in ("ok", "embedded"):
            failing.append(name)
    if settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS and not settings.DEBUG:
        checks["webhookTargets"] = "private targets allowed"
    status = 503 if failing else 200
    body = {"status": "ok" if not failing else "unavailable", "checks": checks}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=status)
