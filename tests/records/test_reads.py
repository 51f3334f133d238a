"""Balance reads: derive, compare, customers, gaps, usage, limits, verify (api.md §2.4–2.18)."""

from decimal import Decimal

import pytest

from records.models import Delta
from records.proofs import from_hex, merkle_root, to_hex
from records.scopes import current_period
from tests.records.helpers import emit, seal
from webhooks.models import Event


@pytest.fixture
def history(direct_tenant):
    """acct-1: three verified deltas and one still queued; acct-2: one verified."""
    ids = [emit(direct_tenant, "acct-1", d, referenceId=f"r{i}").json()["data"]["recordId"]
           for i, d in enumerate(("-12.5", "-7", "2.5"))]
    emit(direct_tenant, "acct-2", 4)
    seal(direct_tenant)
    emit(direct_tenant, "acct-1", -1, referenceId="pending")
    return ids


def test_derive_counts_verified_only(direct_tenant, history):
    data = direct_tenant.api.get("/api/v1/balance/derive/acct-1", startingBalance="100").json()["data"]
    deltas = [Delta.objects.get(record_id=i) for i in history]
    assert data["computedBalance"] == 83 and data["startingBalance"] == 100
    assert (data["deltasCount"], data["deltaCount"], data["pendingCount"]) == (3, 3, 1)
    assert data["latestRecordId"] == history[-1] and data["latestReceiptId"] == deltas[-1].proof_hash
    assert data["proofRoot"] == to_hex(merkle_root([from_hex(d.content_hash) for d in deltas]))
    assert [d["recordId"] for d in data["deltas"]] == history
    assert data["scope"]["kind"] == "period" and data["scope"]["period"] == current_period()


def test_derive_paging_and_breakdown(direct_tenant, history):
    data = direct_tenant.api.get("/api/v1/balance/derive/acct-1", limit=1, offset=1, granularity="month").json()["data"]
    assert [d["recordId"] for d in data["deltas"]] == [history[1]]
    assert data["breakdown"] == [{
        "bucketStart": data["scope"]["startDate"], "bucketEnd": data["scope"]["endDate"],
        "netChange": -17, "deltasCount": 3,
    }]


def test_derive_from_a_receipt_checkpoint(direct_tenant, history):
    first = Delta.objects.get(record_id=history[0])
    data = direct_tenant.api.get("/api/v1/balance/derive/acct-1", startingCheckpoint=first.proof_hash).json()["data"]
    assert [d["recordId"] for d in data["deltas"]] == history[1:]
    assert data["computedBalance"] == Decimal("-4.5")
    by_record = direct_tenant.api.get("/api/v1/balance/derive/acct-1", startingCheckpoint=history[1],
                                      startingCheckpointType="recordId").json()["data"]
    assert [d["recordId"] for d in by_record["deltas"]] == history[2:]
    missing = direct_tenant.api.get("/api/v1/balance/derive/acct-1", startingCheckpoint="0x" + "ab" * 32)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"period": "2026-01", "timePreset": "current_month"}, "INVALID_SCOPE_COMBINATION"),
        ({"startingCheckpoint": "0x" + "00" * 32, "period": "2026-01"}, "INVALID_SCOPE_COMBINATION"),
        ({"startDate": "2026-01-01"}, "INVALID_SCOPE_COMBINATION"),
        ({"timePreset": "custom"}, "INVALID_SCOPE_COMBINATION"),
        ({"startingCheckpointType": "recordId"}, "INVALID_SCOPE_COMBINATION"),
        ({"timePreset": "current_month", "startDate": "2026-01-01", "endDate": "2026-02-01"}, "INVALID_SCOPE_COMBINATION"),
        ({"period": "2026-13"}, "VALIDATION_ERROR"),
        ({"timePreset": "last_week"}, "VALIDATION_ERROR"),
        ({"startDate": "2026-02-01", "endDate": "2026-01-01"}, "VALIDATION_ERROR"),
        ({"startDate": "2099-01-01", "endDate": "2099-02-01"}, "VALIDATION_ERROR"),
        ({"startDate": "2023-01-01", "endDate": "2025-01-02"}, "SCOPE_TOO_WIDE"),
        ({"limit": "1001"}, "VALIDATION_ERROR"),
        ({"granularity": "hour"}, "VALIDATION_ERROR"),
        ({"startingBalance": "abc"}, "VALIDATION_ERROR"),
    ],
)
def test_derive_scope_errors(direct_tenant, history, query, code):
    response = direct_tenant.api.get("/api/v1/balance/derive/acct-1", **query)
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_derive_custom_window_exactly_24_months_is_allowed(direct_tenant, history):
    response = direct_tenant.api.get("/api/v1/balance/derive/acct-1", startDate="2024-12-01", endDate="2026-12-01")
    assert response.status_code == 200 and response.json()["data"]["deltasCount"] == 3


