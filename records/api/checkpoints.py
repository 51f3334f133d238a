"""Checkpoints and receipts (api.md §2.6–2.8, §2.11–2.12)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from pacspace.api import page_params, query_str
from pacspace.errors import DomainError, validation_error
from records import selectors
from records.addressing import vendor_account_for_read, vendor_account_for_write, vendor_value
from records.api.base import BalanceView
from records.api.deltas import IDEMPOTENCY_HEADER, VENDOR_HEADER
from records.api.reads import SCOPE_PARAMS
from records.api.serializers import CheckpointInputSerializer, CheckpointListSerializer, CheckpointSerializer
from records.models import Checkpoint
from records.scopes import scope_parse
from records.services.checkpoints import checkpoint_payload, checkpoints_commit


def _check_mode(body: dict[str, Any]) -> None:
    if body.get("mode") not in (None, "all"):
        raise validation_error({"mode": ['must be absent or "all"']})
    if body.get("fingerprints") not in (None, {}, []):
        raise validation_error({"fingerprints": ["non-empty fingerprints are not supported"]})
    customer_id = body.get("customerId")
    if customer_id is not None and (not isinstance(customer_id, str) or not customer_id):
        raise validation_error({"customerId": ["must be a string"]})


class CheckpointCommitView(BalanceView):
    idempotency_route = "balance.checkpoint"

    @extend_schema(
        operation_id="balance_checkpoint_commit",
        parameters=[IDEMPOTENCY_HEADER, VENDOR_HEADER],
        request=CheckpointInputSerializer,
        responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request):
        return self.write(request, self._commit)

    def _commit(self) -> tuple[int, dict[str, Any]]:
        body = self.body()
        vendor = vendor_account_for_write(self.tenant, vendor_value(field=body.get("vendorAccountId"), header=self.vendor_header()))
        _check_mode(body)
        scope = scope_parse(body)
        results = checkpoints_commit(
            tenant=self.tenant, environment=self.environment, vendor=vendor,
            customer_id=body.get("customerId"), scope=scope,
        )
        items = [{**checkpoint_payload(r.checkpoint), "idempotent": r.idempotent} for r in results]
        status = 200 if all(r.idempotent for r in results) and results else 201
        if body.get("customerId") is not None:
            return status, items[0]
        return status, {"checkpoints": items, "count": len(items)}


class CheckpointListView(BalanceView):
    scoped_model = Checkpoint

    @extend_schema(
        operation_id="balance_checkpoints",
        parameters=[*SCOPE_PARAMS, OpenApiParameter("customerId", str), OpenApiParameter("status", str),
                    OpenApiParameter("includeSuperseded", bool), OpenApiParameter("limit", int),
                    OpenApiParameter("offset", int)],
        responses=CheckpointListSerializer,
    )
    def get(self, request: Request) -> Response:
        page = page_params(request)
        checkpoints = self._filtered(request)
        rows, total = page.slice(checkpoints.select_related("customer_record").order_by("-created_at", "-id"))
        return Response({"checkpoints": [checkpoint_payload(c) for c in rows], "total": total,
                         "limit": page.limit, "offset": page.offset})

    def _filtered(self, request: Request):
        checkpoints = self.get_queryset()
        vendor = vendor_value(field=request.query_params.get("vendorAccountId"), header=self.vendor_header())
        customer_id = query_str(request, "customerId")
        if customer_id:
            checkpoints = checkpoints.filter(customer_record=self.customer_record(customer_id))
        elif vendor is not None:
            checkpoints = checkpoints.filter(vendor_account=vendor_account_for_read(self.tenant, vendor))
        scope = scope_parse(request.query_params, default="all")
        if scope.kind == "period":
            checkpoints = checkpoints.filter(window_start=scope.start, window_end=scope.end)
        elif scope.kind == "custom":
            checkpoints = checkpoints.filter(window_start__gte=scope.start, window_end__lte=scope.end)
        status = query_str(request, "status")
        if status:
            if status.upper() not in Checkpoint.Status.values:
                raise validation_error({"status": ["must be QUEUED, VERIFIED or FAILED"]})
            checkpoints = checkpoints.filter(status=status.upper())
        if query_str(request, "includeSuperseded") in ("false", "False", "0"):
            checkpoints = checkpoints.filter(superseded_by__isnull=True)
        return checkpoints


class CheckpointDetailView(BalanceView):
    scoped_model = Checkpoint

    @extend_schema(operation_id="balance_checkpoint", responses=CheckpointSerializer)
    def get(self, request: Request, checkpoint_id: str) -> Response:
        checkpoint = self.get_queryset().select_related("customer_record").filter(pk=checkpoint_id).first()
        if checkpoint is None:
            raise DomainError("NOT_FOUND", "No checkpoint with this id")
        return Response(checkpoint_payload(checkpoint))


class ReceiptView(BalanceView):
    @extend_schema(operation_id="balance_receipt", parameters=SCOPE_PARAMS, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, customer_id: str) -> Response:
        record = self.customer_record(customer_id)
        scope = scope_parse(request.query_params, default="all")
        return Response(selectors.receipt(record, scope, timezone.now()))


class InvoiceProofView(BalanceView):
    @extend_schema(operation_id="balance_invoice_proof", parameters=SCOPE_PARAMS, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, customer_id: str) -> Response:
        record = self.customer_record(customer_id)
        scope = scope_parse(request.query_params)
        return Response(selectors.invoice_proof(record, scope))
