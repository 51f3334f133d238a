"""The one error type services raise; the API exception handler turns it into the spec's envelope."""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE: dict[str, int] = {
    "IDEMPOTENCY_PENDING": 202,
    "VALIDATION_ERROR": 400,
    "INVALID_SCOPE_COMBINATION": 400,
    "SCOPE_TOO_WIDE": 400,
    "INVALID_API_KEY": 401,
    "TENANT_KIND_FORBIDDEN": 403,
    "STEP_UP_REQUIRED": 403,
    "ACCESS_CODE_INVALID": 403,
    "NOT_FOUND": 404,
    "CUSTOMER_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "IDEMPOTENCY_CONFLICT": 409,
    "REFERENCE_CONFLICT": 409,
    "PERIOD_NOT_CLOSED": 409,
    "EXTERNAL_ID_TAKEN": 409,
    "ENDPOINT_DISABLED": 409,
    "EXPORT_NOT_READY": 409,
    "EXPORT_EXPIRED": 410,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "VENDOR_ACCOUNT_REQUIRED": 422,
    "VENDOR_ACCOUNT_FORBIDDEN": 422,
    "VENDOR_ACCOUNT_MISMATCH": 422,
    "VENDOR_ACCOUNT_DISABLED": 422,
    "ADJUSTS_TARGET_NOT_FOUND": 422,
    "RATE_LIMITED": 429,
    "STEP_UP_LOCKED": 429,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}


class DomainError(Exception):
    """A failure with a spec error code; `status` follows the code unless given."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.retry_after = retry_after
        self.status = status or STATUS_BY_CODE[code]

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        if self.retry_after is not None:
            error["retryAfterSeconds"] = self.retry_after
        return {"success": False, "error": error}


def validation_error(fields: dict[str, list[str]], message: str | None = None) -> DomainError:
    """VALIDATION_ERROR with the `{"fields": {path: [messages]}}` details shape of api.md §1.2."""
    if message is None:
        path, messages = next(iter(fields.items()))
        message = f"{path}: {messages[0]}" if path else messages[0]
    return DomainError("VALIDATION_ERROR", message, details={"fields": fields})


def not_found(message: str = "Not found") -> DomainError:
    return DomainError("NOT_FOUND", message)
