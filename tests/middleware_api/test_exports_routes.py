"""Export routes of the middleware API (api.md §4.10, §4.12), over records.services.exports."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from records.models import AccessLogEntry, ExportJob
from tests.middleware_api.conftest import BASE, content_of, data_of, error_of, identity_of, make_ready, ts
from webhooks.models import Event


def _export(scenario, key: str = "a1", **query):
    return scenario.api.get(scenario.path(key, "export"), **query)


def _downloads(scenario, key: str = "a1") -> list[tuple]:
    return list(AccessLogEntry.objects.filter(customer_record=scenario.records[key], action="export")
                .values_list("actor_type", flat=True))


def test_json_export_of_a_closed_period(scenario):
    a1, checkpoint = scenario.records["a1"], scenario.checkpoints[("a1", scenario.p1)]
    response = _export(scenario, format="json", period=scenario.p1)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="records-{a1.id}-{scenario.p1}.json"'
    content = content_of(response)
    assert response["X-Content-Sha256"] == hashlib.sha256(content).hexdigest()
    document = json.loads(content, parse_float=Decimal)
    assert {k: document[k] for k in ("schema", "environment", "identity", "customer", "scope", "totals")} == {
        "schema": "pacspace-records/v1",
        "environment": "sandbox",
        "identity": identity_of(scenario.vendor_a),
        "customer": {"customerId": a1.id, "externalCustomerId": "acct-1", "vendorAccountId": scenario.vendor_a.id},
        "scope": {"basis": "checkpoint", "period": scenario.p1, "checkpointId": checkpoint.id,
                  "windowStart": ts(checkpoint.window_start), "windowEnd": ts(checkpoint.window_end)},
        "totals": {"recordCount": 3, "credits": Decimal("2.5"), "debits": -15, "netChange": Decimal("-12.5")},
    }
    assert [(r["recordId"], r["amount"], r["state"]) for r in document["records"]] == [
        (scenario.deltas["a1_p1_1"].record_id, -10, "verified"),
        (scenario.deltas["a1_p1_2"].record_id, -5, "verified"),
        (scenario.deltas["a1_p1_credit"].record_id, Decimal("2.5"), "verified"),
    ]
    assert _downloads(scenario) == ["tenant_api"]
    event = Event.objects.get(tenant=scenario.tenant, type="customer.export_downloaded").payload["data"]
    assert (event["format"], event["exportId"], event["scope"]) == (
        "json", None, {"basis": "checkpoint", "period": scenario.p1, "checkpointId": checkpoint.id})
    assert event["actor"] == {"type": "tenant_api", "apiKeyId": scenario.tenant.api_keys.get().id}


def test_csv_export_by_checkpoint_id(scenario):
    a1, checkpoint = scenario.records["a1"], scenario.checkpoints[("a1", scenario.p2)]
    response = _export(scenario, format="csv", checkpointId=checkpoint.id)
    assert response.status_code == 200
    # A checkpoint of a whole month is labelled by its period.
    assert response["Content-Disposition"] == f'attachment; filename="records-{a1.id}-{scenario.p2}.csv"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    content = content_of(response)
    assert response["X-Content-Sha256"] == hashlib.sha256(content).hexdigest()
    header, *rows = content.decode().strip().splitlines()
    assert header.startswith("recordId,recordedAt,amount,state,reason,referenceId,")
    # The checkpoint covers P2's two records; the late one is outside it.
    assert [row.split(",")[:4] for row in rows] == [
        [scenario.deltas[n].record_id, ts(scenario.deltas[n].created_at), amount, "verified"]
        for n, amount in (("a1_p2_1", "-20"), ("a1_p2_2", "-7.5"))]


def test_live_export_by_default(scenario):
    a1 = scenario.records["a1"]
    response = _export(scenario, format="csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="records-{a1.id}-live-{scenario.current}.csv"'
    rows = content_of(response).decode().strip().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == [scenario.deltas["a1_current"].record_id]


def test_pdf_export_is_a_job_and_is_reused(scenario):
    first = data_of(_export(scenario, format="pdf", period=scenario.p1), status=202)
    job = ExportJob.objects.get(pk=first["exportId"])
    assert (job.format, job.customer_record_id, job.checkpoint_id) == (
        "pdf", scenario.records["a1"].id, scenario.checkpoints[("a1", scenario.p1)].id)
    assert (first["status"], first["format"], first["customerId"], first["downloadUrl"]) == (
        job.status, "pdf", scenario.records["a1"].id, None)
    assert first["scope"]["basis"] == "checkpoint"
    second = data_of(_export(scenario, format="pdf", period=scenario.p1), status=202)
    assert second["exportId"] == first["exportId"]
    make_ready(job)
    ready = data_of(_export(scenario, format="pdf", period=scenario.p1), status=200)
    assert (ready["exportId"], ready["status"], ready["downloadUrl"]) == (
        job.id, "READY", f"{BASE}/exports/{job.id}/download")


def test_bundle_export_is_a_job(scenario):
    data = data_of(_export(scenario, format="bundle", period=scenario.p2), status=202)
    assert ExportJob.objects.get(pk=data["exportId"]).format == "bundle"


def test_export_status_and_download(scenario):
    job = ExportJob.objects.get(pk=data_of(_export(scenario, format="pdf", period=scenario.p1), 202)["exportId"])
    status = data_of(scenario.api.get(f"{BASE}/exports/{job.id}"))
    assert (status["exportId"], status["downloadUrl"]) == (job.id, None)
    error_of(scenario.api.get(f"{BASE}/exports/{job.id}/download"), 409, "EXPORT_NOT_READY")
    make_ready(job, b"%PDF-1.7 ready")
    assert data_of(scenario.api.get(f"{BASE}/exports/{job.id}"))["downloadUrl"] == f"{BASE}/exports/{job.id}/download"
    response = scenario.api.get(f"{BASE}/exports/{job.id}/download")
    content = content_of(response)
    assert (response.status_code, content) == (200, b"%PDF-1.7 ready")
    assert response["X-Content-Sha256"] == hashlib.sha256(b"%PDF-1.7 ready").hexdigest()
    assert _downloads(scenario) == ["tenant_api"]
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.EXPIRED, content=None)
    error_of(scenario.api.get(f"{BASE}/exports/{job.id}/download"), 410, "EXPORT_EXPIRED")


@pytest.mark.parametrize("query", [{}, {"format": "xml"}, {"format": "JSON"}])
def test_unknown_or_missing_format_is_400(scenario, query, unchanged):
    with unchanged():
        error = error_of(_export(scenario, **query), 400, "VALIDATION_ERROR")
    assert list(error["details"]["fields"]) == ["format"]


def test_period_and_checkpoint_together_are_invalid(scenario, unchanged):
    checkpoint = scenario.checkpoints[("a1", scenario.p1)].id
    with unchanged():
        error_of(_export(scenario, format="json", period=scenario.p1, checkpointId=checkpoint), 400,
                 "INVALID_SCOPE_COMBINATION")


def test_checkpoint_of_another_record_is_404(scenario, unchanged):
    other = scenario.checkpoints[("a2", scenario.p1)].id
    with unchanged():
        error_of(_export(scenario, format="pdf", checkpointId=other), 404, "NOT_FOUND")


def test_unknown_export_is_404(scenario):
    error_of(scenario.api.get(f"{BASE}/exports/exp_{'2' * 20}"), 404, "NOT_FOUND")
    error_of(scenario.api.get(f"{BASE}/exports/exp_{'2' * 20}/download"), 404, "NOT_FOUND")
