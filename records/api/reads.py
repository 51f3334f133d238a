"""Balance API reads: derive, compare, customers, gaps, usage, limits (api.md §2.4–2.15)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from pacspace.api import query_int, query_str
from pacspace.errors import validation_error
from records import selectors
from records.addressing import vendor_account_for_read, vendor_value
from records.api.base import BalanceView
from records.api.deltas import tenant_actor
from records.api.serializers import CompareInputSerializer
from records.models import CustomerRecord
from records.scopes import current_period, period_window, scope_parse
from records.services.compare import balance_compare
from records.validation import ItemInvalid, parse_number

SCOPE_PARAMS = [
    OpenApiParameter(name, str)
    for name in ("period", "timePreset", "startDate", "endDate", "vendorAccountId")
]
CHECKPOINT_PARAMS = [OpenApiParameter("startingCheckpoint", str), OpenApiParameter("startingCheckpointType", str)]


def _number(value, path: str, default: Decimal | None = None) -> Decimal:
    if value is None and default is not None:
        return default
    if value is None:
        raise validation_error({path: ["is required"]})
    try:
        return parse_number(value, path)
    except ItemInvalid as invalid:
        raise invalid.as_error() from invalid


class DeriveView(BalanceView):
    @extend_schema(
        operation_id="balance_derive",
        parameters=[*SCOPE_PARAMS, *CHECKPOINT_PARAMS, OpenApiParameter("startingBalance", str),
                    OpenApiParameter("limit", int), OpenApiParameter("offset", int),
                    OpenApiParameter("granularity", str, enum=["day", "week", "month"])],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, customer_id: str) -> Response:
        record = self.customer_record(customer_id)
        scope = scope_parse(request.query_params, allow_checkpoint=True)
        granularity = query_str(request, "granularity")
        if granularity not in (None, "", "day", "week", "month"):
            raise validation_error({"granularity": ["must be day, week or month"]})
        return Response(selectors.derive(
            record=record, scope=scope,
            starting_balance=_number(query_str(request, "startingBalance"), "startingBalance", Decimal(0)),
            limit=query_int(request, "limit", default=100, minimum=1, maximum=1000),
            offset=query_int(request, "offset", default=0, minimum=0),
            granularity=granularity or None,
        ))


class CompareView(BalanceView):
    @extend_schema(operation_id="balance_compare", request=CompareInputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request) -> Response:
        body = self.body()
        record = self.customer_record(body.get("customerId"), vendor_field=body.get("vendorAccountId"))
        scope = scope_parse(body, allow_checkpoint=True)
        return Response(balance_compare(
            record=record, scope=scope,
            your_balance=_number(body.get("yourBalance"), "yourBalance"),
            their_balance=_number(body.get("theirBalance"), "theirBalance"),
            starting_balance=_number(body.get("startingBalance"), "startingBalance", Decimal(0)),
            actor=tenant_actor(self),
        ))


class CustomersView(BalanceView):
    scoped_model = CustomerRecord

    @extend_schema(
        operation_id="balance_customers",
        parameters=[OpenApiParameter("search", str), OpenApiParameter("page", int), OpenApiParameter("limit", int),
                    OpenApiParameter("vendorAccountId", str)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        records = self.get_queryset()
        vendor = vendor_account_for_read(self.tenant, vendor_value(
            field=request.query_params.get("vendorAccountId"), header=self.vendor_header()))
        if vendor is not None:
            records = records.filter(vendor_account=vendor)
        return Response(selectors.customers_page(
            records, search=query_str(request, "search"),
            page=query_int(request, "page", default=1, minimum=1),
            limit=query_int(request, "limit", default=25, minimum=1, maximum=100),
        ))


class CustomerDetailView(BalanceView):
    @extend_schema(
        operation_id="balance_customer",
        parameters=[OpenApiParameter("deltaPage", int), OpenApiParameter("deltaLimit", int),
                    OpenApiParameter("period", str), OpenApiParameter("vendorAccountId", str)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, customer_id: str) -> Response:
        record = self.customer_record(customer_id)
        period = query_str(request, "period")
        return Response(selectors.customer_detail(
            record,
            delta_page=query_int(request, "deltaPage", default=1, minimum=1),
            delta_limit=query_int(request, "deltaLimit", default=20, minimum=1, maximum=100),
            period_window=period_window(period) if period else None,
        ))


class GapsView(BalanceView):
    @extend_schema(
        operation_id="balance_gaps",
        parameters=[OpenApiParameter("fromSequence", int), OpenApiParameter("toSequence", int),
                    OpenApiParameter("limit", int), OpenApiParameter("vendorAccountId", str)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, customer_id: str) -> Response:
        record = self.customer_record(customer_id)
        to_sequence = query_str(request, "toSequence")
        return Response(selectors.gaps(
            record,
            from_sequence=query_int(request, "fromSequence", default=1, minimum=1),
            to_sequence=query_int(request, "toSequence", default=0, minimum=1) if to_sequence else None,
            limit=query_int(request, "limit", default=100, minimum=1, maximum=1000),
        ))


class UsageView(BalanceView):
    @extend_schema(operation_id="balance_usage", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        period = current_period()
        return Response(selectors.usage(
            tenant=self.tenant, environment=self.environment, window=period_window(period), period=period))


class LimitsView(BalanceView):
    @extend_schema(operation_id="balance_limits", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(selectors.limits())
