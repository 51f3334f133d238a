"""The middleware REST interface: thin actions that call one service or selector each."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from middleware_api.filters import VendorAccountFilter
from middleware_api.permissions import MiddlewareTenantPermission
from middleware_api.serializers import VendorAccountListSerializer, VendorAccountSerializer, vendor_account_out
from pacspace.api import TenantViewSet, page_params, require_object
from pacspace.errors import validation_error
from records.models import VendorAccount
from records.services.vendor_accounts import vendor_account_create, vendor_account_update

PAGE_PARAMS = [
    OpenApiParameter("limit", int, description="1–200, default 50"),
    OpenApiParameter("offset", int, description="≥ 0"),
]


class MiddlewareViewSet(TenantViewSet):
    permission_classes = [MiddlewareTenantPermission]


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
        responses=VendorAccountListSerializer,
    )
    def list(self, request: Request) -> Response:
        page = page_params(request)
        filterset = VendorAccountFilter(request.query_params, queryset=self.get_queryset())
        if not filterset.is_valid():
            raise validation_error({k: [str(m) for m in v] for k, v in filterset.errors.items()})
        items, total = page.slice(filterset.qs.order_by("created_at", "id"))
        return Response(page.envelope([vendor_account_out(a) for a in items], total))

    @extend_schema(
        operation_id="middleware_vendor_accounts_create",
        request=CreateInputSerializer,
        responses={201: VendorAccountSerializer},
    )
    def create(self, request: Request) -> Response:
        body = require_object(request.data)
        account = vendor_account_create(
            tenant=self.tenant, display_name=body.get("displayName"), external_id=body.get("externalId")
        )
        return Response(vendor_account_out(account), status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="middleware_vendor_accounts_retrieve", responses=VendorAccountSerializer)
    def retrieve(self, request: Request, vendorAccountId: str) -> Response:
        return Response(vendor_account_out(self.get_object()))

    @extend_schema(
        operation_id="middleware_vendor_accounts_update",
        request=UpdateInputSerializer,
        responses=VendorAccountSerializer,
    )
    def partial_update(self, request: Request, vendorAccountId: str) -> Response:
        body = require_object(request.data)
        fields = {
            name: body[key]
            for key, name in (("displayName", "display_name"), ("externalId", "external_id"), ("status", "status"))
            if key in body
        }
        account = vendor_account_update(account=self.get_object(), **fields)
        return Response(vendor_account_out(account))


