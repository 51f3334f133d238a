"""Sealing into the per-tenant RFC 6962 log (proofs.md §4–5)."""

import base64
import threading

import pytest
from django.db import connection

from records import tlog
from records.models import CustomerRecord, Delta, LogLeaf, LogState, SignedTreeHead
from records.proofs import ZERO_HASH, from_hex, proof_hash, to_hex
from records.services.log import log_consistency, log_inclusion
from records.services.sealing import seal_claim, seal_until_idle
from tests.records.helpers import emit, seal
from tests.records.test_tlog import ref_mth as ref_root
from tests.records.test_tlog import ref_path, ref_subproof, ref_verify_consistency, ref_verify_inclusion
from webhooks.models import Event


def _assert_log_verifies(tenant, environment="sandbox"):
    """Independent check: every leaf, the root, every inclusion path and the signed head."""
    log = LogState.objects.get(tenant=tenant, environment=environment)
    leaves = [bytes(h) for h in LogLeaf.objects.filter(log=log).order_by("leaf_index").values_list("leaf_hash", flat=True)]
    assert len(leaves) == log.tree_size
    assert bytes(log.root_hash) == ref_root(leaves)
    for delta in Delta.objects.filter(tenant=tenant, environment=environment, status="VERIFIED"):
        assert leaves[delta.leaf_index] == tlog.leaf_hash(from_hex(delta.content_hash))
    head = SignedTreeHead.objects.filter(log=log).order_by("-tree_size").first()
    verifier = tlog.verifier_key(log.origin, base64.b64decode(head.public_key))
    assert tlog.open_note(head.note, verifier) == (log.origin, log.tree_size, bytes(log.root_hash))
    for index in range(log.tree_size):
        proof = log_inclusion(log, index, log.tree_size)
        path = [from_hex(h) for h in proof["auditPath"]]
        assert path == ref_path(index, leaves)
        assert ref_verify_inclusion(index, log.tree_size, leaves[index], path, bytes(log.root_hash))


def _assert_chains_verify(tenant):
    for record in CustomerRecord.objects.filter(tenant=tenant):
        previous = ZERO_HASH
        verified = record.deltas.filter(status="VERIFIED").order_by("chain_index")
        for index, delta in enumerate(verified):
            assert delta.chain_index == index
            assert delta.previous_proof_hash == to_hex(previous)
            assert delta.proof_hash == to_hex(proof_hash(previous, from_hex(delta.content_hash)))
            previous = from_hex(delta.proof_hash)
        assert record.chain_length == verified.count()
        assert record.chain_head == (to_hex(previous) if verified else "")


def test_seal_verifies_in_acceptance_order_and_signs_a_head(direct_tenant):
    ids = [emit(direct_tenant, f"acct-{n % 2}", n + 1).json()["data"]["recordId"] for n in range(5)]
    assert seal(direct_tenant) == 5
    deltas = [Delta.objects.get(record_id=i) for i in ids]
    assert [d.leaf_index for d in deltas] == [0, 1, 2, 3, 4]
    assert [d.chain_index for d in deltas] == [0, 0, 1, 1, 2]
    head = SignedTreeHead.objects.get()
    assert head.tree_size == 5 and all(d.verification_reference == head.reference for d in deltas)
    assert all(d.status == "VERIFIED" and d.verified_at == head.signed_at for d in deltas)
    _assert_log_verifies(direct_tenant.tenant)
    _assert_chains_verify(direct_tenant.tenant)


def test_delta_verified_event_payload(direct_tenant):
    first = emit(direct_tenant, "acct-1", "-12.5", referenceId="r1").json()["data"]
    emit(direct_tenant, "acct-1", "2.5", referenceId="r2")
    seal(direct_tenant)
    delta = Delta.objects.get(record_id=first["recordId"])
    events = Event.objects.filter(type="delta.verified").order_by("created_at")
    assert events.count() == 2
    data = events.first().payload["data"]
    head = SignedTreeHead.objects.get()
    assert data["recordId"] == delta.record_id and data["receiptId"] == delta.proof_hash
    assert (data["deltaIndex"], data["sequenceNumber"], data["status"]) == (0, "0", "verified")
    assert data["verificationReference"] == data["verificationId"] == head.reference
    assert data["amount"] == -12.5 and data["delta"]["amount"] == -12.5 and data["delta"]["metadata"] == {}
    assert data["proof"]["itemHashes"] == [delta.content_hash, Delta.objects.get(reference_id="r2").content_hash]
    assert data["proof"]["previousProofHash"] == to_hex(ZERO_HASH)
    assert data["period"]["deltaCount"] == 1 and data["period"]["netDelta"] == -12.5
    assert events.last().payload["data"]["period"] == {"id": data["period"]["id"], "deltaCount": 2, "netDelta": -10}
    assert data["log"] == {"leafIndex": 0, "treeSize": 2, "rootHash": to_hex(bytes(head.root_hash))}


