"""Exports (api.md §4.10, §4.12, §5.2; proofs.md §7; webhooks.md §3.6–3.7; operations.md §5).

`json` and `csv` answer synchronously; `pdf` and `bundle` are ExportJobs rendered on the `exports`
queue (QUEUED → RENDERING → READY | FAILED, later EXPIRED), reused while an identical request is live.

X-Content-Sha256 of a streamed json/csv export (decision): the file is rendered once, inside one read
snapshot, through a server-side cursor into a hashing spool (the first 4 MiB in memory, the rest in a
temporary file), and only then streamed. So the `X-Content-Sha256` and `Content-Length` headers and the
`customer.export_downloaded` event (written with the access-log entry, in the same transaction) all name
exactly the bytes sent; the rows are read once; Python memory stays flat for a million rows. The price:
the first byte leaves after the last row is rendered, and the temporary disk holds the file while it
streams. Rejected: two passes (double the database and CPU work, and a live period can change between
them, so the header could disagree with the body) and hashing while streaming (the header must precede
the body, so it could not be sent at all).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from functools import partial
from typing import Any, BinaryIO

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from pacspace.errors import DomainError, validation_error
from records.exports.files import (
    CONTENT_TYPES,
    ExportTooLarge,
    export_filename,
    file_delete,
    file_open,
    file_store,
)
from records.exports.metrics import export_observe
from records.exports.render import RenderError, job_file, records_file
from records.exports.rows import read_snapshot
from records.locks import write_serialization
from records.models import AccessLogEntry, Checkpoint, CustomerRecord, ExportJob
from records.scopes import current_period, period_window
from records.selectors.shared import last_positions
from records.services.period_compare import Side, side_from_checkpoint, side_from_period
from records.services.shared_records import Visitor, access_log_write, customer_event
from records.signing import log_signer
from webhooks.services import event_record

logger = logging.getLogger(__name__)

SYNC_FORMATS = (ExportJob.Format.JSON, ExportJob.Format.CSV)
JOB_FORMATS = (ExportJob.Format.PDF, ExportJob.Format.BUNDLE)
MAX_ATTEMPTS = 3
RETRY_BASE_SECONDS = 10
STALE_QUEUED = dt.timedelta(minutes=5)
STALE_RENDERING = dt.timedelta(minutes=10)
MIDDLEWARE_DOWNLOAD_PATH = "/api/v1/middleware/exports/{export_id}/download"
Status = ExportJob.Status
# Job error codes (ExportJob.error.code); messages are fixed texts, never exception details.
FAILURE_MESSAGES = {
    "EXPORT_TOO_LARGE": "The export is larger than this deployment's EXPORT_MAX_BYTES.",
    "LOG_NOT_SIGNED": "The transparency log has no signed head yet; request the export again shortly.",
    "RENDER_TIMEOUT": "Rendering took longer than the time limit.",
    "RENDER_ABANDONED": "Rendering stopped without finishing (worker lost) on every attempt.",
    "RENDER_FAILED": "The export could not be rendered.",
}


# --- Scope ----------------------------------------------------------------------------------------
def export_scope(*, record: CustomerRecord, checkpoint_id: str | None, period: str | None) -> Side:
    """At most one of checkpointId and period (api.md §4.12); neither means the current period, live."""
    if checkpoint_id is not None and period is not None:
        raise DomainError("INVALID_SCOPE_COMBINATION", "Send checkpointId or period, not both")
    if checkpoint_id is not None:
        return side_from_checkpoint(record, checkpoint_id)
    if period is not None:
        return side_from_period(record, period)
    current = current_period()
    start, end = period_window(current)
    return Side("live", current, None, start, end)


def _check_side(record: CustomerRecord, side: Side) -> None:
    # A side built for another record must not export that record's checkpoint under this one.
    if side.checkpoint is not None and side.checkpoint.customer_record_id != record.id:
        raise DomainError("NOT_FOUND", "No checkpoint with this id for this customer")


def scope_label(side: Side) -> str:
    """The file-name label of api.md §4.12: the period, the checkpoint id, or `live-YYYY-MM`."""
    if side.basis == "live":
        return f"live-{side.period}"
    return side.period or side.checkpoint.id


def _event_scope(side: Side) -> dict[str, Any]:
    checkpoint_id = side.checkpoint.id if side.checkpoint else None
    return {"basis": side.basis, "period": side.period, "checkpointId": checkpoint_id}


# --- Downloads (both kinds) -------------------------------------------------------------------------
def _log_download(
    *, record: CustomerRecord, fmt: str, export_id: str | None, scope: dict[str, Any], sha256: str,
    actor: dict[str, Any], handle: str, visitor: Visitor | None,
) -> None:
    """The access-log `export` entry and `customer.export_downloaded`, in the caller's transaction."""
    access_log_write(
        record=record, action=AccessLogEntry.Action.EXPORT, actor=actor, handle=handle,
        tier="detail" if visitor else "", surface="api" if visitor else "", visitor=visitor, event_sent=True,
        detail={"format": fmt, "exportId": export_id, "scope": scope, "sha256": sha256},
    )
    customer_event(record, "customer.export_downloaded", actor, format=fmt, exportId=export_id, scope=scope,
                   sha256=sha256)


