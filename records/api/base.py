"""Balance API view helpers: idempotent write responses and customer addressing from a request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request

from pacspace import jsonout
from pacspace.api import TenantAPIView, require_object
from pacspace.errors import DomainError
from records.addressing import customer_record_for_read, vendor_value
from records.models import CustomerRecord
from records.services.idempotency import StoredResponse, check_key, fingerprint, idempotent_run
from records.validation import ItemInvalid

JSON = "application/json"


def _stored(compute: Callable[[], tuple[int, Any]]) -> StoredResponse:
    """Run the write and render its outcome (success or spec error) to the bytes that get stored."""
    try:
        status, data = compute()
    except ItemInvalid as invalid:
        error = invalid.as_error()
        return StoredResponse(error.status, JSON, jsonout.dumps(error.body()))
    except DomainError as error:
        return StoredResponse(error.status, JSON, jsonout.dumps(error.body()))
    return StoredResponse(status, JSON, jsonout.dumps({"success": True, "data": data}))


def _http(stored: StoredResponse, *, replayed: bool = False) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status, content_type=stored.content_type)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class BalanceView(TenantAPIView):
    """Base of Balance API views (both tenant kinds)."""

    idempotency_route: str | None = None

    def vendor_header(self) -> str | None:
        return self.request.headers.get("X-Vendor-Account-Id") or None

    def body(self) -> dict[str, Any]:
        return require_object(self.request.data)

    def write(self, request: Request, compute: Callable[[], tuple[int, Any]]) -> HttpResponse:
        """Parse first (400), then `Idempotency-Key` (202/409/replay), then the write (api.md §1.3)."""
        self.body()
        key = check_key(request.headers.get("Idempotency-Key"))
        if key is None or self.idempotency_route is None:
            return _http(_stored(compute))
        stored, replayed = idempotent_run(
            tenant=self.tenant, environment=self.environment, route=self.idempotency_route, key=key,
            print_=fingerprint(self.vendor_header(), request._request.body), run=lambda: _stored(compute),
        )
        return _http(stored, replayed=replayed)

    def customer_record(self, customer_id: str, vendor_field: Any = None) -> CustomerRecord:
        vendor = vendor_value(
            field=vendor_field if vendor_field is not None else self.request.query_params.get("vendorAccountId"),
            header=self.vendor_header(),
        )
        return customer_record_for_read(
            tenant=self.tenant, environment=self.environment, customer_id=customer_id, vendor=vendor
        )
