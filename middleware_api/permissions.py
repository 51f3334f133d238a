"""Only BILLING_MIDDLEWARE tenants may call /api/v1/middleware/* (api.md §1.8)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from pacspace.auth import TenantContext
from pacspace.errors import DomainError


class MiddlewareTenantPermission(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        context = request.user
        if not isinstance(context, TenantContext):
            return False
        if not context.is_middleware:
            raise DomainError(
                "TENANT_KIND_FORBIDDEN", "Middleware routes are available only to BILLING_MIDDLEWARE tenants"
            )
        return True