def _file_headers(response: HttpResponseBase, *, filename: str, sha256: str, size: int) -> HttpResponseBase:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Sha256"] = sha256
    response["Content-Length"] = str(size)
    response["Cache-Control"] = "no-store"
    return response


def export_sync_response(
    *, record: CustomerRecord, fmt: str, side: Side, actor: dict[str, Any], handle: str = "",
    visitor: Visitor | None = None,
) -> StreamingHttpResponse:
    """records.json / records.csv (proofs.md §7.2–7.3), logged and announced with the sha256 it sends."""
    if fmt not in SYNC_FORMATS:
        raise validation_error({"format": ["must be json or csv for a synchronous export"]})
    _check_side(record, side)
    with read_snapshot():
        spool = records_file(record, side, fmt)
        sha256 = spool.sha256
        _log_download(record=record, fmt=fmt, export_id=None, scope=_event_scope(side), sha256=sha256,
                      actor=actor, handle=handle, visitor=visitor)
    export_observe(fmt=fmt, outcome="streamed")
    response = StreamingHttpResponse(spool.chunks(), content_type=CONTENT_TYPES[fmt])
    name = export_filename(fmt=fmt, customer_record_id=record.id, label=scope_label(side))
    return _file_headers(response, filename=name, sha256=sha256, size=spool.size)


def export_download(
    *, job: ExportJob, actor: dict[str, Any], handle: str = "", visitor: Visitor | None = None,
) -> HttpResponseBase:
    """A READY job's file (logged, `customer.export_downloaded`); 409 until READY, 410 once it is gone."""
    if job.status == Status.EXPIRED or (job.status == Status.READY and job.expires_at <= timezone.now()):
        raise DomainError("EXPORT_EXPIRED", "This export has expired; request it again")
    if job.status != Status.READY:
        raise DomainError("EXPORT_NOT_READY", "This export is not ready")
    body = _open_file(job)
    with transaction.atomic():
        _log_download(record=job.customer_record, fmt=job.format, export_id=job.id,
                      scope=_event_scope(_job_side(job)), sha256=job.sha256, actor=actor, handle=handle,
                      visitor=visitor)
    if isinstance(body, bytes):
        response = HttpResponse(body, content_type=CONTENT_TYPES[job.format])
    else:
        response = FileResponse(body, content_type=CONTENT_TYPES[job.format])
    return _file_headers(response, filename=job.filename, sha256=job.sha256, size=job.size_bytes)


def _open_file(job: ExportJob) -> bytes | BinaryIO:
    stored = file_open(job)
    try:
        if isinstance(stored, bytes):
            return stored
        if stored is not None:
            return open(stored, "rb")  # noqa: SIM115 - FileResponse closes it
    except FileNotFoundError:
        pass  # expired between the status check and the open
    raise DomainError("EXPORT_EXPIRED", "This export has expired; request it again")


# --- Jobs: request, representation, reference ----------------------------------------------------------
def _job_side(job: ExportJob) -> Side:
    return Side(job.basis, job.period or None, job.checkpoint, job.window_start, job.window_end)


def _snapshot(record: CustomerRecord, side: Side) -> str:
    """api.md §4.12: the checkpoint id, or for live scope the record's last intakeSequence and chainIndex."""
    if side.checkpoint is not None:
        return side.checkpoint.id
    intake, chain = last_positions(record)
    return f"live:{intake}:{chain}"


def _enqueue(export_id: str) -> None:
    from records.tasks import render_export

    render_export.delay(export_id)


def export_job_request(
    *, record: CustomerRecord, fmt: str, side: Side, actor: dict[str, Any],
) -> tuple[ExportJob, bool]:
    """Reuse the live job of the same (record, format, scope, snapshot), else queue one; never two alive."""
    if fmt not in JOB_FORMATS:
        raise validation_error({"format": ["must be pdf or bundle for a rendered export"]})
    _check_side(record, side)
    with write_serialization(), transaction.atomic():
        # The record's row lock orders identical concurrent requests, so the second one finds the first's
        # job; it also pins last_intake_sequence for the live snapshot.
        locked = CustomerRecord.objects.select_for_update().get(pk=record.pk)
        snapshot = _snapshot(locked, side)
        twins = ExportJob.objects.filter(
            customer_record=record, format=fmt, snapshot=snapshot, basis=side.basis, period=side.period or "",
            checkpoint=side.checkpoint, window_start=side.window_start, window_end=side.window_end,
        ).exclude(status__in=[Status.FAILED, Status.EXPIRED])
        existing = twins.order_by("-created_at").first()
        if existing is not None:
            return existing, False
        job = ExportJob.objects.create(
            tenant_id=record.tenant_id, environment=record.environment, customer_record=record, format=fmt,
            basis=side.basis, period=side.period or "", checkpoint=side.checkpoint,
            window_start=side.window_start, window_end=side.window_end, snapshot=snapshot,
            requested_by=actor["type"],
            filename=export_filename(fmt=fmt, customer_record_id=record.id, label=scope_label(side)),
        )
        transaction.on_commit(partial(_enqueue, job.id))
    return job, True


