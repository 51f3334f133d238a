"""The webhook REST interface (api.md §2.16, §2.17, §6): thin actions over webhooks.services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from pacspace.api import TenantViewSet, page_params, query_str, require_object
from pacspace.errors import validation_error
from webhooks.models import Delivery, Endpoint
from webhooks.selectors import deliveries_with_attempts, delivery_log
from webhooks.serializers import (
    DeliveryDetailSerializer,
    DeliveryListSerializer,
    EndpointDeletedSerializer,
    EndpointListSerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
    RetrySerializer,
    TestResultSerializer,
    delivery_out,
    delivery_state_out,
    endpoint_out,
    test_result_out,
)
from webhooks.services import (
    delivery_retry,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_test,
    endpoint_update,
)

PAGE_PARAMS = [
    OpenApiParameter("limit", int, description="1–200, default 50"),
    OpenApiParameter("offset", int, description="≥ 0"),
]
# webhooks.md §6 / api.md §2.16: our words and the Balance words, case-insensitive.
STATUS_WORDS = {
    "pending": Delivery.Status.PENDING,
    "queued": Delivery.Status.PENDING,
    "delivered": Delivery.Status.DELIVERED,
    "verified": Delivery.Status.DELIVERED,
    "failed": Delivery.Status.FAILED,
}
ENDPOINT_FIELDS = ("url", "description", "enabled")


class EndpointViewSet(TenantViewSet):
    """Webhook endpoints of the key's tenant and environment (api.md §6)."""

    scoped_model = Endpoint
    lookup_field = "pk"
    lookup_url_kwarg = "endpointId"

    class EndpointCreateInputSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=2048)
        description = serializers.CharField(max_length=200, required=False)
        enabled = serializers.BooleanField(required=False, default=True)

    class EndpointUpdateInputSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=2048, required=False)
        description = serializers.CharField(max_length=200, required=False)
        enabled = serializers.BooleanField(required=False)

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(deleted_at__isnull=True)

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="List endpoints (no secrets)",
        parameters=PAGE_PARAMS,
        responses=EndpointListSerializer,
    )
    def list(self, request: Request) -> Response:
        return _page(request, self.get_queryset().order_by("created_at", "pk"), endpoint_out)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register an endpoint; its secret is in this answer only",
        request=EndpointCreateInputSerializer,
        responses={201: EndpointWithSecretSerializer},
    )
    def create(self, request: Request) -> Response:
        fields = _endpoint_fields(require_object(request.data))
        endpoint, secret = endpoint_create(
            tenant=self.tenant, environment=self.environment, url=fields.pop("url", None), **fields
        )
        return Response(endpoint_out(endpoint, secret=secret), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="webhook_endpoints_retrieve", summary="Get an endpoint", responses=EndpointSerializer
    )
    def retrieve(self, request: Request, endpointId: str) -> Response:
        return Response(endpoint_out(self.get_object()))

    @extend_schema(
        operation_id="webhook_endpoints_update",
        summary="Change url, description or enabled",
        request=EndpointUpdateInputSerializer,
        responses=EndpointSerializer,
    )
    def partial_update(self, request: Request, endpointId: str) -> Response:
        fields = _endpoint_fields(require_object(request.data))
        return Response(endpoint_out(endpoint_update(endpoint=self.get_object(), **fields)))

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        summary="Delete an endpoint; its pending deliveries fail",
        responses=EndpointDeletedSerializer,
    )
    def destroy(self, request: Request, endpointId: str) -> Response:
        endpoint = self.get_object()
        endpoint_delete(endpoint=endpoint)
        return Response({"id": endpoint.pk, "deleted": True})

    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="New secret; the previous one signs for 24 h more",
        request=None,
        responses=EndpointWithSecretSerializer,
    )
    def rotate_secret(self, request: Request, endpointId: str) -> Response:
        endpoint, secret = endpoint_rotate_secret(endpoint=self.get_object())
        return Response(endpoint_out(endpoint, secret=secret))

    @extend_schema(
        operation_id="webhook_endpoints_test",
        summary="Send one webhook.test event now and report the outcome",
        request=None,
        responses=TestResultSerializer,
    )
    def send_test(self, request: Request, endpointId: str) -> Response:
        return Response(test_result_out(endpoint_test(endpoint=self.get_object())))


class DeliveryViewSet(TenantViewSet):
    """One delivery with its full attempt log (webhooks.md §6)."""

    scoped_model = Delivery
    lookup_field = "pk"
    lookup_url_kwarg = "deliveryId"

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return deliveries_with_attempts(queryset, detail=True)

    @extend_schema(
        operation_id="webhook_deliveries_retrieve",
        summary="Get a delivery with request body and responses",
        responses=DeliveryDetailSerializer,
    )
    def retrieve(self, request: Request, deliveryId: str) -> Response:
        return Response(delivery_out(self.get_object(), detail=True))


class DeliveryLogViewSet(TenantViewSet):
    """The Balance API's view of deliveries (api.md §2.16, §2.17), as the PacSpace SDK calls it."""

    scoped_model = Delivery

    @extend_schema(
        operation_id="balance_webhooks_list",
        summary="Delivery log",
        parameters=[
            *PAGE_PARAMS,
            OpenApiParameter("status", str, description="pending|delivered|failed or QUEUED|VERIFIED|FAILED"),
            OpenApiParameter("event", str, description="event type, e.g. delta.verified"),
            OpenApiParameter("endpointId", str),
        ],
        responses=DeliveryListSerializer,
    )
    def list(self, request: Request) -> Response:
        log = delivery_log(
            self.get_queryset(),
            status=_status_param(request),
            event_type=query_str(request, "event"),
            endpoint_id=query_str(request, "endpointId"),
        )
        return _page(request, log, delivery_out)

    @extend_schema(
        operation_id="balance_webhooks_retry",
        summary="Retry an event's deliveries (evt_…) or one delivery (dlv_…)",
        request=None,
        responses={202: RetrySerializer},
    )
    def retry(self, request: Request, eventId: str) -> Response:
        if request.body:
            require_object(request.data)  # `{}` or nothing; anything else is still parsed and refused
        event_id, ids = delivery_retry(
            tenant_id=self.tenant.pk, environment=self.environment, target_id=eventId
        )
        deliveries = self.get_queryset().filter(pk__in=ids).order_by("pk")
        body = {"eventId": event_id, "deliveries": [delivery_state_out(d) for d in deliveries]}
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _page(request: Request, queryset: QuerySet, render: Callable[[Any], dict]) -> Response:
    page = page_params(request)
    items, total = page.slice(queryset)
    return Response(page.envelope([render(item) for item in items], total))


def _endpoint_fields(body: dict) -> dict:
    return {name: body[name] for name in ENDPOINT_FIELDS if name in body}


def _status_param(request: Request) -> str | None:
    raw = query_str(request, "status")
    if not raw:
        return None
    if raw.lower() not in STATUS_WORDS:
        raise validation_error(
            {"status": ["must be pending, delivered or failed (or QUEUED, VERIFIED, FAILED)"]}
        )
    return STATUS_WORDS[raw.lower()]
