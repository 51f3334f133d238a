"""Property-based API fuzzing with schemathesis against our own OpenAPI document (issue: hardening).

Bounded: a few examples per operation, with valid keys of a seeded middleware tenant. Every answer must
be below 500, match its documented schema, and every error must be the spec's JSON envelope.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from django.core import signals
from django.db import close_old_connections

from pacspace.errors import STATUS_BY_CODE
from pacspace.wsgi import application
from tests.records.helpers import emit, seal

schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", application)

MAX_EXAMPLES = 4


@pytest.fixture
def fuzz_headers(middleware_tenant, vendor_a):
    """A seeded middleware tenant's key. The WSGI app would close the test's DB connection at the end
    of every request (Django's request signals), so those handlers are off, as in Django's test client."""
    emit(middleware_tenant, "acct-1", -1, vendor=vendor_a)
    seal(middleware_tenant)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield {"X-Api-Key": middleware_tenant.api_key}
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _assert_envelope(response) -> None:
    if response.status_code < 400 and response.status_code != 202:
        return
    body = response.json()
    assert body["success"] is False, body
    assert body["error"]["code"] in STATUS_BY_CODE, body
    assert isinstance(body["error"]["message"], str)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
@pytest.mark.django_db
def test_api_conforms_to_its_schema(case, fuzz_headers, settings):
    settings.RATE_LIMIT_PER_MINUTE = 10**9
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 10**9
    response = case.call(headers=fuzz_headers)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    if response.headers.get("Content-Type", [""])[0].startswith("application/json"):
        _assert_envelope(response)
