"""Celery app. Without a broker (embedded default) tasks run eagerly in-process."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pacspace.settings")

app = Celery("pacspace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["records", "webhooks"])


def _beat_schedule() -> dict:
    from django.conf import settings

    return {
        "seal-pending": {"task": "records.tasks.seal_pending", "schedule": float(settings.SEAL_INTERVAL_SECONDS)},
        "idempotency-prune": {"task": "records.tasks.prune_idempotency_keys", "schedule": 3600.0},
        "exports-requeue-stale": {"task": "records.tasks.requeue_stale_exports", "schedule": 300.0},
        "exports-expire": {"task": "records.tasks.expire_exports", "schedule": 3600.0},
        "webhooks-dispatch-due": {"task": "webhooks.tasks.dispatch_due", "schedule": 10.0},
        "webhook-log-prune": {"task": "webhooks.tasks.prune_deliveries", "schedule": 86400.0},
    }


@app.on_after_configure.connect
def _configure_beat(sender: Celery, **kwargs) -> None:
    sender.conf.beat_schedule = _beat_schedule()