def _job_scope(job: ExportJob) -> dict[str, Any]:
    return {"basis": job.basis, "period": job.period or None, "checkpointId": job.checkpoint_id,
            "windowStart": job.window_start, "windowEnd": job.window_end}


def _job_error(job: ExportJob) -> dict[str, str] | None:
    if job.status != Status.FAILED:
        return None
    return {"code": job.error_code, "message": job.error_message}


def export_job_out(job: ExportJob, *, download_url: str | None) -> dict[str, Any]:
    """The ExportJob object (api.md §1.12); `downloadUrl` only while READY."""
    return {
        "exportId": job.id,
        "status": job.status,
        "format": job.format,
        "customerId": job.customer_record_id,
        "scope": _job_scope(job),
        "createdAt": job.created_at,
        "completedAt": job.completed_at,
        "filename": job.filename or None,
        "sha256": job.sha256 or None,
        "sizeBytes": job.size_bytes,
        "downloadUrl": download_url if job.status == Status.READY else None,
        "expiresAt": job.expires_at,
        "error": _job_error(job),
    }


def bundle_reference(
    *, record: CustomerRecord, checkpoint: Checkpoint, actor: dict[str, Any], download_url_for,
) -> dict[str, Any]:
    """The close package's signed bundle reference (proofs.md §7.5); the bundle job is got or created."""
    side = Side("checkpoint", checkpoint.period or None, checkpoint, checkpoint.window_start,
                checkpoint.window_end)
    job, _created = export_job_request(record=record, fmt=ExportJob.Format.BUNDLE, side=side, actor=actor)
    signer = log_signer()
    ready = job.status == Status.READY
    return {
        "exportId": job.id,
        "status": job.status,
        "sha256": job.sha256 if ready else None,
        "sizeBytes": job.size_bytes if ready else None,
        "downloadUrl": download_url_for(job) if ready else None,
        "signature": signer.sign_bundle_ref(job.id, job.sha256) if ready else None,
        "publicKey": signer.public_key_base64(),
    }


# --- Jobs: rendering -----------------------------------------------------------------------------------
def _progress(job: ExportJob, percent: int) -> None:
    _mine(job).update(progress=percent)


def _claim(export_id: str) -> ExportJob | None:
    """QUEUED → RENDERING by a conditional update: duplicate queue messages find nothing to claim."""
    claimed = ExportJob.objects.filter(pk=export_id, status=Status.QUEUED).update(
        status=Status.RENDERING, started_at=timezone.now(), attempts=F("attempts") + 1, progress=10,
    )
    if claimed != 1:
        return None
    return ExportJob.objects.select_related(
        "customer_record__tenant", "customer_record__vendor_account", "checkpoint").get(pk=export_id)


def _mine(job: ExportJob):
    # This render's attempt only: a stale-requeued job may be rendering again under a newer attempt.
    return ExportJob.objects.filter(pk=job.pk, status=Status.RENDERING, attempts=job.attempts)


def _job_failed(job: ExportJob, code: str) -> None:
    if _mine(job).update(status=Status.FAILED, error_code=code, error_message=FAILURE_MESSAGES[code],
                         completed_at=timezone.now()):
        export_observe(fmt=job.format, outcome="failed")


def _download_path(job: ExportJob) -> str | None:
    """webhooks.md §3.7: the middleware API's route; direct tenants have no such route."""
    if not job.customer_record.tenant.is_middleware:
        return None
    return MIDDLEWARE_DOWNLOAD_PATH.format(export_id=job.id)


def _ready_event(job: ExportJob) -> None:
    record = job.customer_record
    event_record(tenant_id=job.tenant_id, environment=job.environment, event_type="export.ready", data={
        "exportId": job.id, "customerId": record.id, "externalCustomerId": record.customer_id,
        "vendorAccountId": record.vendor_account_id, "format": job.format, "scope": _job_scope(job),
        "sha256": job.sha256, "sizeBytes": job.size_bytes, "expiresAt": job.expires_at,
        "downloadPath": _download_path(job),
        "requestedBy": {"type": job.requested_by},
    })


