"""The middleware REST interface (api.md §4): thin actions that parse input, call one service or
selector and return its answer. Every view is tenant-scoped and refuses direct tenants first."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from middleware_api import selectors
from middleware_api import serializers as out
from middleware_api.filters import PeriodFilter, ReadinessFilter, VendorAccountFilter, filtered
from middleware_api.permissions import MiddlewareTenantPermission
from pacspace.api import TenantViewSet, page_params, query_int, query_str, require_object
from pacspace.errors import DomainError, validation_error
from pacspace.ids import is_id
from records.addressing import vendor_value
from records.models import CustomerRecord, ExportJob, SharedRecord, VendorAccount
from records.selectors.balance import identity
from records.selectors.shared import period_detail, period_of_record, period_out, verified_periods
from records.services import exports, shared_records
from records.services.period_compare import periods_compare
from records.services.vendor_accounts import vendor_account_create, vendor_account_update

PAGE_PARAMS = [
    OpenApiParameter("limit", int, description="1–200, default 50"),
    OpenApiParameter("offset", int, description="≥ 0"),
]
CUSTOMER_ID = OpenApiParameter("customerId", str, OpenApiParameter.PATH, description="Customer record id `cus_…`")
CHECKPOINT_ID = OpenApiParameter("checkpointId", str, OpenApiParameter.PATH, description="`chk_…`")
EXPORT_ID = OpenApiParameter("exportId", str, OpenApiParameter.PATH, description="`exp_…`")
PERIOD = OpenApiParameter("period", str, description="YYYY-MM")
PERIOD_DETAIL_PARAMS = [CUSTOMER_ID, CHECKPOINT_ID, OpenApiParameter("limit", int, description="1–1000, default 500"),
                        OpenApiParameter("offset", int, description="≥ 0")]
FILE_TYPES = ("application/json", "text/csv", "application/pdf", "application/zip")


def download_path(job: ExportJob) -> str:
    return reverse("middleware-export-download", kwargs={"exportId": job.id})


class MiddlewareViewSet(TenantViewSet):
    permission_classes = [MiddlewareTenantPermission]

    def actor(self) -> dict[str, Any]:
        """Access-log entries and events made from these routes name the key (webhooks.md §3.5)."""
        return {"type": "tenant_api", "apiKeyId": self.context.api_key.id}


class VendorAccountViewSet(MiddlewareViewSet):
    scoped_model = VendorAccount
    environment_scoped = False  # vendor accounts are shared by sandbox and production
    lookup_field = "id"
    lookup_url_kwarg = "vendorAccountId"

    class CreateInputSerializer(serializers.Serializer):
        displayName = serializers.CharField()
        externalId = serializers.CharField(required=False, allow_null=True)

    class UpdateInputSerializer(serializers.Serializer):
        displayName = serializers.CharField(required=False)
        externalId = serializers.CharField(required=False, allow_null=True)
        status = serializers.ChoiceField(choices=VendorAccount.Status.choices, required=False)

    @extend_schema(
        operation_id="middleware_vendor_accounts_list",
        parameters=[
            *PAGE_PARAMS,
            OpenApiParameter("status", str, enum=VendorAccount.Status.values),
            OpenApiParameter("externalId", str),
        ],
        request=None,
        responses=out.VendorAccountListSerializer,
    )
    def list(self, request: Request) -> Response:
        page = page_params(request)
        accounts = filtered(VendorAccountFilter, request.query_params, self.get_queryset()).qs
        items, total = page.slice(accounts.order_by("created_at", "id"))
        return Response(page.envelope([out.vendor_account_out(a) for a in items], total))

    @extend_schema(
        operation_id="middleware_vendor_accounts_create",
        request=CreateInputSerializer,
        responses={201: out.VendorAccountSerializer},
    )
    def create(self, request: Request) -> Response:
        body = require_object(request.data)
        account = vendor_account_create(
            tenant=self.tenant, display_name=body.get("displayName"), external_id=body.get("externalId")
        )
        return Response(out.vendor_account_out(account), status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="middleware_vendor_accounts_retrieve", request=None,
                   responses=out.VendorAccountSerializer)
    def retrieve(self, request: Request, vendorAccountId: str) -> Response:
        return Response(out.vendor_account_out(self.get_object()))

    @extend_schema(
        operation_id="middleware_vendor_accounts_update",
        request=UpdateInputSerializer,
        responses=out.VendorAccountSerializer,
    )
    def partial_update(self, request: Request, vendorAccountId: str) -> Response:
        body = require_object(request.data)
        fields = {
            name: body[key]
            for key, name in (("displayName", "display_name"), ("externalId", "external_id"), ("status", "status"))
            if key in body
        }
        account = vendor_account_update(account=self.get_object(), **fields)
        return Response(out.vendor_account_out(account))


class VendorCustomerRecordViewSet(MiddlewareViewSet):
    """4.2: find a record by the middleware's own ids (vendor id or externalId, externalCustomerId)."""

    scoped_model = CustomerRecord

    @extend_schema(
        operation_id="middleware_vendor_customer_record",
        parameters=[
            OpenApiParameter("vendorId", str, OpenApiParameter.PATH, description="`cmw_…` id or externalId"),
            OpenApiParameter("externalCustomerId", str, OpenApiParameter.PATH),
        ],
        request=None,
        responses=out.CustomerRecordSerializer,
    )
    def retrieve(self, request: Request, vendorId: str, externalCustomerId: str) -> Response:
        account = selectors.vendor_account_by_ref(self.tenant, vendorId)
        records = self.get_queryset().select_related("tenant", "vendor_account")
        record = records.filter(vendor_account=account, customer_id=externalCustomerId).first()
        if record is None:
            raise DomainError("CUSTOMER_NOT_FOUND", "No customer record for this externalCustomerId")
        return Response(selectors.customer_record_card(record))


