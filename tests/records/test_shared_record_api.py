"""Shared Record JSON routes (api.md §5.1–5.2): policy × tier, exact values, 404 indistinguishability,
headers, the access log and the view events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from records.models import AccessLogEntry, SharedRecord
from records.services.shared_records import shared_record_reissue, shared_record_revoke, viewer_hash
from tests.conftest import MIDDLEWARE_NAME_MARKER
from tests.records.shared_record_support import (
    CLIENT_IP,
    OTHER_IP,
    POLICIES,
    STAFF,
    assert_shared_headers,
    brief_json,
    browser,
    data_of,
    entry_json,
    error_of,
    identity_of,
    period_json,
    post_json,
    roomy_public_rate_limit,  # noqa: F401 - autouse fixture
    scenario,  # noqa: F401 - fixture
    ts,
    unlock,
)
from webhooks.models import Event

VIEWED = "customer.shared_record_viewed"


def detail_requests(s):
    """Every detail route but the exports (tested in test_shared_record_exports.py), as (method, path, body)."""
    checkpoint = s.checkpoints[s.p2].id
    return [
        ("GET", s.api(suffix="/activity"), None),
        ("GET", s.api(suffix="/periods"), None),
        ("GET", s.api(suffix=f"/periods/{checkpoint}"), None),
        ("GET", s.api(suffix=f"/period/{checkpoint}"), None),
        ("POST", s.api(suffix="/compare"), {"fromPeriod": s.p1, "toPeriod": s.p2}),
    ]


def call(client: Client, method: str, path: str, body=None):
    return client.get(path) if method == "GET" else post_json(client, path, body or {})


def links(handle: str) -> dict[str, str]:
    base = f"/api/v1/c/{handle}"
    return {"activity": f"{base}/activity", "periods": f"{base}/periods", "compare": f"{base}/compare",
            "export": f"{base}/export", "accessVerify": f"{base}/access/verify"}


# --- Summary ---------------------------------------------------------------------------------------------
def test_two_tier_summary_is_open_with_brief_records(scenario, vendor_a):
    s = scenario
    response = browser().get(s.api())
    assert_shared_headers(response)
    p2_end = s.checkpoints[s.p2].window_end
    assert data_of(response) == {
        "handle": s.handle(), "policy": "TWO_TIER", "environment": "sandbox", "identity": identity_of(vendor_a),
        "unlocked": False, "stepUpRequired": True, "unlockExpiresAt": None,
        "period": s.current, "recordedThisPeriod": Decimal("-4.25"), "recordCountThisCycle": 2,
        "verifiedThrough": ts(p2_end),
        "recentRecords": [brief_json(s.delta("u6"), "recording"), brief_json(s.delta("u5"), "recorded"),
                          brief_json(s.delta("u4"), "verified"), brief_json(s.delta("u3"), "verified"),
                          brief_json(s.delta("credit"), "verified")],
        "links": links(s.handle()),
    }


def test_unlocked_summary_shows_full_entries_and_the_unlock_expiry(scenario):
    s, client = scenario, browser()
    expires = data_of(unlock(client, s))["expiresAt"]
    data = data_of(client.get(s.api()))
    assert (data["unlocked"], data["stepUpRequired"], data["unlockExpiresAt"]) == (True, False, expires)
    assert data["recentRecords"][:2] == [entry_json(s.delta("u6"), "recording"), entry_json(s.delta("u5"), "recorded")]
    assert data["recentRecords"][4] == entry_json(s.delta("credit"), "verified")


def test_gated_summary_shows_only_identity_policy_and_step_up(scenario, vendor_a):
    s = scenario
    s.set_policy("GATED")
    data = data_of(browser().get(s.api()))
    assert data == {
        "handle": s.handle(), "policy": "GATED", "environment": "sandbox", "identity": identity_of(vendor_a),
        "unlocked": False, "stepUpRequired": True, "unlockExpiresAt": None, "period": None,
        "recordedThisPeriod": None, "recordCountThisCycle": None, "verifiedThrough": None, "recentRecords": None,
        "links": None,
    }
    entry = AccessLogEntry.objects.get(customer_record=s.records["main"])
    assert (entry.action, entry.tier, entry.page, entry.surface) == ("view", "summary", "landing", "api")


def test_gated_summary_opens_with_the_code(scenario):
    s, client = scenario, browser()
    s.set_policy("GATED")
    unlock(client, s)
    data = data_of(client.get(s.api()))
    assert (data["unlocked"], data["recordCountThisCycle"], data["recentRecords"][0]) == (
        True, 2, entry_json(s.delta("u6"), "recording"))


def test_open_summary_is_unlocked_without_a_cookie(scenario):
    s = scenario
    s.set_policy("OPEN")
    data = data_of(browser().get(s.api()))
    assert (data["policy"], data["unlocked"], data["stepUpRequired"], data["unlockExpiresAt"]) == (
        "OPEN", True, False, None)
    assert data["recentRecords"][1] == entry_json(s.delta("u5"), "recorded")


def test_tenant_default_policy_applies_when_the_link_has_none(scenario):
    s = scenario
    s.persona.tenant.default_shared_record_policy = "GATED"
    s.persona.tenant.save()
    assert data_of(browser().get(s.api()))["policy"] == "GATED"


def test_handle_is_matched_case_insensitively(scenario):
    s = scenario
    assert data_of(browser().get(f"/api/v1/c/{s.handle().upper()}"))["handle"] == s.handle()


# --- Policy × tier matrix --------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("unlocked", [False, True])
def test_policy_tier_matrix(scenario, policy, unlocked):
    s, client = scenario, browser()
    s.set_policy(policy)
    if unlocked:
        unlock(client, s)
    summary = data_of(client.get(s.api()))
    assert summary["unlocked"] is (unlocked or policy == "OPEN")
    assert (summary["recordCountThisCycle"] is None) is (policy == "GATED" and not unlocked)
    for method, path, body in detail_requests(s):
        response = call(client, method, path, body)
        assert_shared_headers(response)
        if unlocked or policy == "OPEN":
            assert response.status_code == 200, (method, path, response.content[:300])
        else:
            error = error_of(response, 403, "STEP_UP_REQUIRED")
            assert error["message"] == "Enter the access code to see the details of this record"


def test_refused_detail_routes_log_and_fire_nothing(scenario):
    s = scenario
    events = Event.objects.count()
    for method, path, body in detail_requests(s):
        call(browser(), method, path, body)
    assert AccessLogEntry.objects.filter(customer_record=s.records["main"]).count() == 0
    assert Event.objects.count() == events


# --- Detail routes ----------------------------------------------------------------------------------------
def test_activity_defaults_to_the_current_period_newest_first(scenario):
    s, client = scenario, browser()
    unlock(client, s)
    assert data_of(client.get(s.api(suffix="/activity"))) == {
        "items": [entry_json(s.delta("u6"), "recording"), entry_json(s.delta("u5"), "recorded")],
        "total": 2, "limit": 50, "offset": 0,
    }
    page = data_of(client.get(s.api(suffix="/activity"), {"period": s.p1, "limit": 1, "offset": 1}))
    assert page == {"items": [entry_json(s.delta("u2"), "verified")], "total": 3, "limit": 1, "offset": 1}


@pytest.mark.parametrize("query", [{"period": "2026-13"}, {"limit": "0"}, {"offset": "-1"}, {"limit": "abc"}])
def test_activity_bad_query_is_400(scenario, query):
    s, client = scenario, browser()
    unlock(client, s)
    error_of(client.get(s.api(suffix="/activity"), query), 400, "VALIDATION_ERROR")


def test_periods_list_newest_first(scenario):
    s, client = scenario, browser()
    unlock(client, s)
    assert data_of(client.get(s.api(suffix="/periods"))) == {
        "items": [period_json(s.checkpoints[s.p2]), period_json(s.checkpoints[s.p1])],
        "total": 2, "limit": 50, "offset": 0,
    }


def test_period_detail_and_its_alias(scenario, vendor_a):
    s, client = scenario, browser()
    unlock(client, s)
    checkpoint = s.checkpoints[s.p1]
    data = data_of(client.get(s.api(suffix=f"/periods/{checkpoint.id}")))
    assert data == {
        "period": period_json(checkpoint), "identity": identity_of(vendor_a), "customerId": s.records["main"].id,
        "externalCustomerId": "acct-1", "vendorAccountId": vendor_a.id,
        "records": {"items": [entry_json(s.delta(n), "verified") for n in ("u1", "u2", "credit")],
                    "total": 3, "limit": 500, "offset": 0},
    }
    assert data_of(client.get(s.api(suffix=f"/period/{checkpoint.id}"))) == data


def test_period_of_another_record_is_404(scenario):
    s, client = scenario, browser()
    unlock(client, s, "other")
    error_of(client.get(s.api("other", f"/periods/{s.checkpoints[s.p1].id}")), 404, "NOT_FOUND")
    error_of(client.get(s.api("other", "/periods/chk_zzzzzzzzzzzzzzzzzzzz")), 404, "NOT_FOUND")


def test_compare_runs_as_the_visitor(scenario, vendor_a):
    s, client = scenario, browser()
    unlock(client, s)
    data = data_of(post_json(client, s.api(suffix="/compare"), {"fromPeriod": s.p1, "toPeriod": s.p2}))
    assert (data["customerId"], data["identity"]) == (s.records["main"].id, identity_of(vendor_a))
    assert data["difference"] == {"recordCount": -1, "credits": Decimal("-2.5"), "debits": Decimal("-12.5"),
                                  "netChange": Decimal("-15")}
    assert [g["reasonGroup"] for g in data["byReason"]] == ["credit", "daily_usage_flush"]
    event = Event.objects.get(type="customer.compare_run").payload["data"]
    expected_actor = {"type": "shared_record_visitor", "viewerHash": viewer_hash(s.records["main"].id, CLIENT_IP)[:16]}
    assert event["actor"] == expected_actor
    assert event["from"] == {"basis": "checkpoint", "period": s.p1, "checkpointId": s.checkpoints[s.p1].id}
    entry = AccessLogEntry.objects.get(customer_record=s.records["main"], action="compare")
    assert (entry.actor_type, entry.handle) == ("shared_record_visitor", s.handle())


@pytest.mark.parametrize("body", [{}, {"fromPeriod": "2020-01"}, {"fromPeriod": "2020-01", "toCheckpointId": "x"}])
def test_compare_needs_one_pair(scenario, body):
    s, client = scenario, browser()
    unlock(client, s)
    error_of(post_json(client, s.api(suffix="/compare"), body), 400, "INVALID_SCOPE_COMBINATION")


# --- Not found, indistinguishably ---------------------------------------------------------------------------
def _gone_handles(s) -> dict[str, str]:
    revoked = shared_record_revoke(shared=s.shared("other"), actor=STAFF).handle
    old = s.handle()
    shared_record_reissue(shared=s.shared(), actor=STAFF)
    return {"unknown": "cus_aaaaaaaaaaaaaaaaaaaa", "malformed": "not-a-handle", "long": "cus_" + "a" * 300,
            "revoked": revoked, "superseded": old, "superseded_upper": old.upper()}


def test_unknown_revoked_malformed_and_superseded_handles_look_the_same(scenario):
    s = scenario
    gone = _gone_handles(s)
    for suffix, method in (("", "GET"), ("/activity", "GET"), ("/access/verify", "POST"), ("/compare", "POST"),
                           ("/exports/exp_aaaaaaaaaaaaaaaaaaaa", "GET"), ("/nonsense", "GET")):
        bodies = set()
        for handle in gone.values():
            response = call(browser(), method, f"/api/v1/c/{handle}{suffix}", {"factor": "ACCESS_HINT", "value": "X"})
            assert response.status_code == 404, (handle, suffix)
            assert_shared_headers(response)
            bodies.add(response.content)
        assert bodies == {b'{"success":false,"error":{"code":"NOT_FOUND","message":"Not found"}}'}
    assert AccessLogEntry.objects.filter(action="view").count() == 0


def test_unknown_and_revoked_handles_cost_the_same_queries(scenario):
    s = scenario
    gone = _gone_handles(s)
    counts = {}
    for name, handle in gone.items():
        with CaptureQueriesContext(connection) as queries:
            browser().get(f"/api/v1/c/{handle}")
        counts[name] = [q["sql"].split(" WHERE ")[0] for q in queries.captured_queries]
    assert len({tuple(c) for c in counts.values()}) == 1
    assert len(counts["unknown"]) == 1


def test_trailing_slash_is_not_found(scenario):
    s = scenario
    error_of(browser().get(s.api() + "/"), 404, "NOT_FOUND")


# --- Identity, secrets and the access log ---------------------------------------------------------------------
def test_no_response_carries_the_access_code_or_the_middleware_name(scenario):
    s, client = scenario, browser()
    code = s.code()
    s.set_policy("TWO_TIER")
    bodies = [client.get(s.api()).content, unlock(client, s).content]
    bodies += [call(client, m, p, b).content for m, p, b in detail_requests(s)]
    bodies.append(post_json(client, s.api(suffix="/access/verify"), {"factor": "ACCESS_HINT", "value": "WRONG1"}).content)
    for body in bodies:
        assert code.encode() not in body
        assert MIDDLEWARE_NAME_MARKER.encode() not in body
        assert b"Billing Middleware" not in body


def test_access_log_has_viewer_hashes_and_no_addresses(scenario):
    s = scenario
    client = browser(user_agent="curl/8.5.0")
    client.get(s.api())
    unlock(client, s)
    client.get(s.api(suffix="/activity"))
    entries = list(AccessLogEntry.objects.filter(customer_record=s.records["main"]).order_by("id"))
    expected = viewer_hash(s.records["main"].id, CLIENT_IP)
    assert [(e.action, e.tier, e.page, e.surface) for e in entries] == [
        ("view", "summary", "landing", "api"), ("step_up_success", "", "", "api"), ("view", "detail", "activity", "api")]
    assert {(e.viewer_hash, e.user_agent_family, e.handle, e.actor_type) for e in entries} == {
        (expected, "curl", s.handle(), "shared_record_visitor")}
    assert len(expected) == 32
    for row in AccessLogEntry.objects.values():
        assert CLIENT_IP not in repr(row)
    for body in Event.objects.values_list("body", flat=True):  # the bytes receivers get
        assert CLIENT_IP.encode() not in bytes(body)
    for body in Event.objects.filter(type__startswith="customer.").values_list("body", flat=True):
        assert s.handle().encode() not in bytes(body)  # webhooks.md §2: customer events never carry the link


@pytest.mark.parametrize(("agent", "family"), [
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/126.0 Safari/537.36 Edg/126.0", "Edge"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "Firefox"),
    ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari"),
    ("Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 CriOS/126.0 Mobile/15E148 Safari/604.1", "Chrome"),
    ("python-requests/2.32", "other"),
    ("", "other"),
])
def test_user_agent_family_is_coarse(scenario, agent, family):
    s = scenario
    browser(user_agent=agent).get(s.api())
    assert AccessLogEntry.objects.get(customer_record=s.records["main"]).user_agent_family == family


def test_client_address_through_trusted_proxies(scenario, settings):
    s = scenario
    settings.TRUSTED_PROXY_COUNT = 1
    Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=f"192.0.2.1, {OTHER_IP}").get(s.api())
    entry = AccessLogEntry.objects.get(customer_record=s.records["main"])
    assert entry.viewer_hash == viewer_hash(s.records["main"].id, OTHER_IP)


def test_view_events_are_throttled_per_viewer(scenario):
    s = scenario
    first, again, second = browser(CLIENT_IP), browser(CLIENT_IP), browser(OTHER_IP)
    first.get(s.api())
    again.get(s.api())
    assert Event.objects.filter(type=VIEWED).count() == 1
    second.get(s.api())
    events = [e.payload["data"] for e in Event.objects.filter(type=VIEWED).order_by("created_at", "id")]
    record = s.records["main"]
    assert [e["actor"]["viewerHash"] for e in events] == [viewer_hash(record.id, ip)[:16] for ip in (CLIENT_IP, OTHER_IP)]
    assert {k: events[0][k] for k in ("customerId", "surface", "tier", "page", "unlocked")} == {
        "customerId": record.id, "surface": "api", "tier": "summary", "page": "landing", "unlocked": False}
    assert AccessLogEntry.objects.filter(customer_record=record, action="view").count() == 3


def test_a_lapsed_throttle_fires_again(scenario, settings):
    s = scenario
    settings.VIEW_EVENT_THROTTLE_MINUTES = 0
    client = browser()
    client.get(s.api())
    AccessLogEntry.objects.update(created_at=AccessLogEntry.objects.first().created_at.replace(year=2000))
    client.get(s.api())
    assert Event.objects.filter(type=VIEWED).count() == 2


def test_sandbox_and_production_are_reported(scenario):
    s = scenario
    s.records["main"].__class__.objects.filter(pk=s.records["main"].pk).update(environment="production")
    assert data_of(browser().get(s.api()))["environment"] == "production"


def test_direct_tenant_identity_is_the_tenant(direct_tenant):
    from tests.records.helpers import emit, seal

    emit(direct_tenant, "acct-1", -2)
    seal(direct_tenant)
    from records.models import CustomerRecord
    from records.services.shared_records import shared_record_of

    shared = shared_record_of(CustomerRecord.objects.get(tenant=direct_tenant.tenant))
    data = data_of(browser().get(f"/api/v1/c/{shared.handle}"))
    tenant = direct_tenant.tenant
    assert data["identity"] == {"tenant": {"name": tenant.name},
                                "recordedBy": {"type": "tenant", "id": tenant.id, "displayName": tenant.name}}
    assert SharedRecord.objects.count() == 1
