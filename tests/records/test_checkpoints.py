"""Checkpoints, closed periods and receipts (api.md §2.6–2.12, proofs.md §5)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from records.models import Checkpoint, Delta, SharedRecord
from records.proofs import ZERO_HASH, from_hex, merkle_root, to_hex
from records.scopes import current_period, period_window
from records.services.shared_records import access_code
from tests.records.helpers import emit, seal
from webhooks.models import Event

URL = "/api/v1/balance/checkpoint"


def _independent_root(deltas):
    return to_hex(merkle_root([from_hex(d.content_hash) for d in sorted(deltas, key=lambda d: d.chain_index)]))


def test_commit_verifies_at_once_when_settled(direct_tenant):
    for amount in ("-12.5", "-7", "2.5"):
        emit(direct_tenant, "acct-1", amount)
    seal(direct_tenant)
    response = direct_tenant.api.post(URL, {"customerId": "acct-1"})
    assert response.status_code == 201
    data = response.json()["data"]
    deltas = list(Delta.objects.filter(tenant=direct_tenant.tenant))
    assert data["status"] == "VERIFIED" and data["idempotent"] is False
    assert (data["recordCount"], data["credits"], data["debits"], data["netChange"]) == (3, 2.5, -19.5, -17)
    assert data["proofRoot"] == _independent_root(deltas)
    assert data["period"] == current_period() and data["treeSize"] == 3
    assert data["verificationReference"].startswith("3:0x")
    assert {d.checkpoint_id for d in Delta.objects.filter(tenant=direct_tenant.tenant)} == {data["checkpointId"]}
    types = list(Event.objects.filter(type__in=["checkpoint.verified", "receipt.generated"]).values_list("type", flat=True))
    assert sorted(types) == ["checkpoint.verified", "receipt.generated"]
    receipt = Event.objects.get(type="receipt.generated").payload["data"]
    assert receipt["receiptId"] == data["checkpointId"]
    assert receipt["verificationApiUrl"] == f"https://records.example.com/api/v1/verify/{data['proofRoot']}"


def test_recommit_of_same_scope_is_idempotent(direct_tenant):
    emit(direct_tenant, "acct-1", -1)
    seal(direct_tenant)
    first = direct_tenant.api.post(URL, {"customerId": "acct-1"}).json()["data"]
    again = direct_tenant.api.post(URL, {"customerId": "acct-1"})
    assert again.status_code == 200
    assert again.json()["data"]["checkpointId"] == first["checkpointId"] and again.json()["data"]["idempotent"] is True
    assert Checkpoint.objects.count() == 1


def test_late_deltas_make_a_new_checkpoint_that_supersedes(direct_tenant):
    emit(direct_tenant, "acct-1", -1)
    seal(direct_tenant)
    first = direct_tenant.api.post(URL, {"customerId": "acct-1"}).json()["data"]
    emit(direct_tenant, "acct-1", -2)
    seal(direct_tenant)
    second = direct_tenant.api.post(URL, {"customerId": "acct-1"}).json()["data"]
    assert second["checkpointId"] != first["checkpointId"] and second["supersedes"] == first["checkpointId"]
    assert second["recordCount"] == 2 and second["netChange"] == -3
    assert Checkpoint.objects.get(pk=first["checkpointId"]).superseded_by_id == second["checkpointId"]
    old = direct_tenant.api.get(f"/api/v1/balance/checkpoints/{first['checkpointId']}").json()["data"]
    assert old["recordCount"] == 1 and old["supersededBy"] == second["checkpointId"]
    # The first delta keeps its first covering checkpoint.
    first_delta = Delta.objects.filter(tenant=direct_tenant.tenant).order_by("id").first()
    assert first_delta.checkpoint_id == first["checkpointId"]


def test_queued_deltas_keep_the_checkpoint_queued_until_sealed(direct_tenant):
    emit(direct_tenant, "acct-1", -1)
    data = direct_tenant.api.post(URL, {"customerId": "acct-1"}).json()["data"]
    assert data["status"] == "QUEUED" and data["proofRoot"] is None and data["recordCount"] is None
    seal(direct_tenant)
    checkpoint = Checkpoint.objects.get(pk=data["checkpointId"])
    assert checkpoint.status == "VERIFIED" and checkpoint.record_count == 1


def test_deltas_after_the_cutoff_are_not_covered(direct_tenant):
    emit(direct_tenant, "acct-1", -1)
    data = direct_tenant.api.post(URL, {"customerId": "acct-1"}).json()["data"]
    emit(direct_tenant, "acct-1", -5)
    seal(direct_tenant)
    checkpoint = Checkpoint.objects.get(pk=data["checkpointId"])
    assert (checkpoint.record_count, checkpoint.net_change) == (1, Decimal(-1))


def test_empty_window_verifies_with_zero_root(direct_tenant):
    emit(direct_tenant, "acct-1", -1)
    seal(direct_tenant)
    previous = (timezone.now().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    data = direct_tenant.api.post(URL, {"customerId": "acct-1", "period": previous}).json()["data"]
    assert data["status"] == "VERIFIED" and data["recordCount"] == 0 and data["proofRoot"] == to_hex(ZERO_HASH)


def test_without_customer_commits_every_active_record(middleware_tenant, vendor_a, vendor_b):
    for customer in ("a1", "a2"):
        emit(middleware_tenant, customer, -1, vendor=vendor_a)
    emit(middleware_tenant, "b1", -1, vendor=vendor_b)
    seal(middleware_tenant)
    response = middleware_tenant.api.post(URL, {"vendorAccountId": vendor_a.id})
    data = response.json()["data"]
    assert response.status_code == 201 and data["count"] == 2
    assert sorted(c["customerId"] for c in data["checkpoints"]) == ["a1", "a2"]
    assert all(c["vendorAccountId"] == vendor_a.id for c in data["checkpoints"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"customerId": "acct-1", "period": "2099-01"}, 400, "VALIDATION_ERROR"),
        ({"customerId": "acct-1", "period": "2026-1"}, 400, "VALIDATION_ERROR"),
        ({"customerId": "acct-1", "startDate": "2026-03-01", "endDate": "2026-02-01"}, 400, "VALIDATION_ERROR"),
        ({"customerId": "acct-1", "startDate": "2020-01-01", "endDate": "2026-01-01"}, 400, "SCOPE_TOO_WIDE"),
        ({"customerId": "acct-1", "startingCheckpoint": "0x" + "00" * 32}, 400, "INVALID_SCOPE_COMBINATION"),
        ({"customerId": "nobody"}, 404, "CUSTOMER_NOT_FOUND"),
        ({"customerId": "acct-1", "mode": "fast"}, 400, "VALIDATION_ERROR"),
        ({"customerId": "acct-1", "fingerprints": ["x"]}, 400, "VALIDATION_ERROR"),
    ],
)
def test_checkpoint_bad_input_writes_nothing(direct_tenant, body, status, code):
    emit(direct_tenant, "acct-1", -1)
    response = direct_tenant.api.post(URL, body)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert Checkpoint.objects.count() == 0


def test_checkpoint_vendor_rules(middleware_tenant, other_tenant, vendor_a):
    emit(middleware_tenant, "acct-1", -1, vendor=vendor_a)
    missing = middleware_tenant.api.post(URL, {"customerId": "acct-1"})
    assert missing.json()["error"]["code"] == "VENDOR_ACCOUNT_REQUIRED"
    foreign = middleware_tenant.api.post(URL, {"customerId": "acct-1", "vendorAccountId": other_tenant.vendors["x"].id})
    assert foreign.json()["error"]["code"] == "VENDOR_ACCOUNT_MISMATCH"
    assert Checkpoint.objects.count() == 0


def test_list_filters_and_paging(direct_tenant):
    emit(direct_tenant, "acct-1", -1)
    emit(direct_tenant, "acct-2", -1)
    seal(direct_tenant)
    direct_tenant.api.post(URL, {})
    data = direct_tenant.api.get("/api/v1/balance/checkpoints", customerId="acct-2").json()["data"]
    assert data["total"] == 1 and data["checkpoints"][0]["customerId"] == "acct-2"
    everything = direct_tenant.api.get("/api/v1/balance/checkpoints", limit=1).json()["data"]
    assert (everything["total"], everything["limit"], len(everything["checkpoints"])) == (2, 1, 1)
    by_period = direct_tenant.api.get("/api/v1/balance/checkpoints", period="2020-01").json()["data"]
    assert by_period["total"] == 0
    bad = direct_tenant.api.get("/api/v1/balance/checkpoints", startingCheckpoint="0x" + "00" * 32)
    assert bad.json()["error"]["code"] == "INVALID_SCOPE_COMBINATION"


def test_receipt_and_invoice_proof(direct_tenant):
    emit(direct_tenant, "acct-1", "-12.5")
    emit(direct_tenant, "acct-1", "2.5")
    seal(direct_tenant)
    checkpoint = direct_tenant.api.post(URL, {"customerId": "acct-1"}).json()["data"]
    proof = direct_tenant.api.get("/api/v1/balance/invoice-proof/acct-1").json()["data"]
    assert proof["checkpointId"] == checkpoint["checkpointId"] and proof["proofRoot"] == checkpoint["proofRoot"]
    assert proof["publiclyVerifiable"] is True and proof["netChange"] == -10 and proof["deltasCount"] == 2
    shared = SharedRecord.objects.get(customer_record__customer_id="acct-1")
    link = f"https://records.example.com/c/{shared.handle}"
    assert proof["verifyUrl"] == link  # the Shared Record link wins while it is active
    assert proof["verificationApiUrl"] == f"https://records.example.com/api/v1/verify/{checkpoint['proofRoot']}"
    assert (proof["customerLinkUrl"], proof["customerLinkHost"]) == (link, "records.example.com")
    assert proof["accessHint"] == access_code(shared) and len(proof["accessHint"]) == 6
    SharedRecord.objects.filter(pk=shared.pk).update(status="revoked")
    revoked = direct_tenant.api.get("/api/v1/balance/invoice-proof/acct-1").json()["data"]
    assert revoked["verifyUrl"] == f"https://records.example.com/verify/{checkpoint['proofRoot']}"
    assert (revoked["customerLinkUrl"], revoked["customerLinkHost"], revoked["accessHint"]) == (None, None, None)
    receipt = direct_tenant.api.get("/api/v1/balance/receipt/acct-1").json()["data"]
    assert receipt["deltasCount"] == 2 and receipt["finalBalance"] == -10 and receipt["deltasTruncated"] is False
    assert receipt["windowSummaries"] == [{"period": current_period(), "totalCredits": 2.5, "totalDebits": -12.5,
                                           "netChange": -10, "deltasCount": 2}]
    assert receipt["latestCheckpoint"]["checkpointId"] == checkpoint["checkpointId"]
    assert receipt["receiptId"] == Delta.objects.order_by("-chain_index").first().proof_hash
    scoped = direct_tenant.api.get("/api/v1/balance/receipt/acct-1", period=current_period()).json()["data"]
    assert scoped["checkpointId"] == checkpoint["checkpointId"]


def test_public_verify_of_a_checkpoint_root(direct_tenant, anonymous):
    emit(direct_tenant, "acct-1", "-12.5")
    emit(direct_tenant, "acct-1", "2.5")
    seal(direct_tenant)
    checkpoint = direct_tenant.api.post(URL, {"customerId": "acct-1"}).json()["data"]
    data = anonymous.get(f"/api/v1/verify/{checkpoint['proofRoot']}", source="both").json()["data"]
    assert data["kind"] == "checkpoint" and data["verified"] is True
    assert data["summary"]["recordCount"] == 2 and data["summary"]["netChange"] == -10
    assert data["verification"]["verificationReference"] == checkpoint["verificationReference"]
    assert all(data["checks"].values())


def test_window_of_period(direct_tenant):
    start, end = period_window("2026-02")
    assert (start.isoformat(), end.isoformat()) == ("2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00")


def test_large_checkpoint_marks_its_rows_after_the_commit_in_chunks(direct_tenant, settings,
                                                                    django_capture_on_commit_callbacks):
    from records.services.checkpoints import checkpoint_mark_coverage

    settings.CHECKPOINT_INLINE_MARK_LIMIT = 2
    for amount in (-1, -2, -3, -4, -5):
        emit(direct_tenant, "acct-1", amount)
    seal(direct_tenant)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        data = direct_tenant.api.post(URL, {"customerId": "acct-1"}).json()["data"]
    checkpoint = Checkpoint.objects.get(pk=data["checkpointId"])
    assert (data["status"], data["recordCount"], checkpoint.coverage_marked) == ("VERIFIED", 5, False)
    assert not Delta.objects.filter(checkpoint__isnull=False).exists()  # nothing rewritten in the commit
    assert len(callbacks) == 1  # the marking task, enqueued after the commit
    assert checkpoint_mark_coverage(checkpoint_id=checkpoint.id, chunk=2) == 5
    assert set(Delta.objects.values_list("checkpoint_id", flat=True)) == {checkpoint.id}
    assert Checkpoint.objects.get(pk=checkpoint.id).coverage_marked is True
    assert checkpoint_mark_coverage(checkpoint_id=checkpoint.id) == 0  # idempotent
    assert direct_tenant.api.get(f"/api/v1/balance/delta/{Delta.objects.first().record_id}").json()["data"]["state"] == "verified"
