"""What every middleware route shares: the tenant-kind gate, the key, isolation from other tenants
and environments, and its OpenAPI description (api.md §1.8, §4, §7)."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from records.models import ExportJob
from tests.conftest import make_persona
from tests.middleware_api.conftest import BASE, Scenario, data_of, error_of

# Every route of api.md §4, as (method, OpenAPI path).
ROUTES = [
    ("get", "/vendor-accounts"),
    ("post", "/vendor-accounts"),
    ("get", "/vendor-accounts/{vendorAccountId}"),
    ("patch", "/vendor-accounts/{vendorAccountId}"),
    ("get", "/vendors/{vendorId}/customers/{externalCustomerId}/record"),
    ("get", "/readiness"),
    ("get", "/customers/{customerId}/live"),
    ("get", "/customers/{customerId}/periods"),
    ("get", "/customers/{customerId}/periods/{checkpointId}"),
    ("get", "/customers/{customerId}/period/{checkpointId}"),
    ("get", "/customers/{customerId}/close-package"),
    ("get", "/customers/{customerId}/access-link"),
    ("patch", "/customers/{customerId}/access-link"),
    ("post", "/customers/{customerId}/access-link/rotate-code"),
    ("post", "/customers/{customerId}/access-link/reissue"),
    ("post", "/customers/{customerId}/access-link/revoke"),
    ("post", "/customers/{customerId}/compare"),
    ("get", "/customers/{customerId}/export"),
    ("get", "/exports/{exportId}"),
    ("get", "/exports/{exportId}/download"),
]
WITH_BODY = {("post", "/vendor-accounts"), ("patch", "/vendor-accounts/{vendorAccountId}"),
             ("patch", "/customers/{customerId}/access-link"), ("post", "/customers/{customerId}/access-link/reissue"),
             ("post", "/customers/{customerId}/compare")}


def export_job(scenario: Scenario) -> ExportJob:
    checkpoint = scenario.checkpoints[("a1", scenario.p1)]
    return ExportJob.objects.create(
        tenant=scenario.tenant, environment="sandbox", customer_record=scenario.records["a1"], format="pdf",
        basis="checkpoint", period=scenario.p1, checkpoint=checkpoint, window_start=checkpoint.window_start,
        window_end=checkpoint.window_end, snapshot=checkpoint.id, requested_by="tenant_api")


def calls(scenario: Scenario, export_id: str) -> list[tuple[str, str, object]]:
    """One concrete request per customer-scoped route, aimed at the scenario's record a1."""
    customer = f"{BASE}/customers/{scenario.records['a1'].id}"
    checkpoint = scenario.checkpoints[("a1", scenario.p1)].id
    return [
        ("GET", f"{BASE}/vendors/{scenario.vendor_a.id}/customers/acct-1/record", None),
        ("GET", f"{customer}/live", None),
        ("GET", f"{customer}/periods", None),
        ("GET", f"{customer}/periods/{checkpoint}", None),
        ("GET", f"{customer}/period/{checkpoint}", None),
        ("GET", f"{customer}/close-package?period={scenario.p1}", None),
        ("GET", f"{customer}/access-link", None),
        ("PATCH", f"{customer}/access-link", {"policy": "OPEN"}),
        ("POST", f"{customer}/access-link/rotate-code", {}),
        ("POST", f"{customer}/access-link/reissue", {"rotateCode": True}),
        ("POST", f"{customer}/access-link/revoke", {}),
        ("POST", f"{customer}/compare", {"fromPeriod": scenario.p1, "toPeriod": scenario.p2}),
        ("GET", f"{customer}/export?format=json", None),
        ("GET", f"{customer}/export?format=bundle&period={scenario.p1}", None),
        ("GET", f"{BASE}/exports/{export_id}", None),
        ("GET", f"{BASE}/exports/{export_id}/download", None),
    ]