def test_tampered_row_fails_with_integrity_error(direct_tenant):
    good = emit(direct_tenant, "acct-1", -1).json()["data"]
    bad = emit(direct_tenant, "acct-1", -2).json()["data"]
    Delta.objects.filter(record_id=bad["recordId"]).update(delta_text="-3", amount=-3)
    seal(direct_tenant)
    failed = Delta.objects.get(record_id=bad["recordId"])
    assert (failed.status, failed.error_code, failed.leaf_index) == ("FAILED", "INTEGRITY_ERROR", None)
    assert Delta.objects.get(record_id=good["recordId"]).status == "VERIFIED"
    event = Event.objects.get(type="delta.failed").payload["data"]
    assert event["error"]["code"] == "INTEGRITY_ERROR" and event["recordId"] == bad["recordId"]
    _assert_chains_verify(direct_tenant.tenant)


def test_adjusting_a_failed_delta_fails(direct_tenant):
    target = emit(direct_tenant, "acct-1", -5, referenceId="u1").json()["data"]
    credit = emit(direct_tenant, "acct-1", 1, reason="credit", adjusts={"referenceId": "u1"}).json()["data"]
    Delta.objects.filter(record_id=target["recordId"]).update(reason="edited behind our back")
    seal(direct_tenant)
    assert Delta.objects.get(record_id=credit["recordId"]).error_code == "ADJUSTED_RECORD_FAILED"


def test_leftover_processing_rows_are_sealed_by_the_next_run(direct_tenant):
    emit(direct_tenant, "a", 1)
    emit(direct_tenant, "a", 2)
    assert seal_claim(tenant_id=direct_tenant.tenant.id, environment="sandbox") == 2
    # The worker "crashes" here; a later run seals what was claimed.
    assert Delta.objects.filter(status="PROCESSING").count() == 2
    assert seal_until_idle(tenant_id=direct_tenant.tenant.id, environment="sandbox") == 2
    assert Delta.objects.filter(status="VERIFIED").count() == 2


def test_environments_have_separate_logs(direct_tenant):
    from records.services.tenants import api_key_create
    from tests.conftest import ApiClient

    _key, live = api_key_create(tenant=direct_tenant.tenant, environment="live")
    emit(direct_tenant, "a", 1)
    ApiClient(live).post("/api/v1/balance/delta", {"customerId": "a", "delta": 1, "reason": "r"})
    seal(direct_tenant)
    seal(direct_tenant, "production")
    origins = sorted(LogState.objects.values_list("origin", flat=True))
    assert origins == [f"records.example.com/{direct_tenant.tenant.id}/production",
                       f"records.example.com/{direct_tenant.tenant.id}/sandbox"]
    assert set(LogState.objects.values_list("tree_size", flat=True)) == {1}


def test_consistency_between_heads_verifies(direct_tenant):
    for n in range(3):
        emit(direct_tenant, "a", n + 1)
    seal(direct_tenant)
    for n in range(4):
        emit(direct_tenant, "b", n + 1)
    seal(direct_tenant)
    log = LogState.objects.get()
    leaves = [bytes(h) for h in LogLeaf.objects.filter(log=log).order_by("leaf_index").values_list("leaf_hash", flat=True)]
    data = log_consistency(log, 3, 7)
    proof = [from_hex(h) for h in data["proof"]]
    assert proof == ref_subproof(3, leaves, True)
    assert ref_verify_consistency(3, 7, from_hex(data["firstRootHash"]), from_hex(data["secondRootHash"]), proof)
    heads = list(SignedTreeHead.objects.order_by("tree_size").values_list("tree_size", flat=True))
    assert heads == [3, 7]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_seal_workers_produce_one_consistent_log(direct_tenant, settings):
    settings.SEAL_BATCH_SIZE = 7
    body = {"deltas": [{"customerId": f"acct-{i % 5}", "delta": i + 1, "reason": "usage"} for i in range(120)]}
    from records.models import Delta as D

    with mock_no_seal():
        direct_tenant.api.post("/api/v1/balance/delta/batch", body)
    assert D.objects.filter(status="QUEUED").count() == 120
    errors = []

    def worker():
        try:
            seal_until_idle(tenant_id=direct_tenant.tenant.id, environment="sandbox")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert D.objects.filter(status="VERIFIED").count() == 120
    assert sorted(D.objects.values_list("leaf_index", flat=True)) == list(range(120))
    sizes = list(SignedTreeHead.objects.order_by("signed_at", "tree_size").values_list("tree_size", flat=True))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes) and sizes[-1] == 120
    _assert_log_verifies(direct_tenant.tenant)
    _assert_chains_verify(direct_tenant.tenant)


def mock_no_seal():
    """Keep the on-commit seal from running so the test controls when sealing happens."""
    from unittest import mock

    return mock.patch("records.tasks.seal_log.delay")


