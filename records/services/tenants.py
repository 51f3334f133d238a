"""Tenants and API keys. A key's secret exists in plaintext only in the return value of its creation."""

from __future__ import annotations

import base64
import secrets

from django.db import transaction
from django.utils import timezone

from pacspace.auth import hash_secret
from pacspace.errors import DomainError
from records.models import ApiKey, Environment, Tenant

KIND_ALIASES = {
    "direct": Tenant.Kind.DIRECT_INFERENCE_VENDOR,
    "middleware": Tenant.Kind.BILLING_MIDDLEWARE,
    Tenant.Kind.DIRECT_INFERENCE_VENDOR: Tenant.Kind.DIRECT_INFERENCE_VENDOR,
    Tenant.Kind.BILLING_MIDDLEWARE: Tenant.Kind.BILLING_MIDDLEWARE,
}
ENVIRONMENT_ALIASES = {
    "test": Environment.SANDBOX,
    "live": Environment.PRODUCTION,
    Environment.SANDBOX: Environment.SANDBOX,
    Environment.PRODUCTION: Environment.PRODUCTION,
}


def resolve_kind(kind: str) -> str:
    if kind not in KIND_ALIASES:
        raise DomainError("VALIDATION_ERROR", f"Unknown tenant kind {kind!r}; use direct or middleware")
    return KIND_ALIASES[kind]


def resolve_environment(environment: str) -> str:
    if environment not in ENVIRONMENT_ALIASES:
        raise DomainError("VALIDATION_ERROR", f"Unknown environment {environment!r}; use test or live")
    return ENVIRONMENT_ALIASES[environment]


@transaction.atomic
def tenant_create(*, name: str, kind: str) -> Tenant:
    """A new active tenant of a known kind."""
    name = name.strip()
    if not name or len(name) > 200:
        raise DomainError("VALIDATION_ERROR", "Tenant name must be 1–200 characters")
    return Tenant.objects.create(name=name, kind=resolve_kind(kind))


def _random_public_id() -> str:
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()  # 16 chars of a-z2-7


def api_key_create(*, tenant: Tenant, environment: str, name: str = "") -> tuple[ApiKey, str]:
    """A new key; returns it with its full plaintext form, which is never stored."""
    environment = resolve_environment(environment)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    key = ApiKey.objects.create(
        tenant=tenant,
        environment=environment,
        name=name[:200],
        public_id=_random_public_id(),
        secret_sha256=hash_secret(secret),
    )
    return key, f"{key.public_key}.{secret}"


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoked keys answer 401 from the next request on."""
    ApiKey.objects.filter(pk=key.pk).update(is_active=False, revoked_at=timezone.now())
    key.refresh_from_db()
    return key