class ReadinessViewSet(MiddlewareViewSet):
    scoped_model = CustomerRecord

    @extend_schema(
        operation_id="middleware_readiness_list",
        parameters=[
            *PAGE_PARAMS,
            OpenApiParameter("vendorAccountId", str, description="`cmw_…`; also X-Vendor-Account-Id"),
            OpenApiParameter("period", str, description="YYYY-MM; default the previous UTC month"),
            OpenApiParameter("status", str, enum=["ready", "blocked"]),
            OpenApiParameter("customerId", str, description="`cus_…`"),
        ],
        request=None,
        responses=out.ReadinessListSerializer,
    )
    def list(self, request: Request) -> Response:
        page = page_params(request)
        params = request.query_params.copy()
        vendor = vendor_value(field=params.get("vendorAccountId"), header=request.headers.get("X-Vendor-Account-Id"))
        if vendor:
            params["vendorAccountId"] = vendor
        records = filtered(ReadinessFilter, params, self.get_queryset(), request)
        cleaned = records.form.cleaned_data
        return Response(selectors.readiness_page(
            records.qs, period=cleaned.get("period") or selectors.previous_period(),
            status=cleaned.get("status") or None, page=page, tenant=self.tenant,
        ))


class CustomerScopedViewSet(MiddlewareViewSet):
    """Routes under customers/:customerId, where the id is a `cus_` record of this tenant and environment."""

    scoped_model = CustomerRecord

    def customer_record(self) -> CustomerRecord:
        customer_id = self.kwargs["customerId"]
        record = None
        if is_id(customer_id, "cus"):
            record = self.get_queryset().select_related("tenant", "vendor_account").filter(pk=customer_id).first()
        if record is None:
            # The same answer for another tenant's or environment's id: nothing hints that it exists.
            raise DomainError("CUSTOMER_NOT_FOUND", "No customer record with this id")
        return record


