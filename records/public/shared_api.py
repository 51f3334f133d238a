"""Shared Record JSON (api.md §5.2): the customer's side of one record, addressed by its handle.

Every view resolves the handle before anything else (one indexed lookup, the same 404 for unknown,
malformed, superseded and revoked handles), then the step-up state from the `psr_{handle}` cookie.
Detail routes refuse a visitor without a valid cookie unless the policy is OPEN.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from pacspace import jsonout
from pacspace.api import PublicAPIView, page_params, query_int, query_str, require_object
from pacspace.errors import not_found, validation_error
from records.models import ExportJob
from records.public import serializers as out
from records.public.access import (
    SharedAccess,
    set_step_up_cookie,
    shared_access,
    summary_out,
    with_shared_headers,
)
from records.scopes import current_period
from records.selectors.balance import identity
from records.selectors.shared import activity, period_detail, period_of_record, period_out, verified_periods
from records.services.period_compare import periods_compare
from records.services.shared_records import step_up_verify

HANDLE = OpenApiParameter("handle", str, OpenApiParameter.PATH, description="Shared Record handle `cus_…` "
                          "(case-insensitive)")
CHECKPOINT_ID = OpenApiParameter("checkpointId", str, OpenApiParameter.PATH, description="`chk_…`")
EXPORT_ID = OpenApiParameter("exportId", str, OpenApiParameter.PATH, description="`exp_…`")
PAGE_PARAMS = [OpenApiParameter("limit", int, description="1–200, default 50"),
               OpenApiParameter("offset", int, description="≥ 0")]
PERIOD_RECORD_PARAMS = [OpenApiParameter("limit", int, description="1–1000, default 500"),
                        OpenApiParameter("offset", int, description="≥ 0")]
SYNC_FORMATS = (ExportJob.Format.JSON, ExportJob.Format.CSV)
JOB_FORMATS = (ExportJob.Format.PDF, ExportJob.Format.BUNDLE)
FILE_TYPES = ("application/json", "text/csv", "application/pdf", "application/zip")


def _exports():
    # TODO: a top-level import once records.services.exports has landed (built in parallel).
    from records.services import exports

    return exports


def download_path(access: SharedAccess, job: ExportJob) -> str:
    return reverse("shared-record-export-download", kwargs={"handle": access.handle, "exportId": job.id})


def shared_api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    """Unmatched routes under /api/v1/c/: the same body as an unknown handle, with the same headers."""
    error = not_found()
    body = jsonout.dumps(error.body())  # byte-identical to what the DRF renderer writes for a view's 404
    return with_shared_headers(HttpResponse(body, status=error.status, content_type="application/json"))


class SharedRecordView(PublicAPIView):
    """Resolves the handle once (404 before anything else) and stamps the §5.1 headers on every answer."""

    is_detail = False
    access: SharedAccess

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.access = shared_access(request, kwargs["handle"])
        if self.is_detail:
            self.access.require_detail()

    def finalize_response(self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any):
        return with_shared_headers(super().finalize_response(request, response, *args, **kwargs))

    def viewed(self, data: Any, *, page: str) -> Response:
        self.access.view(tier="detail" if self.is_detail else "summary", page=page, surface="api")
        return Response(data)


class SharedRecordDetailView(SharedRecordView):
    is_detail = True


class SummaryView(SharedRecordView):
    @extend_schema(operation_id="shared_record_summary", parameters=[HANDLE], request=None,
                   responses=out.SharedRecordSummarySerializer, auth=[])
    def get(self, request: Request, handle: str) -> Response:
        return self.viewed(summary_out(self.access), page="landing")


class StepUpView(SharedRecordView):
    @extend_schema(
        operation_id="shared_record_access_verify",
        description="Wrong code → 403 ACCESS_CODE_INVALID with `details.attemptsRemaining`; locked → 429 "
                    "STEP_UP_LOCKED. Sets the `psr_{handle}` cookie (not under OPEN).",
        parameters=[HANDLE], request=out.SharedRecordStepUpInputSerializer,
        responses=out.SharedRecordStepUpSerializer, auth=[],
    )
    def post(self, request: Request, handle: str) -> Response:
        body = out.SharedRecordStepUpInputSerializer(data=require_object(request.data))
        body.is_valid(raise_exception=True)  # a malformed attempt is refused before it can count
        shared = self.access.shared
        result = step_up_verify(shared=shared, value=body.validated_data["value"], visitor=self.access.visitor,
                                surface="api")
        response = Response({"unlocked": True, "policy": self.access.policy, "expiresAt": result.expires_at})
        if result.token:
            set_step_up_cookie(response, request, shared, result.token)
        return response


class ActivityView(SharedRecordDetailView):
    @extend_schema(operation_id="shared_record_activity",
                   parameters=[HANDLE, OpenApiParameter("period", str, description="YYYY-MM, default current"),
                               *PAGE_PARAMS],
                   request=None, responses=out.SharedRecordPageSerializer, auth=[])
    def get(self, request: Request, handle: str) -> Response:
        page = page_params(request)
        period = query_str(request, "period") or current_period()
        return self.viewed(activity(self.access.record, period=period, limit=page.limit, offset=page.offset),
                           page="activity")


class PeriodsView(SharedRecordDetailView):
    @extend_schema(operation_id="shared_record_periods", parameters=[HANDLE, *PAGE_PARAMS], request=None,
                   responses=out.SharedRecordPageSerializer, auth=[])
    def get(self, request: Request, handle: str) -> Response:
        page = page_params(request)
        items, total = page.slice(verified_periods(self.access.record))
        return self.viewed(page.envelope([period_out(c) for c in items], total), page="periods")


class PeriodView(SharedRecordDetailView):
    @extend_schema(operation_id="shared_record_period", parameters=[HANDLE, CHECKPOINT_ID, *PERIOD_RECORD_PARAMS],
                   request=None, responses=OpenApiTypes.OBJECT, auth=[],
                   description="A closed period and its records (as the middleware route 4.6).")
    def get(self, request: Request, handle: str, checkpointId: str) -> Response:
        record = self.access.record
        limit = query_int(request, "limit", default=500, minimum=1, maximum=1000)
        offset = query_int(request, "offset", default=0, minimum=0)
        return self.viewed(period_detail(record, period_of_record(record, checkpointId), limit=limit,
                                         offset=offset), page="period")


class PeriodAliasView(PeriodView):
    @extend_schema(operation_id="shared_record_period_alias", parameters=[HANDLE, CHECKPOINT_ID, *PERIOD_RECORD_PARAMS],
                   request=None, responses=OpenApiTypes.OBJECT, auth=[],
                   description="Alias of `/periods/{checkpointId}`.")
    def get(self, request: Request, handle: str, checkpointId: str) -> Response:
        return super().get(request, handle, checkpointId)


class CompareView(SharedRecordDetailView):
    @extend_schema(operation_id="shared_record_compare", parameters=[HANDLE],
                   request=out.SharedRecordCompareInputSerializer, responses=OpenApiTypes.OBJECT, auth=[],
                   description="Body and answer as the middleware compare (4.11); actor shared_record_visitor.")
    def post(self, request: Request, handle: str) -> Response:
        access = self.access
        data = periods_compare(record=access.record, body=require_object(request.data), actor=access.visitor.actor(),
                               identity=identity(access.record), handle=access.handle, visitor=access.visitor)
        return self.viewed(data, page="compare")


class ExportView(SharedRecordDetailView):
    @extend_schema(
        operation_id="shared_record_export",
        description="`json`/`csv`: the file itself (200, not enveloped). `pdf`/`bundle`: an ExportJob, "
                    "202 while it renders, 200 when an identical READY job is reused.",
        parameters=[HANDLE, OpenApiParameter("format", str, required=True, enum=ExportJob.Format.values),
                    OpenApiParameter("period", str, description="YYYY-MM"),
                    OpenApiParameter("checkpointId", str, description="`chk_…`")],
        request=None,
        responses={(200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="Reused READY job"),
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="format=csv file"),
                   202: OpenApiResponse(OpenApiTypes.OBJECT, description="ExportJob")},
        auth=[],
    )
    def get(self, request: Request, handle: str):
        fmt = query_str(request, "format")
        if fmt not in (*SYNC_FORMATS, *JOB_FORMATS):
            raise validation_error({"format": ["must be json, csv, pdf or bundle"]})
        access, exports = self.access, _exports()
        side = exports.export_scope(record=access.record, checkpoint_id=query_str(request, "checkpointId"),
                                    period=query_str(request, "period"))
        actor = access.visitor.actor()
        if fmt in SYNC_FORMATS:
            return exports.export_sync_response(record=access.record, fmt=fmt, side=side, actor=actor,
                                                handle=access.handle, visitor=access.visitor)
        job, _created = exports.export_job_request(record=access.record, fmt=fmt, side=side, actor=actor)
        answer = status.HTTP_200_OK if job.status == ExportJob.Status.READY else status.HTTP_202_ACCEPTED
        return Response(exports.export_job_out(job, download_url=download_path(access, job)), status=answer)


class ExportJobView(SharedRecordDetailView):
    def job(self, export_id: str) -> ExportJob:
        job = ExportJob.objects.filter(pk=export_id, customer_record=self.access.record).first()
        if job is None:
            raise not_found()
        return job

    @extend_schema(operation_id="shared_record_export_job", parameters=[HANDLE, EXPORT_ID], request=None,
                   responses=OpenApiTypes.OBJECT, auth=[], description="An ExportJob of this record.")
    def get(self, request: Request, handle: str, exportId: str) -> Response:
        job = self.job(exportId)
        return Response(_exports().export_job_out(job, download_url=download_path(self.access, job)))


class ExportDownloadView(ExportJobView):
    @extend_schema(
        operation_id="shared_record_export_download", parameters=[HANDLE, EXPORT_ID], request=None,
        responses={(200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The file") for media in FILE_TYPES},
        extensions={"x-unenveloped": True}, auth=[],
    )
    def get(self, request: Request, handle: str, exportId: str):
        access = self.access
        return _exports().export_download(job=self.job(exportId), actor=access.visitor.actor(), handle=access.handle,
                                          visitor=access.visitor)
