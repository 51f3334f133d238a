"""API foundation: the tenant-scoped view bases, the error handler, query parsing and paging.

Every tenant API view inherits `TenantAPIView` or `TenantViewSet`. They resolve tenant and environment
once from the key and hand out querysets that are already scoped; `get_queryset` cannot be overridden.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from pacspace.auth import TenantContext
from pacspace.errors import DomainError, validation_error
from pacspace.net import client_ip
from pacspace.ratelimit import rate_limit_hit
from pacspace.rendering import ErrorBody
from records.models import Tenant

logger = logging.getLogger("pacspace.api")

DEFAULT_MAX_BODY = 256 * 1024


def error_response(error: DomainError) -> Response:
    response = Response(ErrorBody(error.body()), status=error.status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as `{"dotted.path": [messages]}`."""
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            path = prefix if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else str(key))
            fields.update(_flatten(value, path))
        return fields
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix: [str(item) for item in detail]}
        fields = {}
        for index, value in enumerate(detail):
            fields.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return fields
    return {prefix: [str(detail)]}


def _to_domain_error(exc: Exception) -> DomainError:
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten(exc.detail) or {"": ["invalid input"]}
        return validation_error(fields)
    if isinstance(exc, drf_exceptions.ParseError):
        return DomainError("VALIDATION_ERROR", str(exc.detail))
    if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        return DomainError("INVALID_API_KEY", "Missing or invalid API key")
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return DomainError("UNSUPPORTED_MEDIA_TYPE", "Request body must be application/json")
    if isinstance(exc, (drf_exceptions.NotFound, Http404)):
        return DomainError("NOT_FOUND", "Not found")
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return DomainError("METHOD_NOT_ALLOWED", str(exc.detail))
    if isinstance(exc, drf_exceptions.Throttled):
        return DomainError("RATE_LIMITED", "Rate limit exceeded", retry_after=int(exc.wait or 1))
    if isinstance(exc, RequestDataTooBig):
        return DomainError("PAYLOAD_TOO_LARGE", "Request body too large")
    if isinstance(exc, (drf_exceptions.PermissionDenied, DjangoPermissionDenied)):
        return DomainError("NOT_FOUND", "Not found")
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return DomainError("VALIDATION_ERROR", "Only application/json responses are available")
    logger.exception("Unhandled error in API view", exc_info=exc)
    return DomainError("INTERNAL_ERROR", "Internal error")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The one place that turns any exception raised in an API view into the spec's envelope."""
    return error_response(_to_domain_error(exc))


# --- Query parameters -------------------------------------------------------------------------
def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,12}", raw):
        raise validation_error({name: ["must be an integer"]})
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise validation_error({name: [f"must be {bound}"]})
    return value


def query_str(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise validation_error({name: ["must not contain U+0000"]})
    return value


def require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DomainError("VALIDATION_ERROR", "Request body must be a JSON object")
    return data


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def slice(self, queryset: QuerySet | list) -> tuple[list, int]:
        total = queryset.count() if isinstance(queryset, QuerySet) else len(queryset)
        return list(queryset[self.offset : self.offset + self.limit]), total

    def envelope(self, items: list, total: int, **extra: Any) -> dict[str, Any]:
        return {"items": items, "total": total, "limit": self.limit, "offset": self.offset, **extra}


def page_params(request: Request, *, default: int = 50, maximum: int = 200) -> Page:
    return Page(
        limit=query_int(request, "limit", default=default, minimum=1, maximum=maximum),
        offset=query_int(request, "offset", default=0, minimum=0),
    )


# --- View bases -------------------------------------------------------------------------------
class _ScopedMixin:
    """Resolves tenant/environment once; querysets come back already scoped to them.

    Subclasses set `scoped_model` and, for tenant-wide models shared by both environments,
    `environment_scoped = False`. They refine with `scope_queryset(qs)`, never `get_queryset`.
    """

    scoped_model: type[Model] | None = None
    environment_scoped = True
    max_body_bytes = DEFAULT_MAX_BODY

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not override get_queryset; use scope_queryset")

    @property
    def context(self) -> TenantContext:
        return self.request.user

    @property
    def tenant(self) -> Tenant:
        return self.context.tenant

    @property
    def environment(self) -> str:
        return self.context.environment

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Order of api.md §1.3: auth → rate limit → tenant kind → body size → content type → parse.
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        self.perform_authentication(request)
        self.check_throttles(request)
        self.check_permissions(request)
        self.check_body_size(request)

    def check_throttles(self, request: Request) -> None:
        context = request.user
        if isinstance(context, TenantContext):
            rate_limit_hit(surface="api", subject=context.api_key.id, limit=settings.RATE_LIMIT_PER_MINUTE)

    def check_body_size(self, request: Request) -> None:
        if request.method in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise DomainError("PAYLOAD_TOO_LARGE", f"Request body over {self.max_body_bytes} bytes")
        if len(request._request.body) > self.max_body_bytes:
            raise DomainError("PAYLOAD_TOO_LARGE", f"Request body over {self.max_body_bytes} bytes")

    def base_queryset(self) -> QuerySet:
        assert self.scoped_model is not None, f"{type(self).__name__}.scoped_model is not set"
        queryset = self.scoped_model._default_manager.filter(tenant=self.tenant)
        if self.environment_scoped:
            queryset = queryset.filter(environment=self.environment)
        return queryset

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no tenant
            return self.scoped_model._default_manager.none()
        return self.scope_queryset(self.base_queryset())


class TenantAPIView(_ScopedMixin, APIView):
    """Base for every API-key view that is not a ViewSet."""


class TenantViewSet(_ScopedMixin, GenericViewSet):
    """Base for every API-key ViewSet; `lookup_field` objects are found inside the scoped queryset."""

    lookup_value_regex = "[^/]+"


class PublicAPIView(APIView):
    """Routes without a key (verify, Shared Record JSON, log key); limited per client address."""

    authentication_classes: list = []
    permission_classes: list = []

    def check_throttles(self, request: Request) -> None:
        public_rate_limit(request._request)


def public_rate_limit(request) -> None:
    """PUBLIC_RATE_LIMIT_PER_MINUTE per client address (api.md §1.11); also used by the HTML pages."""
    rate_limit_hit(surface="public", subject=client_ip(request), limit=settings.PUBLIC_RATE_LIMIT_PER_MINUTE)