def test_derive_unknown_customer_is_404(direct_tenant, history):
    response = direct_tenant.api.get("/api/v1/balance/derive/nobody")
    assert response.status_code == 404 and response.json()["error"]["code"] == "CUSTOMER_NOT_FOUND"


def test_compare_uses_exact_decimals_and_fires_an_event(direct_tenant, history):
    response = direct_tenant.api.post("/api/v1/balance/compare", {
        "customerId": "acct-1", "yourBalance": "-17.00", "theirBalance": -16.99})
    data = response.json()["data"]
    assert (data["neutralBalance"], data["matchesYours"], data["matchesTheirs"]) == (-17, True, False)
    assert data["deltasCount"] == 3
    event = Event.objects.get(type="customer.compare_run").payload["data"]
    assert event["compareKind"] == "balance" and event["matchesYours"] is True and event["matchesTheirs"] is False
    assert event["externalCustomerId"] == "acct-1" and event["customerId"].startswith("cus_")


def test_compare_requires_balances(direct_tenant, history):
    response = direct_tenant.api.post("/api/v1/balance/compare", {"customerId": "acct-1", "yourBalance": 1})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"fields": {"theirBalance": ["is required"]}}


def test_customers_list_and_detail(direct_tenant, history):
    data = direct_tenant.api.get("/api/v1/balance/customers", limit=1, page=2).json()["data"]
    assert data["pagination"] == {"total": 2, "page": 2, "limit": 1, "totalPages": 2}
    assert [c["customerId"] for c in data["customers"]] == ["acct-2"]
    searched = direct_tenant.api.get("/api/v1/balance/customers", search="CT-1").json()["data"]
    assert [c["customerId"] for c in searched["customers"]] == ["acct-1"]
    assert searched["customers"][0]["totalDeltas"] == 4
    detail = direct_tenant.api.get("/api/v1/balance/customers/acct-1", deltaLimit=2).json()["data"]
    assert detail["computedBalance"] == -17 and detail["totalDeltas"] == 4
    assert detail["recentActivity"]["pagination"] == {"total": 4, "page": 1, "limit": 2, "totalPages": 2}
    assert [i["status"] for i in detail["recentActivity"]["items"]] == ["QUEUED", "VERIFIED"]
    assert detail["latestCheckpoint"] is None


def test_gaps_report_pending_and_an_intact_chain(direct_tenant, history):
    data = direct_tenant.api.get("/api/v1/balance/gaps/acct-1").json()["data"]
    pending = Delta.objects.get(reference_id="pending")
    assert (data["fromSequence"], data["toSequence"], data["lastSequence"]) == (1, 4, 4)
    assert data["gaps"] == [{"sequence": 4, "recordId": pending.record_id, "status": "QUEUED", "kind": "pending"}]
    last = Delta.objects.get(record_id=history[-1])
    assert data["chain"] == {"intact": True, "length": 3, "head": last.proof_hash, "checkedFrom": 1, "checkedTo": 4}


