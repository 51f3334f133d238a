"""Emit, batch and delta status (api.md §2.1–2.3)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from pacspace.errors import DomainError, validation_error
from records.addressing import vendor_account_for_write, vendor_value
from records.api.base import BalanceView
from records.api.serializers import (
    BatchInputSerializer,
    BatchOutputSerializer,
    DeltaItemInputSerializer,
    DeltaSerializer,
    EmitOutputSerializer,
)
from records.models import Delta, DeltaStatus, VendorAccount
from records.selectors import delta_out, emit_out
from records.services.deltas import Outcome, deltas_accept
from records.validation import ItemInvalid, parse_delta_item

MAX_BATCH_ITEMS = 1000
IDEMPOTENCY_HEADER = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
VENDOR_HEADER = OpenApiParameter("X-Vendor-Account-Id", str, OpenApiParameter.HEADER, required=False)


def tenant_actor(view: BalanceView) -> dict[str, Any]:
    return {"type": "tenant_api", "apiKeyId": view.context.api_key.id}


class DeltaEmitView(BalanceView):
    idempotency_route = "balance.delta"

    @extend_schema(
        operation_id="balance_delta_emit",
        parameters=[IDEMPOTENCY_HEADER, VENDOR_HEADER],
        request=DeltaItemInputSerializer,
        responses={201: EmitOutputSerializer, 200: EmitOutputSerializer},
    )
    def post(self, request: Request):
        return self.write(request, self._emit)

    def _emit(self) -> tuple[int, dict[str, Any]]:
        body = self.body()
        vendor = vendor_account_for_write(self.tenant, vendor_value(field=body.get("vendorAccountId"), header=self.vendor_header()))
        item = parse_delta_item(body)
        (outcome,) = deltas_accept(
            tenant=self.tenant, environment=self.environment, vendor=vendor, items=[item], actor=tenant_actor(self)
        )
        if outcome.error is not None:
            raise outcome.error
        if outcome.replayed:
            return 200, emit_out(outcome.delta, idempotent=True)
        return 201, emit_out(outcome.delta, idempotent=False, status=DeltaStatus.QUEUED)


def _batch_vendor(view: BalanceView, body: dict[str, Any], items: list[Any]) -> VendorAccount | None:
    """One vendor account for the whole batch: items' own values or the top-level one (api.md §2.2)."""
    top = vendor_value(field=body.get("vendorAccountId"), header=view.vendor_header())
    values = [item.get("vendorAccountId", top) if isinstance(item, dict) else top for item in items]
    values = [top if value is None else value for value in values]
    if not view.tenant.is_middleware:
        if any(value is not None for value in values):
            raise DomainError("VENDOR_ACCOUNT_FORBIDDEN", "Direct tenants must not send vendorAccountId")
        return None
    if any(value is None for value in values):
        raise DomainError("VENDOR_ACCOUNT_REQUIRED", "Every item needs a vendorAccountId (item or top level)")
    if len({str(value) for value in values}) > 1:
        raise DomainError("VENDOR_ACCOUNT_MISMATCH", "A batch may name only one vendor account")
    return vendor_account_for_write(view.tenant, values[0])


def _result(outcome: Outcome, raw: Any) -> dict[str, Any]:
    if outcome.error is not None:
        error = {"code": outcome.error.code, "message": outcome.error.message}
        if outcome.error.details:
            error["details"] = outcome.error.details
        customer = raw.get("customerId") if isinstance(raw, dict) and isinstance(raw.get("customerId"), str) else None
        return {
            "index": outcome.index, "status": DeltaStatus.FAILED, "recordId": None, "customerId": customer,
            "customerRecordId": None, "delta": None, "referenceId": None, "contentHash": None,
            "idempotent": False, "error": error,
        }
    data = emit_out(outcome.delta, idempotent=outcome.replayed,
                    status=None if outcome.replayed else DeltaStatus.QUEUED)
    return {
        "index": outcome.index, "status": data["status"], "recordId": data["recordId"],
        "customerId": data["customerId"], "customerRecordId": data["customerRecordId"], "delta": data["delta"],
        "referenceId": data["referenceId"], "contentHash": data["contentHash"], "idempotent": outcome.replayed,
        "error": None,
    }


class DeltaBatchView(BalanceView):
    idempotency_route = "balance.delta.batch"
    max_body_bytes = 10 * 1024 * 1024

    @extend_schema(
        operation_id="balance_delta_batch",
        parameters=[IDEMPOTENCY_HEADER, VENDOR_HEADER],
        request=BatchInputSerializer,
        responses={200: BatchOutputSerializer},
    )
    def post(self, request: Request):
        return self.write(request, self._batch)

    def _batch(self) -> tuple[int, dict[str, Any]]:
        body = self.body()
        raw_items = body.get("deltas")
        if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_BATCH_ITEMS:
            raise validation_error({"deltas": [f"must be a list of 1–{MAX_BATCH_ITEMS} items"]})
        vendor = _batch_vendor(self, body, raw_items)
        items = [_parse_or_error(raw, index) for index, raw in enumerate(raw_items)]
        outcomes = deltas_accept(
            tenant=self.tenant, environment=self.environment, vendor=vendor, items=items, actor=tenant_actor(self)
        )
        results = [_result(outcome, raw) for outcome, raw in zip(outcomes, raw_items, strict=True)]
        failed = sum(1 for r in results if r["error"] is not None)
        return 200, {
            "totalQueued": len(results) - failed,
            "totalFailed": failed,
            "totalReplayed": sum(1 for r in results if r["idempotent"]),
            "results": results,
        }


def _parse_or_error(raw: Any, index: int):
    try:
        return parse_delta_item(raw, prefix=f"deltas.{index}.")
    except ItemInvalid as invalid:
        return invalid


class DeltaStatusView(BalanceView):
    scoped_model = Delta

    @extend_schema(operation_id="balance_delta_status", responses=DeltaSerializer)
    def get(self, request: Request, record_id: str) -> Response:
        delta = self.get_queryset().filter(record_id=record_id).first()
        if delta is None:
            raise DomainError("NOT_FOUND", "No delta with this recordId")
        return Response(delta_out(delta))
