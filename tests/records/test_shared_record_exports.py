"""Shared Record exports (api.md §5.2 → §4.10, §4.12): the same files and jobs as the middleware routes,
behind the step-up, as the visitor, with download URLs under the handle."""

from __future__ import annotations

import hashlib

import pytest

from records.models import AccessLogEntry, ExportJob
from records.services.exports import export_job_request, export_render, export_scope
from records.services.shared_records import viewer_hash
from tests.conftest import MIDDLEWARE_NAME_MARKER
from tests.records.shared_record_support import (
    CLIENT_IP,
    STAFF,
    assert_shared_headers,
    browser,
    data_of,
    error_of,
    roomy_public_rate_limit,  # noqa: F401 - autouse fixture
    scenario,  # noqa: F401 - fixture
    unlock,
)
from webhooks.models import Event


@pytest.fixture
def visitor(scenario):
    client = browser()
    unlock(client, scenario)
    return client


def test_exports_need_the_code(scenario):
    s = scenario
    error_of(browser().get(s.api(suffix="/export"), {"format": "csv"}), 403, "STEP_UP_REQUIRED")
    job, _ = export_job_request(record=s.records["main"], fmt="pdf", side=export_scope(
        record=s.records["main"], checkpoint_id=None, period=s.p1), actor=STAFF)
    error_of(browser().get(s.api(suffix=f"/exports/{job.id}")), 403, "STEP_UP_REQUIRED")
    error_of(browser().get(s.api(suffix=f"/exports/{job.id}/download")), 403, "STEP_UP_REQUIRED")


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_sync_export_is_the_file_logged_as_the_visitor(scenario, visitor, fmt):
    s = scenario
    checkpoint = s.checkpoints[s.p1]
    response = visitor.get(s.api(suffix="/export"), {"format": fmt, "checkpointId": checkpoint.id})
    assert response.status_code == 200
    assert_shared_headers(response)
    body = b"".join(response.streaming_content)
    assert response["X-Content-Sha256"] == hashlib.sha256(body).hexdigest()
    record = s.records["main"]
    assert response["Content-Disposition"] == f'attachment; filename="records-{record.id}-{s.p1}.{fmt}"'
    assert s.code().encode() not in body and MIDDLEWARE_NAME_MARKER.encode() not in body
    assert b"Acme Inference" in body or fmt == "csv"
    entry = AccessLogEntry.objects.get(customer_record=record, action="export")
    assert (entry.actor_type, entry.handle, entry.viewer_hash) == (
        "shared_record_visitor", s.handle(), viewer_hash(record.id, CLIENT_IP))
    event = Event.objects.get(type="customer.export_downloaded").payload["data"]
    assert event["actor"] == {"type": "shared_record_visitor", "viewerHash": viewer_hash(record.id, CLIENT_IP)[:16]}
    assert (event["format"], event["exportId"], event["scope"]) == (
        fmt, None, {"basis": "checkpoint", "period": s.p1, "checkpointId": checkpoint.id})


@pytest.mark.parametrize(("query", "status", "code"), [
    ({}, 400, "VALIDATION_ERROR"), ({"format": "xml"}, 400, "VALIDATION_ERROR"),
    ({"format": "csv", "period": "2026-01", "checkpointId": "chk_aaaaaaaaaaaaaaaaaaaa"}, 400,
     "INVALID_SCOPE_COMBINATION"),
    ({"format": "csv", "checkpointId": "chk_aaaaaaaaaaaaaaaaaaaa"}, 404, "NOT_FOUND"),
])
def test_export_refusals(scenario, visitor, query, status, code):
    error_of(visitor.get(scenario.api(suffix="/export"), query), status, code)
    assert not AccessLogEntry.objects.filter(action="export").exists()


def test_checkpoint_of_another_record_is_not_exported(scenario, visitor):
    s = scenario
    other_client = browser()
    unlock(other_client, s, "other")
    error_of(other_client.get(s.api("other", "/export"), {"format": "csv", "checkpointId": s.checkpoints[s.p1].id}),
             404, "NOT_FOUND")


def test_rendered_export_job_lives_under_the_handle(scenario, visitor):
    s = scenario
    first = visitor.get(s.api(suffix="/export"), {"format": "pdf", "period": s.p1})
    job = data_of(first, 202)
    assert (job["status"], job["format"], job["downloadUrl"], job["customerId"]) == (
        "QUEUED", "pdf", None, s.records["main"].id)
    assert ExportJob.objects.get(pk=job["exportId"]).requested_by == "shared_record_visitor"
    error_of(visitor.get(s.api(suffix=f"/exports/{job['exportId']}/download")), 409, "EXPORT_NOT_READY")
    export_render(export_id=job["exportId"])
    ready = data_of(visitor.get(s.api(suffix=f"/exports/{job['exportId']}")))
    assert ready["status"] == "READY"
    assert ready["downloadUrl"] == f"/api/v1/c/{s.handle()}/exports/{job['exportId']}/download"
    again = data_of(visitor.get(s.api(suffix="/export"), {"format": "pdf", "period": s.p1}), 200)
    assert again["exportId"] == job["exportId"]
    download = visitor.get(ready["downloadUrl"])
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert_shared_headers(download)
    event = Event.objects.get(type="customer.export_downloaded").payload["data"]
    assert (event["exportId"], event["actor"]["type"]) == (job["exportId"], "shared_record_visitor")


def test_expired_export_is_410(scenario, visitor):
    s = scenario
    job, _ = export_job_request(record=s.records["main"], fmt="bundle", side=export_scope(
        record=s.records["main"], checkpoint_id=s.checkpoints[s.p2].id, period=None), actor=STAFF)
    ExportJob.objects.filter(pk=job.pk).update(status="EXPIRED")
    error_of(visitor.get(s.api(suffix=f"/exports/{job.id}/download")), 410, "EXPORT_EXPIRED")


def test_jobs_of_other_records_are_not_found(scenario, visitor):
    s = scenario
    job, _ = export_job_request(record=s.records["other"], fmt="pdf", side=export_scope(
        record=s.records["other"], checkpoint_id=None, period=None), actor=STAFF)
    for suffix in (f"/exports/{job.id}", f"/exports/{job.id}/download", "/exports/exp_aaaaaaaaaaaaaaaaaaaa"):
        response = visitor.get(s.api(suffix=suffix))
        error_of(response, 404, "NOT_FOUND")
        assert response.content == b'{"success":false,"error":{"code":"NOT_FOUND","message":"Not found"}}'
