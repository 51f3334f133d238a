"""Concurrency claims, with real threads against PostgreSQL."""

import threading
from unittest import mock

import pytest
from django.db import connection

from records.models import CustomerRecord, Delta, IdempotencyKey
from tests.conftest import ApiClient

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(count, call):
    """Start `count` threads at one barrier; return their results in thread order."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            barrier.wait(timeout=10)
            results[index] = call(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@mock.patch("records.tasks.seal_log.delay")
def test_twenty_threads_one_idempotency_key_one_delta(_seal, direct_tenant):
    body = {"customerId": "acct-1", "delta": -1, "reason": "usage"}

    def call(_index):
        response = ApiClient(direct_tenant.api_key).post("/api/v1/balance/delta", body, headers={"Idempotency-Key": "k"})
        return response.status_code, response.content, response.get("Idempotent-Replayed")

    results = _race(20, call)
    # One request runs; the others either find it in flight (202) or, arriving after it finished,
    # get its stored answer replayed byte for byte.
    originals = [content for status, content, replayed in results if status == 201 and not replayed]
    assert len(originals) == 1, results
    created = originals[0]
    assert all(status == 202 or content == created for status, content, _ in results)
    assert Delta.objects.filter(tenant=direct_tenant.tenant).count() == 1
    replay = ApiClient(direct_tenant.api_key).post("/api/v1/balance/delta", body, headers={"Idempotency-Key": "k"})
    assert replay.status_code == 201 and replay.content == created
    assert IdempotencyKey.objects.get().is_completed


@mock.patch("records.tasks.seal_log.delay")
def test_concurrent_first_deltas_create_one_record(_seal, direct_tenant):
    def call(index):
        return ApiClient(direct_tenant.api_key).post(
            "/api/v1/balance/delta", {"customerId": "new-customer", "delta": index + 1, "reason": "usage"}).status_code

    assert _race(10, call) == [201] * 10
    record = CustomerRecord.objects.get(tenant=direct_tenant.tenant)
    sequences = sorted(Delta.objects.filter(customer_record=record).values_list("intake_sequence", flat=True))
    assert sequences == list(range(1, 11)) and record.last_intake_sequence == 10


def _race_one_reference(persona, body, count):
    """`count` threads emit the same body: one 201, the rest replays (200) of that same delta."""

    def call(_index):
        response = ApiClient(persona.api_key).post("/api/v1/balance/delta", body)
        return response.status_code, response.json()["data"]["recordId"]

    results = _race(count, call)
    assert sorted(status for status, _ in results) == [200] * (count - 1) + [201]
    assert len({record_id for _, record_id in results}) == 1


@mock.patch("records.tasks.seal_log.delay")
def test_concurrent_same_reference_gives_one_delta(_seal, direct_tenant):
    body = {"customerId": "acct-1", "delta": -1, "reason": "usage", "referenceId": "usage:1"}
    _race_one_reference(direct_tenant, body, 10)
    assert Delta.objects.filter(tenant=direct_tenant.tenant).count() == 1


@mock.patch("records.tasks.seal_log.delay")
def test_same_reference_on_an_existing_record_gives_one_delta(_seal, direct_tenant):
    """The record exists, so lock and referenceId lookup go out pipelined: the lookup still runs after
    the lock is granted and sees the delta the lock holder committed."""
    client = ApiClient(direct_tenant.api_key)
    assert client.post("/api/v1/balance/delta", {"customerId": "acct-2", "delta": 1, "reason": "open"}).status_code == 201
    body = {"customerId": "acct-2", "delta": -3, "reason": "usage", "referenceId": "usage:7"}
    _race_one_reference(direct_tenant, body, 12)
    record = CustomerRecord.objects.get(tenant=direct_tenant.tenant, customer_id="acct-2")
    assert Delta.objects.filter(customer_record=record).count() == 2 and record.last_intake_sequence == 2
