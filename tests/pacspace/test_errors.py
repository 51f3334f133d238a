"""Every error under /api/ is the spec's JSON envelope (api.md §1.2–1.3), never HTML."""

import pytest

from records.models import VendorAccount

VENDOR_ACCOUNTS = "/api/v1/middleware/vendor-accounts"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code
    return body["error"]


def test_unknown_api_route_is_json_404(middleware_tenant):
    _error(middleware_tenant.api.get("/api/v1/nothing-here"), 404, "NOT_FOUND")


def test_trailing_slash_is_404_not_redirect(middleware_tenant):
    _error(middleware_tenant.api.get(VENDOR_ACCOUNTS + "/"), 404, "NOT_FOUND")


def test_wrong_method_is_405(middleware_tenant):
    _error(middleware_tenant.api.request("DELETE", VENDOR_ACCOUNTS), 405, "METHOD_NOT_ALLOWED")


def test_unparsable_json_is_validation_error(middleware_tenant):
    _error(middleware_tenant.api.post(VENDOR_ACCOUNTS, raw=b'{"displayName": '), 400, "VALIDATION_ERROR")
    assert VendorAccount.objects.filter(tenant=middleware_tenant.tenant).count() == 2


@pytest.mark.parametrize(
    "raw",
    [
        b'{"displayName": "A", "displayName": "B"}',
        b'{"displayName": NaN}',
        b'{"displayName": Infinity}',
        b'{"displayName": "a\\u0000b"}',
        b'{"a\\u0000": 1, "displayName": "x"}',
        b"\xff\xfe",
    ],
)
def test_inexact_json_is_refused_and_nothing_written(middleware_tenant, raw):
    _error(middleware_tenant.api.post(VENDOR_ACCOUNTS, raw=raw), 400, "VALIDATION_ERROR")
    assert VendorAccount.objects.filter(tenant=middleware_tenant.tenant).count() == 2


def test_non_json_body_is_415(middleware_tenant):
    response = middleware_tenant.api.post(VENDOR_ACCOUNTS, raw=b"displayName=x", content_type="text/plain")
    _error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_body_over_limit_is_413(middleware_tenant):
    raw = b'{"displayName": "' + b"x" * (256 * 1024) + b'"}'
    _error(middleware_tenant.api.post(VENDOR_ACCOUNTS, raw=raw), 413, "PAYLOAD_TOO_LARGE")


def test_validation_error_names_the_field(middleware_tenant):
    error = _error(middleware_tenant.api.post(VENDOR_ACCOUNTS, {"displayName": ""}), 400, "VALIDATION_ERROR")
    assert error["details"] == {"fields": {"displayName": ["must be a string of 1–200 characters"]}}


def test_bad_query_parameter_is_400(middleware_tenant):
    error = _error(middleware_tenant.api.get(VENDOR_ACCOUNTS, limit="500"), 400, "VALIDATION_ERROR")
    assert error["details"] == {"fields": {"limit": ["must be between 1 and 200"]}}


@pytest.mark.urls("tests.pacspace.boom_urls")
def test_unexpected_exception_is_json_500_without_trace(middleware_tenant):
    error = _error(middleware_tenant.api.get("/api/v1/boom"), 500, "INTERNAL_ERROR")
    assert error == {"code": "INTERNAL_ERROR", "message": "Internal error"}


def test_responses_carry_request_id(middleware_tenant):
    response = middleware_tenant.api.get(VENDOR_ACCOUNTS)
    assert len(response["X-Request-Id"]) == 32
    echoed = middleware_tenant.api.request("GET", VENDOR_ACCOUNTS, headers={"X-Request-Id": "abc-123"})
    assert echoed["X-Request-Id"] == "abc-123"
    unsafe = middleware_tenant.api.request("GET", VENDOR_ACCOUNTS, headers={"X-Request-Id": "a b<c>"})
    assert unsafe["X-Request-Id"] != "a b<c>"


def test_get_with_json_content_type_and_no_body_is_fine(middleware_tenant):
    # The PacSpace SDK sends Content-Type: application/json on every GET.
    assert middleware_tenant.api.get(VENDOR_ACCOUNTS).status_code == 200
