"""The Finance Close Package of one customer and one closed period (api.md §4.7)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from records.models import ExportJob, SharedRecord
from records.services.shared_records import access_code
from records.signing import log_signer
from tests.middleware_api.conftest import (
    OTHER_VIEWER,
    data_of,
    error_of,
    fail_step_up,
    identity_of,
    make_ready,
    period_json,
    ts,
    visit,
)


def _package(scenario, key: str, period: str | None):
    return scenario.api.get(scenario.path(key, "close-package"), **({"period": period} if period else {}))


def test_close_package(scenario):
    a1, checkpoint = scenario.records["a1"], scenario.checkpoints[("a1", scenario.p1)]
    shared = SharedRecord.objects.get(customer_record=a1)
    url, code = f"https://records.example.com/c/{shared.handle}", access_code(shared)
    data = data_of(_package(scenario, "a1", scenario.p1))
    bundle = data.pop("bundle")
    assert data == {
        "customerId": a1.id,
        "externalCustomerId": "acct-1",
        "vendorAccountId": scenario.vendor_a.id,
        "period": scenario.p1,
        "identity": identity_of(scenario.vendor_a),
        "generatedAt": data["generatedAt"],
        "totals": {"recordCount": 3, "credits": Decimal("2.5"), "debits": Decimal("-15"),
                   "netChange": Decimal("-12.5")},
        "checkpoint": period_json(checkpoint),
        "manifest": [
            {"recordId": d.record_id, "recordedAt": ts(d.created_at), "amount": Decimal(d.delta_text),
             "reason": d.reason, "referenceId": d.reference_id, "contentHash": d.content_hash,
             "proofHash": d.proof_hash, "leafIndex": d.leaf_index, "chainIndex": d.chain_index}
            for d in (scenario.deltas[n] for n in ("a1_p1_1", "a1_p1_2", "a1_p1_credit"))
        ],
        "sharedRecord": {"url": url, "host": "records.example.com", "handle": shared.handle, "status": "active",
                         "policy": "TWO_TIER"},
        "accessCode": {"code": code, "copyText": f"Usage record for this invoice: {url} (access code: {code})"},
        "accessLog": {"views": 0, "uniqueViewers": 0, "exports": 0, "compares": 0, "failedStepUps": 0,
                      "lockouts": 0, "linkReissues": 0, "linkRevocations": 0, "codeRotations": 0,
                      "firstViewedAt": None, "lastViewedAt": None},
    }
    job = ExportJob.objects.get(pk=bundle["exportId"])
    assert (job.format, job.checkpoint_id, job.customer_record_id, job.environment, job.requested_by) == (
        "bundle", checkpoint.id, a1.id, "sandbox", "tenant_api")
    # Rendering starts on commit; until the job is READY there is nothing to hash or sign.
    assert bundle == {"exportId": job.id, "status": "QUEUED", "sha256": None, "sizeBytes": None,
                      "downloadUrl": None, "signature": None, "publicKey": log_signer().public_key_base64()}


def test_close_package_bundle_reference_once_ready(scenario):
    first = data_of(_package(scenario, "a1", scenario.p1))["bundle"]
    job = make_ready(ExportJob.objects.get(pk=first["exportId"]), b"PK bundle bytes")
    bundle = data_of(_package(scenario, "a1", scenario.p1))["bundle"]
    assert bundle == {
        "exportId": job.id, "status": "READY", "sha256": job.sha256, "sizeBytes": 15,
        "downloadUrl": f"/api/v1/middleware/exports/{job.id}/download",
        "signature": log_signer().sign_bundle_ref(job.id, job.sha256),
        "publicKey": log_signer().public_key_base64(),
    }


def test_close_package_reuses_its_bundle(scenario):
    first = data_of(_package(scenario, "a1", scenario.p1))["bundle"]["exportId"]
    second = data_of(_package(scenario, "a1", scenario.p1))["bundle"]["exportId"]
    assert first == second
    assert ExportJob.objects.filter(customer_record=scenario.records["a1"], format="bundle").count() == 1


def test_close_package_access_log_summary(scenario):
    a1 = scenario.records["a1"]
    visit(a1, times=2)
    visit(a1, viewer_hash=OTHER_VIEWER)
    fail_step_up(a1, times=6)  # the fifth starts a lockout; the sixth is refused and not counted
    data_of(scenario.api.post(scenario.path("a1", "access-link/rotate-code")))
    data_of(scenario.api.post(scenario.path("a1", "access-link/revoke")))
    data_of(scenario.api.post(scenario.path("a1", "access-link/reissue")))
    data = data_of(_package(scenario, "a1", scenario.p2))
    views = a1.access_log.filter(action="view").order_by("created_at")
    assert data["accessLog"] == {
        "views": 3, "uniqueViewers": 2, "exports": 0, "compares": 0, "failedStepUps": 5, "lockouts": 1,
        "linkReissues": 1, "linkRevocations": 1, "codeRotations": 1,
        "firstViewedAt": ts(views.first().created_at), "lastViewedAt": ts(views.last().created_at),
    }


def test_close_package_under_open_policy_and_revoked_link(scenario):
    data_of(scenario.api.patch(scenario.path("a2", "access-link"), {"policy": "OPEN"}))
    data = data_of(_package(scenario, "a2", scenario.p2))
    url = data["sharedRecord"]["url"]
    assert data["accessCode"] == {"code": None, "copyText": f"Usage record for this invoice: {url}"}
    data_of(scenario.api.post(scenario.path("a2", "access-link/revoke")))
    data = data_of(_package(scenario, "a2", scenario.p2))
    assert data["accessCode"] == {"code": None, "copyText": None}
    assert (data["sharedRecord"]["url"], data["sharedRecord"]["handle"], data["sharedRecord"]["status"]) == (
        None, None, "revoked")


def test_period_not_closed_carries_the_blockers(scenario, unchanged):
    pending = scenario.deltas["b1_p2_pending"].record_id
    with unchanged():
        error = error_of(_package(scenario, "b1", scenario.p2), 409, "PERIOD_NOT_CLOSED")
    assert error["message"] == f"No verified checkpoint for {scenario.p2}"
    assert error["details"] == {"blockers": [
        {"code": "RECORDS_PENDING", "message": f"1 record(s) of {scenario.p2} are not verified yet", "count": 1,
         "remediation": {"action": "wait", "method": "GET", "path": f"/api/v1/balance/delta/{pending}",
                         "body": None}},
        {"code": "NO_CHECKPOINT", "message": f"No checkpoint has been committed for {scenario.p2}",
         "remediation": {"action": "commit_checkpoint", "method": "POST", "path": "/api/v1/balance/checkpoint",
                         "body": {"vendorAccountId": scenario.vendor_b.id, "customerId": "acct-1",
                                  "period": scenario.p2}}},
    ]}


def test_queued_checkpoint_is_not_closed(scenario):
    scenario.close(scenario.vendor_b, scenario.p2)
    error = error_of(_package(scenario, "b1", scenario.p2), 409, "PERIOD_NOT_CLOSED")
    assert [b["code"] for b in error["details"]["blockers"]] == ["RECORDS_PENDING", "CHECKPOINT_PENDING"]


def test_a_month_without_activity_is_not_closed(scenario):
    error = error_of(_package(scenario, "a1", "2020-01"), 409, "PERIOD_NOT_CLOSED")
    assert [b["code"] for b in error["details"]["blockers"]] == ["NO_CHECKPOINT"]


@pytest.mark.parametrize("period", [None, "2026-13", "26-01", "2026-1"])
def test_missing_or_malformed_period_is_400(scenario, period, unchanged):
    with unchanged():
        error = error_of(_package(scenario, "a1", period), 400, "VALIDATION_ERROR")
    assert list(error["details"]["fields"]) == ["period"]
