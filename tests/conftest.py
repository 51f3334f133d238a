"""Personas (STYLE.md): `direct_tenant`, `middleware_tenant` with `vendor_a`/`vendor_b`, `other_tenant`.

Each persona carries its tenant, a sandbox API key and a client that sends that key. Clients enforce
CSRF checks, as a browser-less integration would meet them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from records.models import Tenant, VendorAccount
from records.services.tenants import api_key_create
from tests.factories import MiddlewareTenantFactory, TenantFactory, VendorAccountFactory

MIDDLEWARE_NAME_MARKER = "ZZ-PARENT-MIDDLEWARE-7Q"


class ApiClient:
    """A Django test client that sends one API key and JSON bodies."""

    def __init__(self, api_key: str | None) -> None:
        self.api_key = api_key
        self.client = Client(enforce_csrf_checks=True)

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                content_type: str = "application/json", headers: dict[str, str] | None = None,
                query: dict[str, Any] | None = None):
        all_headers = dict(headers or {})
        if self.api_key is not None:
            all_headers.setdefault("X-Api-Key", self.api_key)
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        if query:
            from urllib.parse import urlencode

            path = f"{path}?{urlencode(query)}"
        return self.client.generic(method, path, data=data, content_type=content_type, headers=all_headers)

    def get(self, path: str, **query: Any):
        return self.request("GET", path, query=query or None)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("POST", path, body if body is not None else {}, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any):
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)


@dataclass
class Persona:
    tenant: Tenant
    api_key: str
    api: ApiClient
    vendors: dict[str, VendorAccount] = field(default_factory=dict)


def make_persona(tenant: Tenant, environment: str = "test") -> Persona:
    _key, plaintext = api_key_create(tenant=tenant, environment=environment, name="tests")
    return Persona(tenant=tenant, api_key=plaintext, api=ApiClient(plaintext))


@pytest.fixture
def direct_tenant(db) -> Persona:
    return make_persona(TenantFactory(name="Direct Vendor Inc"))


@pytest.fixture
def middleware_tenant(db) -> Persona:
    persona = make_persona(MiddlewareTenantFactory(name=f"Billing Middleware {MIDDLEWARE_NAME_MARKER}"))
    persona.vendors["a"] = VendorAccountFactory(tenant=persona.tenant, display_name="Acme Inference", external_id="acme")
    persona.vendors["b"] = VendorAccountFactory(tenant=persona.tenant, display_name="Nimbus Models", external_id="nimbus")
    return persona


@pytest.fixture
def vendor_a(middleware_tenant: Persona) -> VendorAccount:
    return middleware_tenant.vendors["a"]


@pytest.fixture
def vendor_b(middleware_tenant: Persona) -> VendorAccount:
    return middleware_tenant.vendors["b"]


@pytest.fixture
def other_tenant(db) -> Persona:
    persona = make_persona(MiddlewareTenantFactory(name="Other Middleware"))
    persona.vendors["x"] = VendorAccountFactory(tenant=persona.tenant, display_name="Other Vendor", external_id="acme")
    return persona


@pytest.fixture
def anonymous() -> ApiClient:
    return ApiClient(None)


@pytest.fixture
def staff(db) -> Client:
    """A logged-in superuser for Django admin pages."""
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def pytest_collection_modifyitems(config, items) -> None:
    """Skip service-only tests, with the reason, when make test fell back (never with CI=true)."""
    import os

    from django.conf import settings

    pg_reason = os.environ.get("PACSPACE_TEST_SKIP_POSTGRES") or (
        None if settings.IS_POSTGRES else "DATABASE_URL is not PostgreSQL"
    )
    redis_reason = os.environ.get("PACSPACE_TEST_SKIP_REDIS") or (
        None if settings.REDIS_URL else "REDIS_URL is not set"
    )
    for item in items:
        if pg_reason and ("postgres" in item.keywords or "celery_worker" in item.keywords):
            item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL: {pg_reason}"))
        elif redis_reason and "celery_worker" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"needs Redis and a Celery worker: {redis_reason}"))


def pytest_terminal_summary(terminalreporter) -> None:
    """Say loudly when service-only tests did not run (make test outside CI without PostgreSQL/Redis)."""
    skipped = terminalreporter.stats.get("skipped", [])
    service = [r for r in skipped if "needs PostgreSQL" in str(r.longrepr) or "needs Redis" in str(r.longrepr)]
    if service:
        terminalreporter.write_line(
            f"NOTE: {len(service)} test(s) skipped because a service was unavailable (see the reasons above)",
            yellow=True,
        )
