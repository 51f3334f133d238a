"""Tenant isolation matrix: every authenticated /api/v1 route, found through the URL resolver (so a new
route is covered automatically), called by each persona. Strangers get nothing and change nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from pacspace.api import PublicAPIView
from records.models import Checkpoint, CustomerRecord
from records.scopes import current_period
from tests.conftest import ApiClient
from tests.records.helpers import emit, seal
from webhooks.models import Delivery, Endpoint


@dataclass(frozen=True)
class Route:
    path: str  # Django route with <str:name> converters
    method: str

    @property
    def is_middleware(self) -> bool:
        return self.path.startswith("api/v1/middleware/")

    @property
    def params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.path)

    def url(self, values: dict[str, str]) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], self.path)


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _methods(callback) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        return sorted(method.upper() for method in actions)
    view = callback.view_class
    return sorted(m.upper() for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head"))


def authenticated_routes() -> list[Route]:
    routes = []
    for path, callback in _walk(get_resolver().url_patterns):
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if not path.startswith("api/v1/") or view is None or issubclass(view, PublicAPIView):
            continue
        if not getattr(view, "authentication_classes", None):
            continue
        routes += [Route(path, method) for method in _methods(callback)]
    return routes


ROUTES = authenticated_routes()


def test_the_matrix_found_every_route_family():
    paths = {route.path for route in ROUTES}
    for expected in ("api/v1/balance/delta", "api/v1/balance/checkpoint", "api/v1/log/checkpoint",
                     "api/v1/middleware/readiness", "api/v1/webhooks/endpoints"):
        assert expected in paths
    assert len(ROUTES) >= 45


@pytest.fixture
def owned(middleware_tenant, vendor_a):
    """One of everything the owner has: delta, record, checkpoint, export, endpoint, event, delivery."""
    data = emit(middleware_tenant, "acct-1", -1, vendor=vendor_a, referenceId="r1").json()["data"]
    middleware_tenant.api.post("/api/v1/webhooks/endpoints", {"url": "http://127.0.0.1:9/hook"})
    seal(middleware_tenant)
    middleware_tenant.api.post("/api/v1/balance/checkpoint", {"customerId": "acct-1", "vendorAccountId": vendor_a.id})
    record = CustomerRecord.objects.get(pk=data["customerRecordId"])
    export = middleware_tenant.api.get(f"/api/v1/middleware/customers/{record.id}/export",
                                       format="pdf", period=current_period()).json()["data"]
    delivery = Delivery.objects.filter(tenant=middleware_tenant.tenant).first()
    return {
        "record_id": data["recordId"], "customer_id": record.id, "customerId": record.id,
        "checkpoint_id": Checkpoint.objects.get().id, "checkpointId": Checkpoint.objects.get().id,
        "vendorAccountId": vendor_a.id, "vendorId": vendor_a.id, "externalCustomerId": "acct-1",
        "exportId": export["exportId"], "endpointId": Endpoint.objects.get().id,
        "deliveryId": delivery.id, "eventId": delivery.event_id,
    }


def _snapshot():
    """Every row of every project table except API keys (their lastUsedAt moves on any call)."""
    state = {}
    for model in [*apps.get_app_config("records").get_models(), *apps.get_app_config("webhooks").get_models()]:
        if model._meta.model_name == "apikey":
            continue
        state[model._meta.label] = sorted(map(repr, model.objects.order_by("pk").values_list()))
    return state


BODIES = {"POST": {}, "PATCH": {}, "DELETE": None, "GET": None}
# Valid parameters where a route checks them before looking the object up (api.md §1.3 order).
QUERIES = {"api/v1/middleware/customers/<str:customerId>/export": {"format": "json"},
           "api/v1/middleware/customers/<str:customerId>/close-package": {"period": current_period()}}


def _call(api: ApiClient, route: Route, owned: dict):
    return api.request(route.method, route.url(owned), BODIES[route.method], query=QUERIES.get(route.path))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} /{r.path}")
def test_stranger_gets_nothing_and_changes_nothing(route, owned, middleware_tenant, other_tenant, direct_tenant):
    before = _snapshot()
    owner_ids = {v for k, v in owned.items() if k not in ("externalCustomerId",)}
    cases = [(ApiClient(None), {401}), (ApiClient("pk_test_" + "a" * 16 + "." + "A" * 43), {401})]
    if route.params:
        cases.append((other_tenant.api, {404, 422}))
    if route.is_middleware:
        cases.append((direct_tenant.api, {403}))
    for api, allowed in cases:
        response = _call(api, route, owned)
        assert response.status_code in allowed, (api.api_key, response.status_code, response.content[:300])
        body = response.content.decode("utf-8", "replace")
        assert response.json()["success"] is False
        assert not any(owner_id in body for owner_id in owner_ids), body[:300]
    assert _snapshot() == before


@pytest.mark.parametrize("route", [r for r in ROUTES if not r.params], ids=lambda r: f"{r.method} /{r.path}")
def test_other_tenant_on_its_own_namespace_sees_none_of_the_owners_data(route, owned, other_tenant):
    response = _call(other_tenant.api, route, owned)
    assert response.status_code < 500
    body = response.content.decode("utf-8", "replace")
    assert not any(owner_id in body for owner_id in owned.values() if owner_id != "acct-1"), body[:300]