def test_direct_tenant_is_forbidden_before_anything_else(scenario, direct_tenant, unchanged):
    job = export_job(scenario)
    with unchanged():
        for method, path, body in [*calls(scenario, job.id), ("GET", f"{BASE}/readiness?period=bad", None)]:
            response = direct_tenant.api.request(method, path, body)
            error = error_of(response, 403, "TENANT_KIND_FORBIDDEN")
            assert error["message"] == "Middleware routes are available only to BILLING_MIDDLEWARE tenants"
            # Even a body that would not parse: the tenant kind is checked first (api.md §1.3).
            if method != "GET":
                error_of(direct_tenant.api.request(method, path, raw=b"{not json"), 403, "TENANT_KIND_FORBIDDEN")


def test_missing_key_is_401(scenario, anonymous, unchanged):
    job = export_job(scenario)
    with unchanged():
        for method, path, body in calls(scenario, job.id):
            error_of(anonymous.request(method, path, body), 401, "INVALID_API_KEY")


def test_other_tenant_gets_404_and_changes_nothing(scenario, other_tenant, unchanged):
    job = export_job(scenario)
    with unchanged():
        for method, path, body in calls(scenario, job.id):
            response = other_tenant.api.request(method, path, body)
            expected = "NOT_FOUND" if "/exports/" in path or "/vendors/" in path else "CUSTOMER_NOT_FOUND"
            error = error_of(response, 404, expected)
            assert scenario.records["a1"].id not in error["message"]
        # Its own vendor account happens to share the externalId "acme": still none of our records.
        error_of(other_tenant.api.get(f"{BASE}/vendors/acme/customers/acct-1/record"), 404, "CUSTOMER_NOT_FOUND")
        assert data_of(other_tenant.api.get(f"{BASE}/readiness", period=scenario.p2))["items"] == []


def test_production_key_gets_404_on_sandbox_records(scenario, unchanged):
    job = export_job(scenario)
    live = make_persona(scenario.tenant, environment="live")
    with unchanged():
        for method, path, body in calls(scenario, job.id):
            assert live.api.request(method, path, body).status_code == 404, path


def test_trailing_slash_is_404(scenario):
    error_of(scenario.api.get(f"{BASE}/readiness/"), 404, "NOT_FOUND")


def test_wrong_method_is_405(scenario):
    error_of(scenario.api.post(f"{BASE}/customers/{scenario.records['a1'].id}/live"), 405, "METHOD_NOT_ALLOWED")


@pytest.fixture(scope="module")
def openapi(tmp_path_factory, django_db_blocker) -> dict:
    """The generated document; `--fail-on-warn` makes a schema warning fail this fixture."""
    target = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--fail-on-warn", "--file", str(target))
    return yaml.safe_load(target.read_text())


def _json_schema(response: dict) -> dict | None:
    for content in response.get("content", {}).values():
        if "schema" in content:
            return content["schema"]
    return None


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_openapi_documents_the_route(openapi, method, path):
    operation = openapi["paths"][f"/api/v1/middleware{path}"][method]
    success = [code for code in operation["responses"] if code.startswith("2")]
    assert success, operation["responses"]
    assert all(_json_schema(operation["responses"][code]) for code in success)
    assert _json_schema(operation["responses"]["default"]) == {"$ref": "#/components/schemas/ErrorEnvelope"}
    if (method, path) in WITH_BODY:
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        assert {"in": "path", "name": name} in [{"in": p["in"], "name": p["name"]} for p in operation["parameters"]]


def test_openapi_envelopes_json_answers_but_not_files(openapi):
    live = openapi["paths"]["/api/v1/middleware/customers/{customerId}/live"]["get"]["responses"]["200"]
    schema = live["content"]["application/json"]["schema"]
    assert schema["properties"]["data"] == {"$ref": "#/components/schemas/Live"}
    download = openapi["paths"]["/api/v1/middleware/exports/{exportId}/download"]["get"]["responses"]["200"]
    assert set(download["content"]) == {"application/json", "text/csv", "application/pdf", "application/zip"}
    assert download["content"]["application/zip"]["schema"] == {"type": "string", "format": "binary"}