class CustomerViewSet(CustomerScopedViewSet):
    @extend_schema(operation_id="middleware_customer_live", parameters=[CUSTOMER_ID], request=None,
                   responses=out.LiveSerializer)
    def live(self, request: Request, customerId: str) -> Response:
        return Response(selectors.live_view(self.customer_record()))

    @extend_schema(
        operation_id="middleware_customer_periods",
        parameters=[CUSTOMER_ID, *PAGE_PARAMS, OpenApiParameter("includeSuperseded", str, enum=["true", "false"])],
        request=None,
        responses=out.PeriodListSerializer,
    )
    def periods(self, request: Request, customerId: str) -> Response:
        page = page_params(request)
        closed = verified_periods(self.customer_record(), include_superseded=True)
        items, total = page.slice(filtered(PeriodFilter, request.query_params, closed).qs)
        return Response(page.envelope([period_out(c) for c in items], total))

    @extend_schema(
        operation_id="middleware_customer_period",
        parameters=PERIOD_DETAIL_PARAMS,
        request=None,
        responses=out.PeriodDetailSerializer,
    )
    def period(self, request: Request, customerId: str, checkpointId: str) -> Response:
        record = self.customer_record()
        limit = query_int(request, "limit", default=500, minimum=1, maximum=1000)
        offset = query_int(request, "offset", default=0, minimum=0)
        return Response(period_detail(record, period_of_record(record, checkpointId), limit=limit, offset=offset))

    @extend_schema(
        operation_id="middleware_customer_period_alias",
        description="Alias of `/periods/{checkpointId}`.",
        parameters=PERIOD_DETAIL_PARAMS,
        request=None,
        responses=out.PeriodDetailSerializer,
    )
    def period_alias(self, request: Request, customerId: str, checkpointId: str) -> Response:
        return self.period(request, customerId, checkpointId)

    @extend_schema(
        operation_id="middleware_customer_close_package",
        parameters=[CUSTOMER_ID, OpenApiParameter("period", str, required=True, description="YYYY-MM")],
        request=None,
        responses=out.ClosePackageSerializer,
    )
    def close_package(self, request: Request, customerId: str) -> Response:
        record = self.customer_record()
        period = query_str(request, "period")
        if not period:
            raise validation_error({"period": ["is required"]})
        return Response(selectors.close_package(
            record=record, period=period, actor=self.actor(), download_url_for=download_path))

    @extend_schema(operation_id="middleware_customer_compare", parameters=[CUSTOMER_ID],
                   request=out.PeriodCompareInputSerializer, responses=out.CompareSerializer)
    def compare(self, request: Request, customerId: str) -> Response:
        body = require_object(request.data)
        record = self.customer_record()
        return Response(periods_compare(record=record, body=body, actor=self.actor(), identity=identity(record)))

    @extend_schema(
        operation_id="middleware_customer_export",
        description="`json`/`csv`: the file itself (200, not enveloped). `pdf`/`bundle`: an ExportJob, "
                    "202 while it renders, 200 when an identical READY job is reused.",
        parameters=[CUSTOMER_ID, OpenApiParameter("format", str, required=True, enum=ExportJob.Format.values),
                    PERIOD, OpenApiParameter("checkpointId", str, description="`chk_…`")],
        request=None,
        responses={
            (200, "application/json"): OpenApiResponse(out.ExportJobSerializer, description="Reused READY job"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="format=csv file"),
            202: out.ExportJobSerializer,
        },
    )
    def export(self, request: Request, customerId: str) -> Response:
        fmt = query_str(request, "format")
        if fmt not in (*exports.SYNC_FORMATS, *exports.JOB_FORMATS):
            raise validation_error({"format": ["must be json, csv, pdf or bundle"]})
        record = self.customer_record()
        side = exports.export_scope(record=record, checkpoint_id=query_str(request, "checkpointId"),
                                    period=query_str(request, "period"))
        if fmt in exports.SYNC_FORMATS:
            return exports.export_sync_response(record=record, fmt=fmt, side=side, actor=self.actor())
        job, _created = exports.export_job_request(record=record, fmt=fmt, side=side, actor=self.actor())
        answer = status.HTTP_200_OK if job.status == ExportJob.Status.READY else status.HTTP_202_ACCEPTED
        return Response(exports.export_job_out(job, download_url=download_path(job)), status=answer)


