"""API-key authentication (api.md §1.4). Kept apart from `pacspace.api` because DRF imports it
while `rest_framework.views` is still loading."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from pacspace.rows import Rows
from records.models import ApiKey, Environment, Tenant

API_KEY_PATTERN = re.compile(r"^pk_(test|live)_([a-z2-7]{16})\.([A-Za-z0-9_-]{43})$")
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TenantContext:
    """What a valid API key resolves to; stands in for `request.user` on API routes."""

    tenant: Tenant
    environment: str
    api_key: ApiKey
    is_authenticated: bool = True

    @property
    def is_middleware(self) -> bool:
        return self.tenant.is_middleware


_KEYS = Rows(ApiKey, "k")
_TENANTS = Rows(Tenant, "t")


def _key_with_tenant(public_id: str) -> ApiKey | None:
    """The key and its tenant in one statement (every API request runs this; see pacspace.rows)."""
    sql = (
        f"SELECT {_KEYS.columns}, {_TENANTS.columns} FROM {_KEYS.table} JOIN {_TENANTS.table}"
        f" ON t.id = k.tenant_id WHERE k.public_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [public_id])
        row = cursor.fetchone()
    if row is None:
        return None
    key = _KEYS.load(row[: _KEYS.width])
    ApiKey.tenant.field.set_cached_value(key, _TENANTS.load(row[_KEYS.width :]))
    return key


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _invalid_key() -> drf_exceptions.AuthenticationFailed:
    return drf_exceptions.AuthenticationFailed("Missing or invalid API key")


class ApiKeyAuthentication(BaseAuthentication):
    """`X-Api-Key: pk_{test|live}_{publicId}.{secret}`; the prefix selects the environment."""

    def authenticate(self, request: Request) -> tuple[TenantContext, ApiKey]:
        raw = request.headers.get("X-Api-Key", "")
        match = API_KEY_PATTERN.fullmatch(raw)
        if match is None:
            raise _invalid_key()
        prefix, public_id, secret = match.groups()
        key = _key_with_tenant(public_id)
        # Hash even when the key is unknown so timing does not reveal which public ids exist.
        supplied = hash_secret(secret)
        expected = key.secret_sha256 if key else "0" * 64
        if key is None or not hmac.compare_digest(supplied, expected):
            raise _invalid_key()
        environment = Environment.SANDBOX if prefix == "test" else Environment.PRODUCTION
        if not key.is_active or key.environment != environment or not key.tenant.is_active:
            raise _invalid_key()
        self._touch(key)
        request._request.tenant_id_for_log = key.tenant_id
        return TenantContext(tenant=key.tenant, environment=environment, api_key=key), key

    @staticmethod
    def _touch(key: ApiKey) -> None:
        """At most one write per key per minute; the conditional UPDATE makes concurrent touches one."""
        now = timezone.now()
        if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
            return
        stale = now - LAST_USED_RESOLUTION
        ApiKey.objects.filter(pk=key.pk).filter(
            last_used_at__isnull=True
        ).update(last_used_at=now) or ApiKey.objects.filter(pk=key.pk, last_used_at__lt=stale).update(
            last_used_at=now
        )

    def authenticate_header(self, request: Request) -> str:
        return "X-Api-Key"


class IsTenantAuthenticated(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        return isinstance(request.user, TenantContext)
