"""Exports (api.md §4.10, §4.12; proofs.md §7; webhooks.md §3.6–3.7; operations.md §5).

The seeded history is the spec's d1–d3 (proofs.md §8.2) plus a row whose text needs CSV quoting and
the formula guard, interleaved with another customer's leaves; April is closed by a checkpoint, May
is live with a sealed, a failed and a still-recording delta. Expected files are built here from the
database rows, independently of the exporters.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from records import tlog
from records.bundle import dumps_document
from records.exports import statement as statement_module
from records.models import (
    AccessLogEntry,
    Checkpoint,
    CustomerRecord,
    Delta,
    DeltaStatus,
    Environment,
    ExportJob,
    VendorAccount,
)
from records.proofs import format_timestamp
from records.scopes import Scope, current_period, period_window
from records.services import exports
from records.services.checkpoints import checkpoints_commit
from records.services.deltas import deltas_accept
from records.services.period_compare import Side
from records.services.shared_records import Visitor, access_code
from records.validation import parse_delta_item
from tests.conftest import MIDDLEWARE_NAME_MARKER
from tests.records.bundle_fixtures import CSV_HEADER as fixture_csv_header
from tests.records.bundle_fixtures import _guard as guard
from tests.records.helpers import seal
from webhooks.models import Event

SANDBOX = Environment.SANDBOX
TENANT_ACTOR = {"type": "tenant_api", "apiKeyId": "key_aaaaaaaaaaaaaaaaaaaa"}
STAFF = {"type": "staff"}
CSV_HEADER = ("recordId,recordedAt,amount,state,reason,referenceId,adjustsRecordId,adjustsReferenceId,"
              "metadata,contentHash,proofHash,previousProofHash,chainIndex,leafIndex,verificationReference,checkpointId")
# proofs.md §8.2: the contentHashes of d1, d2, d3.
SPEC_CONTENT_HASHES = [
    "0x64db74c7b75196b5e6b5d8b0bfaa50b2bab775179bc3ff8ccaa0dea8d9b22de3",
    "0xfb1052c48bc67d1963d116d9abef99234ac75a55621f5939aaa417717b717d80",
    "0x22fc0969e609e25346d01875f887b7433d19fe1d04eb9725414f80cf9e1e686a",
]
CHECKS = ["manifest", "content-hashes", "chain", "proof-root", "inclusion", "log-key", "signature"]
SPEC_VENDOR_ID = "cmw_k2m4q6s3u2w4y6a3c5e7"
TRICKY_REASON = '=HYPERLINK("x"), "quoted",\nsecond line'


# --------------------------------------------------------------------------- seeding


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def accept(tenant, vendor, moment: str, **raw: Any) -> Delta:
    outcome, = deltas_accept(tenant=tenant, environment=SANDBOX, vendor=vendor, items=[parse_delta_item(raw)],
                             actor=STAFF, created_at=at(moment))
    return outcome.delta


def close_period(tenant, vendor, customer_id: str, period: str) -> Checkpoint:
    start, end = period_window(period)
    result, = checkpoints_commit(tenant=tenant, environment=SANDBOX, vendor=vendor, customer_id=customer_id,
                                 scope=Scope(kind="period", start=start, end=end, period=period))
    checkpoint = Checkpoint.objects.get(pk=result.checkpoint.pk)
    assert checkpoint.status == Checkpoint.Status.VERIFIED
    return checkpoint


@pytest.fixture
def history(middleware_tenant, vendor_b) -> dict[str, Any]:
    tenant = middleware_tenant.tenant
    # The vendor account id of proofs.md §8.2, so d1–d3 hash to the spec's contentHashes.
    vendor_a = VendorAccount.objects.create(id=SPEC_VENDOR_ID, tenant=tenant, display_name="Acme Inference")
    other = "acct-5000"  # vendor_b's customer: its leaves sit between ours
    accept(tenant, vendor_b, "2026-04-01T10:00:00.000Z", customerId=other, delta="-1", reason="daily")
    accept(tenant, vendor_a, "2026-04-01T23:59:58.120Z", customerId="acct-9001", delta=Decimal("-12.50"),
           reason="daily_usage_flush:2026-04-01", referenceId="usage:acct-9001:2026-04-01",
           metadata={"tokens": Decimal("1.25E6"), "note": "café", "tags": ["gpu", True, None]})
    accept(tenant, vendor_b, "2026-04-02T10:00:00.000Z", customerId=other, delta="-2", reason="daily")
    accept(tenant, vendor_a, "2026-04-02T23:59:59.004Z", customerId="acct-9001", delta=-7,
           reason="daily_usage_flush:2026-04-02", referenceId="usage:acct-9001:2026-04-02")
    accept(tenant, vendor_a, "2026-04-03T08:15:00.000Z", customerId="acct-9001", delta="2.5",
           reason="credit: duplicate flush", adjusts={"referenceId": "usage:acct-9001:2026-04-01"})
    accept(tenant, vendor_a, "2026-04-04T12:00:00.000Z", customerId="acct-9001", delta="-3.25",
           reason=TRICKY_REASON, referenceId="-starts-with-minus")
    seal(middleware_tenant)
    april = close_period(tenant, vendor_a, "acct-9001", "2026-04")
    accept(tenant, vendor_a, "2026-05-01T09:00:00.000Z", customerId="acct-9001", delta="-4",
           reason="daily_usage_flush:2026-05-01")
    accept(tenant, vendor_b, "2026-05-01T10:00:00.000Z", customerId=other, delta="-3", reason="daily")
    failed = accept(tenant, vendor_a, "2026-05-01T11:00:00.000Z", customerId="acct-9001", delta="-100",
                    reason="broken")
    Delta.objects.filter(pk=failed.pk).update(status=DeltaStatus.FAILED, error_code="INTEGRITY_ERROR",
                                              failed_at=timezone.now())
    accept(tenant, vendor_a, "2026-05-02T09:00:00.000Z", customerId="acct-9001", delta="1.5",
           reason="credit: goodwill")
    seal(middleware_tenant)
    accept(tenant, vendor_a, "2026-05-03T09:00:00.000Z", customerId="acct-9001", delta="-0.0025",
           reason="late usage")
    record = CustomerRecord.objects.get(vendor_account=vendor_a, customer_id="acct-9001")
    return {"persona": middleware_tenant, "record": record, "april": april}


@pytest.fixture
def record(history) -> CustomerRecord:
    return CustomerRecord.objects.select_related("tenant", "vendor_account").get(pk=history["record"].pk)


@pytest.fixture
def april(history) -> Checkpoint:
    return history["april"]


@pytest.fixture
def april_side(record, april) -> Side:
    return exports.export_scope(record=record, checkpoint_id=april.id, period=None)


@pytest.fixture
def may_side(record) -> Side:
    return exports.export_scope(record=record, checkpoint_id=None, period="2026-05")


# --------------------------------------------------------------------------- independent expectations


def state_of(delta: Delta) -> str:
    if delta.status != DeltaStatus.VERIFIED:
        return "recording"
    return "verified" if delta.checkpoint_id else "recorded"


def expected_deltas(record: CustomerRecord, side: Side) -> list[Delta]:
    rows = [d for d in Delta.objects.filter(customer_record=record) if d.status != DeltaStatus.FAILED
            and side.window_start <= d.created_at < side.window_end]
    if side.checkpoint is not None:
        cutoff = side.checkpoint.cutoff_sequence
        rows = [d for d in rows if d.status == DeltaStatus.VERIFIED and d.intake_sequence <= cutoff]
    sealed = sorted((d for d in rows if d.chain_index is not None), key=lambda d: d.chain_index)
    return sealed + sorted((d for d in rows if d.chain_index is None), key=lambda d: d.intake_sequence)


def expected_entry(d: Delta) -> dict[str, Any]:
    recorded_at = format_timestamp(d.created_at)
    return {
        "recordId": d.record_id, "state": state_of(d), "amount": Decimal(d.delta_text),
        "recordedAt": recorded_at, "reason": d.reason, "referenceId": d.reference_id,
        "canonical": {
            "adjusts": json.loads(d.adjusts_json) if d.adjusts_json else None, "createdAt": recorded_at,
            "customerId": d.customer_id, "delta": d.delta_text,
            "metadata": json.loads(d.metadata_json, parse_float=Decimal), "reason": d.reason,
            "referenceId": d.reference_id, "vendorAccountId": d.vendor_account_id,
        },
        "contentHash": d.content_hash, "proofHash": d.proof_hash, "previousProofHash": d.previous_proof_hash,
        "chainIndex": d.chain_index, "leafIndex": d.leaf_index,
        "verificationReference": d.verification_reference, "checkpointId": d.checkpoint_id,
    }


def expected_records_json(record: CustomerRecord, side: Side, generated_at: str) -> bytes:
    deltas = expected_deltas(record, side)
    amounts = [Decimal(d.delta_text) for d in deltas]
    credits = sum((a for a in amounts if a > 0), Decimal(0))
    debits = sum((a for a in amounts if a < 0), Decimal(0))
    checkpoint = side.checkpoint
    vendor = record.vendor_account
    return dumps_document({
        "schema": "pacspace-records/v1",
        "profile": "pacspace-item-v1",
        "generatedAt": generated_at,
        "environment": "sandbox",
        "identity": {"tenant": {"name": vendor.display_name}, "recordedBy": {
            "type": "middleware_vendor_account", "id": vendor.id, "displayName": vendor.display_name}},
        "customer": {"customerId": record.id, "externalCustomerId": record.customer_id,
                     "vendorAccountId": vendor.id},
        "scope": {"basis": side.basis, "period": side.period,
                  "checkpointId": checkpoint.id if checkpoint else None,
                  "windowStart": format_timestamp(side.window_start),
                  "windowEnd": format_timestamp(side.window_end)},
        "checkpoint": None if checkpoint is None else {
            "checkpointId": checkpoint.id, "proofRoot": checkpoint.proof_root,
            "recordCount": checkpoint.record_count,
            "verificationReference": checkpoint.verification_reference, "treeSize": checkpoint.tree_size,
            "verifiedAt": format_timestamp(checkpoint.verified_at)},
        "totals": {"recordCount": len(deltas), "credits": credits, "debits": debits,
                   "netChange": credits + debits},
        "records": [expected_entry(d) for d in deltas],
    })


def expected_records_csv(record: CustomerRecord, side: Side) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(fixture_csv_header)
    for d in expected_deltas(record, side):
        adjusts = json.loads(d.adjusts_json) if d.adjusts_json else {}
        writer.writerow([
            d.record_id, format_timestamp(d.created_at), d.delta_text, state_of(d), guard(d.reason),
            guard(d.reference_id), guard(adjusts.get("recordId")), guard(adjusts.get("referenceId")),
            guard(d.metadata_json), d.content_hash, d.proof_hash or "", d.previous_proof_hash or "",
            "" if d.chain_index is None else d.chain_index, "" if d.leaf_index is None else d.leaf_index,
            d.verification_reference or "", d.checkpoint_id or "",
        ])
    return out.getvalue().encode("utf-8")


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def events(kind: str) -> list[dict[str, Any]]:
    return [e.payload["data"] for e in Event.objects.filter(type=kind).order_by("created_at")]


def pdf_text(data: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "statement.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,  # noqa: S603,S607
                          check=True, timeout=60).stdout


def pdf_info(data: bytes, tmp_path: Path) -> dict[str, str]:
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo (poppler-utils) is not installed")
    path = tmp_path / "info.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,  # noqa: S603,S607
                         check=True, timeout=60).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line) | {}


def render_job(record, fmt: str, side: Side, capture, actor=TENANT_ACTOR) -> ExportJob:
    with capture(execute=True):
        job, created = exports.export_job_request(record=record, fmt=fmt, side=side, actor=actor)
    assert created
    return ExportJob.objects.get(pk=job.pk)


def job_bytes(job: ExportJob) -> bytes:
    response = exports.export_download(job=job, actor=TENANT_ACTOR)
    return response.content if hasattr(response, "content") else b"".join(response.streaming_content)


def unzip(data: bytes, directory: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(directory)
    return directory


def run_verify(directory: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    proc = subprocess.run([sys.executable, str(directory / "verify.py")], capture_output=True, text=True,  # noqa: S603
                          timeout=120, env=env, cwd=directory)
    return proc.returncode, proc.stdout.splitlines()


# --------------------------------------------------------------------------- scope


def test_scope_rules(record, april, april_side, may_side) -> None:
    with pytest.raises(Exception) as both:
        exports.export_scope(record=record, checkpoint_id=april.id, period="2026-04")
    assert both.value.code == "INVALID_SCOPE_COMBINATION"
    by_period = exports.export_scope(record=record, checkpoint_id=None, period="2026-04")
    assert (by_period.basis, by_period.checkpoint.id) == ("checkpoint", april.id)
    assert (april_side.basis, april_side.period, april_side.checkpoint.id) == (
        "checkpoint", "2026-04", april.id)
    assert (may_side.basis, may_side.period, may_side.checkpoint) == ("live", "2026-05", None)
    default = exports.export_scope(record=record, checkpoint_id=None, period=None)
    assert (default.basis, default.period, default.checkpoint) == ("live", current_period(), None)
    assert [exports.scope_label(s) for s in (april_side, may_side)] == ["2026-04", "live-2026-05"]


# --------------------------------------------------------------------------- json / csv


def test_json_export_is_the_records_document_byte_for_byte(record, april_side) -> None:
    response = exports.export_sync_response(record=record, fmt="json", side=april_side, actor=TENANT_ACTOR)
    body = streamed(response)
    generated_at = json.loads(body)["generatedAt"]
    assert body == expected_records_json(record, april_side, generated_at)
    doc = json.loads(body, parse_float=Decimal)
    assert [r["contentHash"] for r in doc["records"][:3]] == SPEC_CONTENT_HASHES
    assert doc["totals"] == {"recordCount": 4, "credits": Decimal("2.5"), "debits": Decimal("-22.75"),
                             "netChange": Decimal("-20.25")}
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="records-{record.id}-2026-04.json"'
    assert response["X-Content-Sha256"] == hashlib.sha256(body).hexdigest()
    assert int(response["Content-Length"]) == len(body)


def test_sync_export_logs_and_fires_export_downloaded_with_the_sent_sha(record, april_side, may_side) -> None:
    visitor = Visitor(viewer_hash="ab" * 16)
    response = exports.export_sync_response(record=record, fmt="csv", side=may_side, actor=visitor.actor(),
                                            handle="cus_handlehandlehandleha", visitor=visitor)
    body = streamed(response)
    entry = AccessLogEntry.objects.get(customer_record=record, action=AccessLogEntry.Action.EXPORT)
    assert (entry.actor_type, entry.viewer_hash, entry.tier, entry.surface) == (
        "shared_record_visitor", "ab" * 16, "detail", "api")
    event, = events("customer.export_downloaded")
    assert event["format"] == "csv" and event["exportId"] is None
    assert event["scope"] == {"basis": "live", "period": "2026-05", "checkpointId": None}
    assert event["sha256"] == hashlib.sha256(body).hexdigest() == response["X-Content-Sha256"]
    assert event["actor"] == {"type": "shared_record_visitor", "viewerHash": "ab" * 8}
    assert event["customerId"] == record.id and event["externalCustomerId"] == "acct-9001"


def test_csv_export_is_the_records_table(record, april_side, may_side) -> None:
    for side in (april_side, may_side):
        body = streamed(exports.export_sync_response(record=record, fmt="csv", side=side, actor=TENANT_ACTOR))
        assert body == expected_records_csv(record, side)
        assert body.startswith(CSV_HEADER.encode() + b"\r\n") and not body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(streamed(exports.export_sync_response(
        record=record, fmt="csv", side=april_side, actor=TENANT_ACTOR)).decode())))
    tricky = next(r for r in rows if "HYPERLINK" in r[4])
    assert tricky[4] == "'" + TRICKY_REASON  # formula guard; quoting keeps the comma, quotes and newline
    assert tricky[5] == "'-starts-with-minus"
    assert tricky[2] == "-3.25"  # amounts are never guarded
    credit = next(r for r in rows if r[4] == "credit: duplicate flush")
    assert (credit[6], credit[7]) == ("", "usage:acct-9001:2026-04-01")
    first = rows[1]
    assert first[8] == '{"note":"café","tags":["gpu",true,null],"tokens":1250000}'


def test_live_json_includes_unsealed_records_after_the_chain_and_never_failed_ones(record, may_side) -> None:
    response = exports.export_sync_response(record=record, fmt="json", side=may_side, actor=TENANT_ACTOR)
    body = streamed(response)
    assert body == expected_records_json(record, may_side, json.loads(body)["generatedAt"])
    doc = json.loads(body, parse_float=Decimal)
    assert [(r["reason"], r["state"]) for r in doc["records"]] == [
        ("daily_usage_flush:2026-05-01", "recorded"), ("credit: goodwill", "recorded"),
        ("late usage", "recording")]
    assert doc["checkpoint"] is None and doc["scope"]["basis"] == "live"
    assert doc["records"][-1]["proofHash"] is None and doc["records"][-1]["leafIndex"] is None
    assert doc["totals"]["recordCount"] == 3 and doc["totals"]["netChange"] == Decimal("-2.5025")


@pytest.mark.parametrize("metadata", [
    {},
    {"model": "large-v2", "inputTokens": 1200, "ratio": Decimal("0.125")},
    {"a,b": "x:y", "quote\"d": "back\\slash", "nl": "line\nbreak", "uni": "café ✓", "t": True, "n": None},
    {"nested": {"deep": [1, {"k": "v"}, []]}, "z": Decimal("-1E+3")},
])
def test_record_layout_matches_the_generic_writer(metadata) -> None:
    """The per-row writer against dumps_document, for flat (fast path) and nested metadata."""
    from collections import namedtuple

    from records.exports.documents import record_text
    from records.exports.rows import ROW_FIELDS
    from records.proofs import canonical_json

    row = namedtuple("Row", ROW_FIELDS)(
        record_id="rec_aaaaaaaaaaaaaaaaaaaa", created_at=at("2026-04-01T23:59:58.120Z"), delta_text="-12.5",
        reason='r "q", \\ é', reference_id=None, metadata_json=canonical_json(metadata).decode(),
        adjusts_json='{"recordId":"rec_bbbbbbbbbbbbbbbbbbbb"}', status="VERIFIED", checkpoint_id=None,
        content_hash="0x" + "ab" * 32, proof_hash="0x" + "cd" * 32, previous_proof_hash="0x" + "00" * 32,
        chain_index=0, leaf_index=7, verification_reference="8:0x" + "ef" * 32, customer_id="acct-1",
        vendor_account_id=None)
    recorded_at = "2026-04-01T23:59:58.120Z"
    entry = {
        "recordId": row.record_id, "state": "recorded", "amount": Decimal("-12.5"), "recordedAt": recorded_at,
        "reason": row.reason, "referenceId": None,
        "canonical": {"adjusts": {"recordId": "rec_bbbbbbbbbbbbbbbbbbbb"}, "createdAt": recorded_at,
                      "customerId": "acct-1", "delta": "-12.5",
                      "metadata": json.loads(row.metadata_json, parse_float=Decimal), "reason": row.reason,
                      "referenceId": None, "vendorAccountId": None},
        "contentHash": row.content_hash, "proofHash": row.proof_hash,
        "previousProofHash": row.previous_proof_hash, "chainIndex": 0, "leafIndex": 7,
        "verificationReference": row.verification_reference, "checkpointId": None,
    }
    expected = dumps_document({"records": [entry]}).decode()
    assert expected == '{\n  "records": [\n    ' + record_text(row) + "\n  ]\n}\n"


def test_empty_scope_writes_an_empty_records_list(record) -> None:
    side = exports.export_scope(record=record, checkpoint_id=None, period="2026-01")
    body = streamed(exports.export_sync_response(record=record, fmt="json", side=side, actor=TENANT_ACTOR))
    assert body == expected_records_json(record, side, json.loads(body)["generatedAt"])
    assert body.endswith(b'"records": []\n}\n')


def test_other_records_side_is_refused_and_changes_nothing(record, april_side, other_tenant) -> None:
    foreign = accept(other_tenant.tenant, other_tenant.vendors["x"], "2026-04-05T00:00:00.000Z",
                     customerId="acct-9001", delta="-1", reason="x").customer_record
    for call in (
        lambda: exports.export_job_request(record=foreign, fmt="bundle", side=april_side, actor=TENANT_ACTOR),
        lambda: exports.export_sync_response(record=foreign, fmt="json", side=april_side, actor=TENANT_ACTOR),
    ):
        with pytest.raises(Exception) as refused:
            call()
        assert refused.value.code == "NOT_FOUND"
    assert not ExportJob.objects.exists()
    assert not AccessLogEntry.objects.filter(action=AccessLogEntry.Action.EXPORT).exists()
    assert not events("customer.export_downloaded")


def test_format_is_checked(record, april_side) -> None:
    with pytest.raises(Exception) as sync:
        exports.export_sync_response(record=record, fmt="pdf", side=april_side, actor=TENANT_ACTOR)
    with pytest.raises(Exception) as job:
        exports.export_job_request(record=record, fmt="csv", side=april_side, actor=TENANT_ACTOR)
    assert sync.value.code == job.value.code == "VALIDATION_ERROR"


# --------------------------------------------------------------------------- pdf


def test_pdf_statement_shows_identity_totals_proof_and_link(record, april, april_side, tmp_path,
                                                           django_capture_on_commit_callbacks) -> None:
    job = render_job(record, "pdf", april_side, django_capture_on_commit_callbacks)
    assert (job.status, job.progress, job.filename) == ("READY", 100, f"statement-{record.id}-2026-04.pdf")
    data = job_bytes(job)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data, tmp_path)
    flat = " ".join(text.split())
    for expected in ("Acme Inference", "acct-9001", record.id, "April 2026", "Closed period", april.id,
                     "-20.25", "-22.75", "2.5", "Page 1 of 1",
                     "Written by Acme Inference. Visible to both. Owned by neither.", f"https://records.example.com/c/{record.shared_record.handle}"):
        assert expected in flat, expected
    unbroken = "".join(text.split())  # long hashes wrap inside their table cell
    for expected in (april.proof_root, april.verification_reference,
                     f"https://records.example.com/verify/{april.proof_root}"):
        assert expected in unbroken, expected
    assert MIDDLEWARE_NAME_MARKER not in text
    assert access_code(record.shared_record) not in text
    info = pdf_info(data, tmp_path)
    assert info["Author"].strip() == "Acme Inference"
    assert info["Title"].strip() == "Acme Inference — usage statement, April 2026"


def test_pdf_of_a_larger_period_says_what_it_leaves_out(record, may_side, tmp_path, monkeypatch,
                                                        django_capture_on_commit_callbacks) -> None:
    monkeypatch.setattr("records.exports.render.PDF_ROW_CAP", 2)
    job = render_job(record, "pdf", may_side, django_capture_on_commit_callbacks)
    flat = " ".join(pdf_text(job_bytes(job), tmp_path).split())
    assert "lists the first 2 of 3 records" in flat
    assert "Open period (live)" in flat and "late usage" not in flat


def test_pdf_fetches_nothing_but_data_urls() -> None:
    fetcher = statement_module.data_urls_only()
    for url in ("file:///etc/passwd", "http://169.254.169.254/latest", "https://example.com/x.png"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"


def test_statement_escapes_record_text(record, april_side, tmp_path, monkeypatch,
                                       django_capture_on_commit_callbacks) -> None:
    Delta.objects.filter(customer_record=record, reason="credit: duplicate flush").update(
        reason='<img src="file:///etc/passwd"><b>bold</b>')
    job = render_job(record, "pdf", april_side, django_capture_on_commit_callbacks)
    text = pdf_text(job_bytes(job), tmp_path)
    # Printed as text (the cell wraps after "etc/"), not interpreted as markup.
    assert '<img src="file:///etc/' in text and 'passwd"><b>bold</b>' in text


# --------------------------------------------------------------------------- bundle


def test_bundle_verifies_offline_and_a_changed_amount_fails_naming_the_record(
        record, april, april_side, tmp_path, django_capture_on_commit_callbacks) -> None:
    job = render_job(record, "bundle", april_side, django_capture_on_commit_callbacks)
    data = job_bytes(job)
    assert job.filename == f"bundle-{record.id}-2026-04.zip"
    assert job.sha256 == hashlib.sha256(data).hexdigest()
    bundle = unzip(data, tmp_path / "bundle")
    code, lines = run_verify(bundle)
    assert (code, lines) == (0, [f"PASS {c}" for c in CHECKS] + ["RESULT: PASS"])
    proofs = json.loads((bundle / "proofs.json").read_bytes())
    assert proofs["checkpoint"] == {"checkpointId": april.id, "proofRoot": april.proof_root, "recordCount": 4}
    assert (bundle / "records.csv").read_bytes() == expected_records_csv(record, april_side)
    generated = json.loads((bundle / "records.json").read_bytes())["generatedAt"]
    assert (bundle / "records.json").read_bytes() == expected_records_json(record, april_side, generated)

    # Flip one byte of one amount: -7 becomes -8 (the manifest still lists the old hash).
    d2 = Delta.objects.get(customer_record=record, reference_id="usage:acct-9001:2026-04-02")
    text = (bundle / "records.json").read_text(encoding="utf-8")
    old = f'"recordId": "{d2.record_id}",\n      "state": "verified",\n      "amount": -7,'
    assert text.count(old) == 1
    tampered = text.replace(old, old.replace("-7,", "-8,")).encode("utf-8")
    (bundle / "records.json").write_bytes(tampered)
    code, lines = run_verify(bundle)
    assert code == 1
    assert lines[0] == "FAIL manifest: records.json does not match its SHA-256/size in manifest.json"
    # An editor who also fixes the manifest is caught by the hashes, which name the record.
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    for entry in manifest["files"]:
        if entry["path"] == "records.json":
            entry.update(sha256=hashlib.sha256(tampered).hexdigest(), size=len(tampered))
    (bundle / "manifest.json").write_bytes(dumps_document(manifest))
    code, lines = run_verify(bundle)
    assert code == 1
    assert lines[1] == f"FAIL content-hashes: {d2.record_id}: amount -8 differs from the hashed delta -7"
    assert lines[-1] == "RESULT: FAIL"


def test_bundle_verifies_without_cryptography(record, april_side, tmp_path,
                                              django_capture_on_commit_callbacks) -> None:
    job = render_job(record, "bundle", april_side, django_capture_on_commit_callbacks)
    bundle = unzip(job_bytes(job), tmp_path / "bundle")
    fake = tmp_path / "no-cryptography" / "cryptography"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('cryptography is not installed')\n")
    code, lines = run_verify(bundle, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(fake.parent)})
    assert code == 0
    assert lines[-2:] == [
        "SKIP signature: the 'cryptography' package is not installed (pip install cryptography)",
        "RESULT: PASS"]


def test_live_bundle_verifies_with_recording_rows(record, may_side, tmp_path,
                                                  django_capture_on_commit_callbacks) -> None:
    job = render_job(record, "bundle", may_side, django_capture_on_commit_callbacks)
    bundle = unzip(job_bytes(job), tmp_path / "live")
    code, lines = run_verify(bundle)
    assert code == 0, lines
    assert lines[3].startswith("SKIP proof-root")
    proofs = json.loads((bundle / "proofs.json").read_bytes())
    assert proofs["checkpoint"] is None and len(proofs["records"]) == 2  # the recording row has no proof yet
    head_note = (bundle / "checkpoint.txt").read_text()
    assert head_note.splitlines()[1] == str(proofs["log"]["treeSize"])


def test_bundle_entries_and_log_key(record, april_side, tmp_path, django_capture_on_commit_callbacks) -> None:
    job = render_job(record, "bundle", april_side, django_capture_on_commit_callbacks)
    with zipfile.ZipFile(io.BytesIO(job_bytes(job))) as archive:
        names = archive.namelist()
        key = archive.read("log-key.pub").decode()
        note = archive.read("checkpoint.txt").decode()
    assert names == ["manifest.json", "records.json", "records.csv", "statement.pdf", "proofs.json",
                     "checkpoint.txt", "log-key.pub", "VERIFY.md", "verify.py"]
    origin = f"records.example.com/{record.tenant_id}/sandbox"
    assert key.startswith(origin + "+") and key.endswith("\n")
    assert tlog.open_note(note, key.strip())[0] == origin


def test_middleware_name_never_appears_in_any_export(record, april_side, may_side, tmp_path,
                                                     django_capture_on_commit_callbacks) -> None:
    assert MIDDLEWARE_NAME_MARKER in record.tenant.name
    outputs: dict[str, bytes] = {}
    for side in (april_side, may_side):
        for fmt in ("json", "csv"):
            response = exports.export_sync_response(record=record, fmt=fmt, side=side, actor=TENANT_ACTOR)
            outputs[response["Content-Disposition"]] = streamed(response)
        for fmt in ("pdf", "bundle"):
            job = render_job(record, fmt, side, django_capture_on_commit_callbacks)
            outputs[job.filename] = job_bytes(job)
    for name, data in list(outputs.items()):
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                outputs.update({f"{name}/{n}": archive.read(n) for n in archive.namelist()})
    for name, data in outputs.items():
        assert MIDDLEWARE_NAME_MARKER not in name
        is_pdf = data.startswith(b"%PDF")
        text = pdf_text(data, tmp_path) if is_pdf else data.decode("utf-8", errors="replace")
        assert MIDDLEWARE_NAME_MARKER not in text, name
        assert MIDDLEWARE_NAME_MARKER.encode() not in data, name
    for payload in events("export.ready") + events("customer.export_downloaded"):
        assert MIDDLEWARE_NAME_MARKER not in json.dumps(payload)


# --------------------------------------------------------------------------- jobs


def test_identical_requests_reuse_one_job(record, april_side, may_side, history) -> None:
    first, created = exports.export_job_request(record=record, fmt="pdf", side=april_side, actor=TENANT_ACTOR)
    again, created_again = exports.export_job_request(record=record, fmt="pdf", side=april_side, actor=STAFF)
    assert (created, created_again, again.pk) == (True, False, first.pk)
    bundle, bundle_created = exports.export_job_request(record=record, fmt="bundle", side=april_side,
                                                        actor=STAFF)
    live, live_created = exports.export_job_request(record=record, fmt="pdf", side=may_side, actor=STAFF)
    assert bundle_created and live_created and len({first.pk, bundle.pk, live.pk}) == 3
    assert live.snapshot == f"live:{record.last_intake_sequence}:{record.chain_length - 1}"
    assert first.snapshot == april_side.checkpoint.id
    assert (first.status, first.requested_by) == ("QUEUED", "tenant_api")
    # A new delta moves the live snapshot; a FAILED job is never reused.
    accept(record.tenant, record.vendor_account, "2026-05-04T00:00:00.000Z", customerId="acct-9001",
           delta="-1", reason="more")
    newer, newer_created = exports.export_job_request(record=record, fmt="pdf", side=may_side, actor=STAFF)
    assert newer_created and newer.pk != live.pk
    ExportJob.objects.filter(pk=first.pk).update(status="FAILED")
    retried, retried_created = exports.export_job_request(record=record, fmt="pdf", side=april_side,
                                                          actor=STAFF)
    assert retried_created and retried.pk != first.pk


def exports_counted(fmt: str, outcome: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("exports_total", {"format": fmt, "outcome": outcome}) or 0.0


def test_ready_job_fires_export_ready(record, april_side, django_capture_on_commit_callbacks) -> None:
    before = exports_counted("bundle", "ready")
    job = render_job(record, "bundle", april_side, django_capture_on_commit_callbacks)
    assert exports_counted("bundle", "ready") == before + 1
    assert job.status == "READY" and job.attempts == 1 and job.content is not None
    assert job.expires_at == job.completed_at + dt.timedelta(hours=168)
    ready, = events("export.ready")
    assert ready == {
        "exportId": job.id, "customerId": record.id, "externalCustomerId": "acct-9001",
        "vendorAccountId": record.vendor_account_id, "format": "bundle",
        "scope": {"basis": "checkpoint", "period": "2026-04", "checkpointId": april_side.checkpoint.id,
                  "windowStart": "2026-04-01T00:00:00.000Z", "windowEnd": "2026-05-01T00:00:00.000Z"},
        "sha256": job.sha256, "sizeBytes": job.size_bytes, "expiresAt": format_timestamp(job.expires_at),
        "downloadPath": f"/api/v1/middleware/exports/{job.id}/download",
        "requestedBy": {"type": "tenant_api"},
    }
    out = exports.export_job_out(job, download_url="/x/download")
    assert out["downloadUrl"] == "/x/download" and out["error"] is None and out["sha256"] == job.sha256
    assert list(out) == ["exportId", "status", "format", "customerId", "scope", "createdAt", "completedAt",
                         "filename", "sha256", "sizeBytes", "downloadUrl", "expiresAt", "error"]


def test_direct_tenant_export_ready_has_no_download_path(direct_tenant,
                                                         django_capture_on_commit_callbacks) -> None:
    accept(direct_tenant.tenant, None, "2026-04-02T00:00:00.000Z", customerId="cust-1", delta="-5",
           reason="usage")
    seal(direct_tenant)
    checkpoint = close_period(direct_tenant.tenant, None, "cust-1", "2026-04")
    record = checkpoint.customer_record
    side = exports.export_scope(record=record, checkpoint_id=checkpoint.id, period=None)
    job = render_job(record, "pdf", side, django_capture_on_commit_callbacks)
    ready, = events("export.ready")
    assert ready["downloadPath"] is None and ready["vendorAccountId"] is None and job.status == "READY"


def test_download_logs_and_answers_by_state(record, april_side, django_capture_on_commit_callbacks) -> None:
    queued, _ = exports.export_job_request(record=record, fmt="pdf", side=april_side, actor=TENANT_ACTOR)
    with pytest.raises(Exception) as not_ready:
        exports.export_download(job=queued, actor=TENANT_ACTOR)
    assert (not_ready.value.code, not_ready.value.status) == ("EXPORT_NOT_READY", 409)
    assert exports.export_job_out(queued, download_url="/d")["downloadUrl"] is None
    job = render_job(record, "bundle", april_side, django_capture_on_commit_callbacks)
    response = exports.export_download(job=job, actor=TENANT_ACTOR)
    assert response["X-Content-Sha256"] == job.sha256 == hashlib.sha256(response.content).hexdigest()
    assert response["Content-Disposition"] == f'attachment; filename="{job.filename}"'
    assert response["Content-Type"] == "application/zip"
    downloaded, = events("customer.export_downloaded")
    assert downloaded == {**downloaded, "format": "bundle", "exportId": job.id, "sha256": job.sha256,
                          "scope": {"basis": "checkpoint", "period": "2026-04",
                                    "checkpointId": job.checkpoint_id},
                          "actor": TENANT_ACTOR}
    assert AccessLogEntry.objects.filter(action="export", actor_type="tenant_api").count() == 1
    ExportJob.objects.filter(pk=job.pk).update(status="FAILED")
    job.refresh_from_db()
    with pytest.raises(Exception) as failed:
        exports.export_download(job=job, actor=TENANT_ACTOR)
    assert failed.value.code == "EXPORT_NOT_READY"


def test_expiry_deletes_the_file_and_answers_410(record, april_side, settings, tmp_path,
                                                 django_capture_on_commit_callbacks) -> None:
    settings.EXPORT_STORAGE, settings.EXPORT_STORAGE_DIR = "filesystem", str(tmp_path / "exports")
    job = render_job(record, "pdf", april_side, django_capture_on_commit_callbacks)
    stored = tmp_path / "exports" / job.file_path
    assert job.content is None and stored.read_bytes()[:5] == b"%PDF-"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == job.sha256
    assert job_bytes(job) == stored.read_bytes()
    assert exports.exports_expire(now=job.expires_at - dt.timedelta(seconds=1)) == 0
    assert exports.exports_expire(now=job.expires_at) == 1
    job.refresh_from_db()
    assert (job.status, job.file_path, job.content) == ("EXPIRED", "", None) and not stored.exists()
    with pytest.raises(Exception) as gone:
        exports.export_download(job=job, actor=TENANT_ACTOR)
    assert (gone.value.code, gone.value.status) == ("EXPORT_EXPIRED", 410)
    # Expired jobs are not reused: the same request renders again.
    _again, created = exports.export_job_request(record=record, fmt="pdf", side=april_side, actor=STAFF)
    assert created


def test_database_storage_expiry_drops_the_bytes(record, april_side,
                                                 django_capture_on_commit_callbacks) -> None:
    job = render_job(record, "pdf", april_side, django_capture_on_commit_callbacks)
    assert bytes(job.content)[:5] == b"%PDF-" and job.file_path == ""
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    job.refresh_from_db()
    with pytest.raises(Exception) as past:  # past expiresAt before the beat ran: already 410
        exports.export_download(job=job, actor=TENANT_ACTOR)
    assert past.value.code == "EXPORT_EXPIRED"
    assert exports.exports_expire() == 1
    job.refresh_from_db()
    assert (job.status, job.content) == ("EXPIRED", None)


def test_stale_jobs_are_requeued_and_never_stay_rendering(record, april_side, may_side, monkeypatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(exports, "_enqueue", sent.append)
    now = timezone.now()
    waiting, _ = exports.export_job_request(record=record, fmt="pdf", side=april_side, actor=STAFF)
    fresh, _ = exports.export_job_request(record=record, fmt="bundle", side=april_side, actor=STAFF)
    stuck, _ = exports.export_job_request(record=record, fmt="pdf", side=may_side, actor=STAFF)
    dead, _ = exports.export_job_request(record=record, fmt="bundle", side=may_side, actor=STAFF)
    ExportJob.objects.filter(pk=waiting.pk).update(created_at=now - dt.timedelta(minutes=6))
    long_ago = now - dt.timedelta(minutes=11)
    ExportJob.objects.filter(pk=stuck.pk).update(status="RENDERING", attempts=1, started_at=long_ago)
    ExportJob.objects.filter(pk=dead.pk).update(status="RENDERING", attempts=3, started_at=long_ago)
    sent.clear()
    assert exports.exports_requeue_stale(now=now) == 2
    assert sorted(sent) == sorted([waiting.pk, stuck.pk])
    states = dict(ExportJob.objects.values_list("pk", "status"))
    assert states == {waiting.pk: "QUEUED", fresh.pk: "QUEUED", stuck.pk: "QUEUED", dead.pk: "FAILED"}
    assert ExportJob.objects.get(pk=dead.pk).error_code == "RENDER_ABANDONED"
    # A requeued attempt renders normally; the stale claim's late finish would be ignored.
    monkeypatch.undo()
    assert exports.export_render(export_id=stuck.pk) is None
    assert ExportJob.objects.get(pk=stuck.pk).status == "READY"


def test_render_failure_retries_then_fails_with_a_code(record, april_side, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError(f"internal detail {MIDDLEWARE_NAME_MARKER}")

    monkeypatch.setattr("records.exports.render.statement_pdf", broken)
    job, _ = exports.export_job_request(record=record, fmt="pdf", side=april_side, actor=STAFF)
    retried, failed = exports_counted("pdf", "retried"), exports_counted("pdf", "failed")
    assert exports.export_render(export_id=job.pk) == 10
    assert ExportJob.objects.get(pk=job.pk).status == "QUEUED"
    assert exports.export_render(export_id=job.pk) == 20
    assert exports.export_render(export_id=job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code) == ("FAILED", 3, "RENDER_FAILED")
    assert (exports_counted("pdf", "retried"), exports_counted("pdf", "failed")) == (retried + 2, failed + 1)
    out = exports.export_job_out(job, download_url="/d")
    assert out["error"] == {"code": "RENDER_FAILED", "message": "The export could not be rendered."}
    assert MIDDLEWARE_NAME_MARKER not in json.dumps(out, default=str)
    assert exports.export_render(export_id=job.pk) is None  # a duplicate message finds nothing to claim
    assert not events("export.ready")


def test_render_task_retries_eagerly_and_ends_failed(record, april_side, monkeypatch) -> None:
    from records.tasks import render_export

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr("records.exports.render.statement_pdf", broken)
    job, _ = exports.export_job_request(record=record, fmt="pdf", side=april_side, actor=STAFF)
    render_export.delay(job.pk)  # eager, as in the embedded default: no Retry may escape into the request
    job.refresh_from_db()
    assert (len(calls), job.status, job.error_code) == (3, "FAILED", "RENDER_FAILED")


def test_export_over_max_bytes_fails_without_retry(record, april_side, settings,
                                                   django_capture_on_commit_callbacks) -> None:
    settings.EXPORT_MAX_BYTES = 2000
    job = render_job(record, "bundle", april_side, django_capture_on_commit_callbacks)
    assert (job.status, job.attempts, job.error_code) == ("FAILED", 1, "EXPORT_TOO_LARGE")
    assert job.content is None and job.sha256 == ""


def test_admin_rerenders_failed_jobs_only(record, april_side, admin_client, monkeypatch,
                                         django_capture_on_commit_callbacks) -> None:
    sent: list[str] = []
    monkeypatch.setattr(exports, "_enqueue", sent.append)
    failed, _ = exports.export_job_request(record=record, fmt="pdf", side=april_side, actor=STAFF)
    queued, _ = exports.export_job_request(record=record, fmt="bundle", side=april_side, actor=STAFF)
    ExportJob.objects.filter(pk=failed.pk).update(status="FAILED", attempts=3, error_code="RENDER_FAILED")
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/records/exportjob/", {
            "action": "rerender", "_selected_action": [failed.pk, queued.pk]}, follow=True)
    assert response.status_code == 200
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.error_code) == ("QUEUED", 0, "")
    assert sent == [failed.pk]
    assert admin_client.get(f"/admin/records/exportjob/{failed.pk}/change/").status_code == 200
    assert admin_client.post("/admin/records/exportjob/add/", {}).status_code == 403


def test_bundle_reference_is_signed_once_ready(record, april, django_capture_on_commit_callbacks,
                                               monkeypatch) -> None:
    def url_for(job):
        return f"/api/v1/middleware/exports/{job.id}/download"

    monkeypatch.setattr(exports, "_enqueue", lambda export_id: None)
    pending = exports.bundle_reference(record=record, checkpoint=april, actor=TENANT_ACTOR,
                                       download_url_for=url_for)
    assert (pending["status"], pending["sha256"], pending["signature"], pending["downloadUrl"]) == (
        "QUEUED", None, None, None)
    monkeypatch.undo()
    assert exports.export_render(export_id=pending["exportId"]) is None
    ready = exports.bundle_reference(record=record, checkpoint=april, actor=TENANT_ACTOR,
                                     download_url_for=url_for)
    job = ExportJob.objects.get(pk=pending["exportId"])
    assert ready["exportId"] == job.id and ready["status"] == "READY" and ready["sha256"] == job.sha256
    assert ready["sizeBytes"] == job.size_bytes and ready["downloadUrl"] == url_for(job)
    public_key = base64.b64decode(ready["publicKey"])
    assert tlog.verify_bundle_ref(public_key, job.id, job.sha256, ready["signature"])
    assert ExportJob.objects.count() == 1  # the close package reused the job