class AccessLinkViewSet(CustomerScopedViewSet):
    """4.8–4.9: the record's Shared Record link; every change is logged with actor tenant_api."""

    def shared(self) -> SharedRecord:
        return shared_records.shared_record_of(self.customer_record())

    def answer(self, shared: SharedRecord) -> Response:
        return Response(selectors.access_link_out(shared, self.tenant))

    @extend_schema(operation_id="middleware_access_link", parameters=[CUSTOMER_ID], request=None,
                   responses=out.AccessLinkSerializer)
    def retrieve(self, request: Request, customerId: str) -> Response:
        return self.answer(self.shared())

    @extend_schema(operation_id="middleware_access_link_update", parameters=[CUSTOMER_ID],
                   request=out.AccessLinkUpdateInputSerializer, responses=out.AccessLinkSerializer)
    def partial_update(self, request: Request, customerId: str) -> Response:
        body = require_object(request.data)
        return self.answer(shared_records.shared_record_set_policy(
            shared=self.shared(), policy=body.get("policy"), actor=self.actor()))

    @extend_schema(operation_id="middleware_access_link_rotate_code", parameters=[CUSTOMER_ID],
                   request=out.EmptyInputSerializer, responses=out.AccessLinkSerializer)
    def rotate_code(self, request: Request, customerId: str) -> Response:
        shared, _code = shared_records.shared_record_rotate_code(shared=self.shared(), actor=self.actor())
        return self.answer(shared)

    @extend_schema(operation_id="middleware_access_link_reissue", parameters=[CUSTOMER_ID],
                   request=out.AccessLinkReissueInputSerializer, responses=out.AccessLinkSerializer)
    def reissue(self, request: Request, customerId: str) -> Response:
        rotate = require_object(request.data).get("rotateCode", False)
        if not isinstance(rotate, bool):
            raise validation_error({"rotateCode": ["must be a boolean"]})
        return self.answer(shared_records.shared_record_reissue(
            shared=self.shared(), actor=self.actor(), rotate_code=rotate))

    @extend_schema(operation_id="middleware_access_link_revoke", parameters=[CUSTOMER_ID],
                   request=out.EmptyInputSerializer, responses=out.AccessLinkSerializer)
    def revoke(self, request: Request, customerId: str) -> Response:
        return self.answer(shared_records.shared_record_revoke(shared=self.shared(), actor=self.actor()))


class ExportViewSet(MiddlewareViewSet):
    """4.10: any export job of this tenant and environment, and its file once READY."""

    scoped_model = ExportJob
    lookup_field = "id"
    lookup_url_kwarg = "exportId"

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        # export_download and export_job_out read the record, its identity and the checkpoint.
        return queryset.select_related("customer_record__tenant", "customer_record__vendor_account", "checkpoint")

    @extend_schema(operation_id="middleware_export", parameters=[EXPORT_ID], request=None,
                   responses=out.ExportJobSerializer)
    def retrieve(self, request: Request, exportId: str) -> Response:
        job = self.get_object()
        return Response(exports.export_job_out(job, download_url=download_path(job)))

    @extend_schema(
        operation_id="middleware_export_download",
        parameters=[EXPORT_ID],
        request=None,
        responses={(200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The file") for media in FILE_TYPES},
        extensions={"x-unenveloped": True},
    )
    def download(self, request: Request, exportId: str) -> HttpResponseBase:
        job = self.get_object()
        return exports.export_download(job=job, actor=self.actor())
