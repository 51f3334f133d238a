"""Faults with a real Celery worker and Redis: a seal worker killed mid-batch, and Redis flushed
mid-run. Nothing accepted is lost: the QUEUED and PROCESSING rows in PostgreSQL are sealed again."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.db import connection

from pacspace.celery import app
from records.models import CustomerRecord, Delta, LogLeaf, LogState
from records.selectors import sum_of
from records.tasks import seal_pending
from tests.records.conftest import kill_worker, spawn_seal_worker
from tests.records.test_sealing import _assert_chains_verify, _assert_log_verifies

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BATCHES, ITEMS = 6, 500


@pytest.fixture
def broker_tasks(settings):
    """This process sends tasks to the broker (not eagerly), as the web process would."""
    previous = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = previous


def _ingest(persona):
    for batch in range(BATCHES):
        body = {"deltas": [{"customerId": f"acct-{i % 7}", "delta": f"-{batch + 1}.{i % 10}", "reason": "usage",
                            "referenceId": f"b{batch}-{i}"} for i in range(ITEMS)]}
        assert persona.api.post("/api/v1/balance/delta/batch", body).json()["data"]["totalQueued"] == ITEMS


def _wait(condition, seconds: float, nudge=None) -> bool:
    """Poll `condition`; call `nudge` every 2 s as beat's seal_pending would (SEAL_INTERVAL_SECONDS)."""
    deadline = time.monotonic() + seconds
    next_nudge = time.monotonic()
    while time.monotonic() < deadline:
        connection.close()  # a fresh snapshot of what the worker committed
        if condition():
            return True
        if nudge and time.monotonic() >= next_nudge:
            nudge()
            next_nudge = time.monotonic() + 2
        time.sleep(0.25)
    return False


def _all_verified(tenant) -> bool:
    return Delta.objects.filter(tenant=tenant, status="VERIFIED").count() == BATCHES * ITEMS


def _assert_consistent(tenant):
    assert Delta.objects.filter(tenant=tenant).exclude(status="VERIFIED").count() == 0
    log = LogState.objects.get(tenant=tenant)
    assert log.tree_size == BATCHES * ITEMS == LogLeaf.objects.filter(log=log).count()
    assert sorted(Delta.objects.filter(tenant=tenant).values_list("leaf_index", flat=True)) == list(range(log.tree_size))
    for record in CustomerRecord.objects.filter(tenant=tenant):
        accepted = sum((d.amount for d in record.deltas.all()), Decimal(0))
        assert sum_of(record.deltas.filter(status="VERIFIED")) == accepted
    _assert_chains_verify(tenant)
    _assert_log_verifies(tenant)


def test_seal_worker_killed_mid_batch_then_restarted(direct_tenant, broker_tasks, tmp_path, settings):
    settings.SEAL_BATCH_SIZE = 200
    process, _node = spawn_seal_worker(tmp_path)
    try:
        _ingest(direct_tenant)
        started = _wait(lambda: Delta.objects.filter(tenant=direct_tenant.tenant, status="VERIFIED").exists(), 60)
        assert started, "the worker never sealed anything"
        kill_worker(process)
        assert not _all_verified(direct_tenant.tenant), "the kill came too late to test anything"
        process, _node = spawn_seal_worker(tmp_path)
        # Beat's seal_pending is what finds logs with QUEUED/PROCESSING work after a crash.
        assert _wait(lambda: _all_verified(direct_tenant.tenant), 120, nudge=seal_pending.delay)
    finally:
        kill_worker(process)
    _assert_consistent(direct_tenant.tenant)


def test_redis_flushed_mid_run_loses_nothing(direct_tenant, broker_tasks, tmp_path):
    _ingest(direct_tenant)
    # Every queued message is gone, as if Redis had been lost and replaced by an empty one.
    app.connection_for_write().default_channel.client.flushdb()
    assert Delta.objects.filter(tenant=direct_tenant.tenant, status="QUEUED").count() == BATCHES * ITEMS
    process, _node = spawn_seal_worker(tmp_path)
    try:
        assert _wait(lambda: _all_verified(direct_tenant.tenant), 120, nudge=seal_pending.delay)
    finally:
        kill_worker(process)
    _assert_consistent(direct_tenant.tenant)