def _job_ready(job: ExportJob, data: bytes) -> None:
    """Store the file, then READY + `export.ready` in one transaction (only if this attempt still owns it)."""
    if len(data) > settings.EXPORT_MAX_BYTES:
        raise ExportTooLarge(f"{len(data)} bytes")
    content, file_path = file_store(export_id=job.id, fmt=job.format, data=data)
    now = timezone.now()
    job.sha256, job.size_bytes = hashlib.sha256(data).hexdigest(), len(data)
    job.completed_at, job.expires_at = now, now + dt.timedelta(hours=settings.EXPORT_TTL_HOURS)
    with transaction.atomic():
        owned = _mine(job).update(
            status=Status.READY, progress=100, sha256=job.sha256, size_bytes=job.size_bytes, content=content,
            file_path=file_path, completed_at=job.completed_at, expires_at=job.expires_at, error_code="",
            error_message="",
        )
        if owned:
            _ready_event(job)
    if owned:
        export_observe(fmt=job.format, outcome="ready", seconds=(now - job.started_at).total_seconds())
    else:
        file_delete(file_path)


def _retry_or_fail(job: ExportJob, exc: Exception) -> int | None:
    code = exc.code if isinstance(exc, RenderError) else (
        "RENDER_TIMEOUT" if isinstance(exc, SoftTimeLimitExceeded) else "RENDER_FAILED")
    if job.attempts >= MAX_ATTEMPTS:
        _job_failed(job, code)
        return None
    _mine(job).update(status=Status.QUEUED, error_message=FAILURE_MESSAGES[code])
    export_observe(fmt=job.format, outcome="retried")
    return RETRY_BASE_SECONDS * 2 ** (job.attempts - 1)


def export_render(*, export_id: str) -> int | None:
    """Render a QUEUED job to READY (or FAILED after 3 attempts); returns seconds until a retry, or None."""
    job = _claim(export_id)
    if job is None:
        return None
    try:
        _job_ready(job, job_file(job, _job_side(job), partial(_progress, job)))
    except ExportTooLarge:
        _job_failed(job, "EXPORT_TOO_LARGE")  # deterministic: another attempt would fail the same way
    except Exception as exc:
        logger.exception("export %s: attempt %s failed", job.id, job.attempts)
        return _retry_or_fail(job, exc)
    return None


# --- Jobs: maintenance ---------------------------------------------------------------------------------
def exports_expire(*, now: dt.datetime | None = None) -> int:
    """READY jobs past expiresAt lose their file and become EXPIRED; returns how many."""
    now = now or timezone.now()
    expired = 0
    due = ExportJob.objects.filter(status=Status.READY, expires_at__lte=now).values_list("pk", "file_path")
    for export_id, file_path in list(due):
        if ExportJob.objects.filter(pk=export_id, status=Status.READY).update(
                status=Status.EXPIRED, content=None, file_path=""):
            file_delete(file_path)  # after the row says EXPIRED, so no download is sent a missing file
            expired += 1
    return expired


def _stale_rendering_requeue(now: dt.datetime) -> list[str]:
    requeued = []
    stuck = ExportJob.objects.filter(status=Status.RENDERING, started_at__lt=now - STALE_RENDERING)
    for export_id, attempts in stuck.values_list("pk", "attempts"):
        mine = ExportJob.objects.filter(pk=export_id, status=Status.RENDERING, attempts=attempts)
        if attempts >= MAX_ATTEMPTS:
            mine.update(status=Status.FAILED, error_code="RENDER_ABANDONED",
                        error_message=FAILURE_MESSAGES["RENDER_ABANDONED"], completed_at=now)
        elif mine.update(status=Status.QUEUED, error_message=FAILURE_MESSAGES["RENDER_ABANDONED"]):
            requeued.append(export_id)
    return requeued


def exports_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Re-enqueue jobs QUEUED > 5 min or RENDERING > 10 min (a lost worker): none stays RENDERING forever."""
    now = now or timezone.now()
    queued_before = now - STALE_QUEUED
    waiting = ExportJob.objects.filter(status=Status.QUEUED).filter(
        Q(started_at__lt=queued_before) | Q(started_at__isnull=True, created_at__lt=queued_before))
    export_ids = [*waiting.values_list("pk", flat=True), *_stale_rendering_requeue(now)]
    for export_id in export_ids:
        _enqueue(export_id)
    return len(export_ids)


def export_rerender(*, job: ExportJob) -> bool:
    """Staff action: a FAILED job goes back to QUEUED with fresh attempts; other states are left alone."""
    with transaction.atomic():
        requeued = ExportJob.objects.filter(pk=job.pk, status=Status.FAILED).update(
            status=Status.QUEUED, attempts=0, progress=0, error_code="", error_message="", started_at=None,
            completed_at=None)
        if requeued:
            transaction.on_commit(partial(_enqueue, job.pk))
    return bool(requeued)