def test_gaps_detect_a_broken_link(direct_tenant, history):
    Delta.objects.filter(record_id=history[1]).update(proof_hash="0x" + "11" * 32)
    assert direct_tenant.api.get("/api/v1/balance/gaps/acct-1").json()["data"]["chain"]["intact"] is False


def test_usage_and_limits(direct_tenant, history):
    usage = direct_tenant.api.get("/api/v1/balance/usage").json()["data"]
    assert usage == {"environment": "sandbox", "period": current_period(), "acceptedDeltas": 5,
                     "verifiedDeltas": 4, "failedDeltas": 0, "pendingDeltas": 1, "allowed": True,
                     "remaining": None, "limit": None}
    limits = direct_tenant.api.get("/api/v1/balance/limits").json()["data"]
    assert limits["maxScopeMonths"] == 24 and limits["maxBatchSize"] == 1000 and limits["maxAbsDelta"] == 1000000000


def test_verify_a_receipt_publicly(direct_tenant, history, anonymous):
    delta = Delta.objects.get(record_id=history[0])
    data = anonymous.get(f"/api/v1/verify/{delta.proof_hash.upper().replace('0X', '0x')}", source="both").json()["data"]
    assert data["verified"] is True and data["kind"] == "receipt"
    assert data["checks"] == {"contentHashes": True, "chain": True, "proofRoot": True, "inclusion": True, "signature": True}
    assert data["records"] == [{"amount": -12.5, "reason": "daily_usage_flush:2026-04-01", "referenceId": "r0",
                                "status": "verified", "time": data["records"][0]["time"]}]
    assert data["identity"]["tenant"]["name"] == "Direct Vendor Inc"


def test_verify_errors(anonymous, db):
    assert anonymous.get("/api/v1/verify/0x1234").status_code == 400
    assert anonymous.get("/api/v1/verify/0x" + "00" * 32).status_code == 404
    assert anonymous.get("/api/v1/verify/0x" + "ab" * 32).status_code == 404


def test_verify_chain_check_catches_tampering(direct_tenant, history, anonymous):
    delta = Delta.objects.get(record_id=history[0])
    Delta.objects.filter(pk=delta.pk).update(reason="rewritten")
    data = anonymous.get(f"/api/v1/verify/{delta.proof_hash}", source="chain").json()["data"]
    assert data["verified"] is False and data["checks"]["contentHashes"] is False


def test_log_routes(direct_tenant, history, anonymous):
    head = direct_tenant.api.get("/api/v1/log/checkpoint").json()["data"]
    assert head["treeSize"] == 4 and head["note"].startswith(f"records.example.com/{direct_tenant.tenant.id}/sandbox\n4\n")
    inclusion = direct_tenant.api.get("/api/v1/log/proof/inclusion", leafIndex=2).json()["data"]
    assert inclusion["recordId"] == history[2] and inclusion["note"] == head["note"]
    assert direct_tenant.api.get("/api/v1/log/proof/inclusion", leafIndex=4).status_code == 400
    assert direct_tenant.api.get("/api/v1/log/proof/inclusion").status_code == 400
    consistency = direct_tenant.api.get("/api/v1/log/proof/consistency", first=4, second=4).json()["data"]
    assert consistency["proof"] == [] and consistency["firstRootHash"] == head["rootHash"]
    key = anonymous.get("/api/v1/log/key").json()["data"]
    assert key["publicKey"] == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" and "verifierKey" not in key
    own = direct_tenant.api.get("/api/v1/log/key").json()["data"]
    assert own["origin"] == f"records.example.com/{direct_tenant.tenant.id}/sandbox"
    assert own["verifierKey"].startswith(own["origin"] + "+" + own["keyId"] + "+")
    assert key["keys"][0]["publicKey"] == key["publicKey"]


def test_log_checkpoint_before_first_seal_is_404(direct_tenant):
    assert direct_tenant.api.get("/api/v1/log/checkpoint").status_code == 404


