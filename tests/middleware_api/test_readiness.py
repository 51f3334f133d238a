"""Invoice readiness rows, blockers, remediation and signals (api.md §4.3)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from middleware_api.selectors import previous_period
from records.models import AccessLogEntry, CustomerRecord, SharedRecord
from records.services.shared_records import access_log_write
from tests.middleware_api.conftest import (
    BASE,
    OTHER_VIEWER,
    data_of,
    error_of,
    fail_step_up,
    ts,
    visit,
)

URL = f"{BASE}/readiness"


def _commit(vendor, scenario) -> dict:
    return {"action": "commit_checkpoint", "method": "POST", "path": "/api/v1/balance/checkpoint",
            "body": {"vendorAccountId": vendor.id, "customerId": "acct-1", "period": scenario.p2}}


def _link(scenario, key: str) -> dict:
    handle = SharedRecord.objects.get(customer_record=scenario.records[key]).handle
    return {"status": "active", "url": f"https://records.example.com/c/{handle}"}


def _checkpoint(scenario, key: str, period: str) -> dict:
    checkpoint = scenario.checkpoints[(key, period)]
    return {"checkpointId": checkpoint.id, "status": "VERIFIED", "proofRoot": checkpoint.proof_root,
            "verificationReference": checkpoint.verification_reference}


def test_previous_period_default():
    assert previous_period(dt.datetime(2026, 1, 15, tzinfo=dt.UTC)) == "2025-12"
    assert previous_period(dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)) == "2026-02"


def test_rows_of_the_previous_month_by_default(scenario):
    r = scenario.records
    data = data_of(scenario.api.get(URL))
    assert scenario.p2 == previous_period()
    assert {k: data[k] for k in ("total", "limit", "offset", "period", "summary")} == {
        "total": 3, "limit": 50, "offset": 0, "period": scenario.p2, "summary": {"ready": 1, "blocked": 2}}
    a1, a2, b1 = data["items"]
    assert a1 == {
        "customerId": r["a1"].id, "externalCustomerId": "acct-1", "vendorAccountId": scenario.vendor_a.id,
        "period": scenario.p2, "status": "blocked", "checkpoint": _checkpoint(scenario, "a1", scenario.p2),
        "coverage": {"recordCount": 3, "recordingCount": 0, "recordedCount": 1, "verifiedCount": 2, "failedCount": 0},
        "link": _link(scenario, "a1"), "accessCode": {"status": "ready"},
        "blockers": [{
            "code": "RECORDS_NOT_COVERED",
            "message": f"1 verified record(s) of {scenario.p2} are not covered by its checkpoint",
            "count": 1, "remediation": _commit(scenario.vendor_a, scenario),
        }],
        "signals": [],
    }
    assert a2 == {
        "customerId": r["a2"].id, "externalCustomerId": "acct-2", "vendorAccountId": scenario.vendor_a.id,
        "period": scenario.p2, "status": "ready", "checkpoint": _checkpoint(scenario, "a2", scenario.p2),
        "coverage": {"recordCount": 2, "recordingCount": 0, "recordedCount": 0, "verifiedCount": 2, "failedCount": 0},
        "link": _link(scenario, "a2"), "accessCode": {"status": "ready"}, "blockers": [], "signals": [],
    }
    pending = scenario.deltas["b1_p2_pending"].record_id
    assert b1 == {
        "customerId": r["b1"].id, "externalCustomerId": "acct-1", "vendorAccountId": scenario.vendor_b.id,
        "period": scenario.p2, "status": "blocked", "checkpoint": None,
        "coverage": {"recordCount": 2, "recordingCount": 1, "recordedCount": 1, "verifiedCount": 0, "failedCount": 0},
        "link": _link(scenario, "b1"), "accessCode": {"status": "ready"},
        "blockers": [
            {"code": "RECORDS_PENDING", "message": f"1 record(s) of {scenario.p2} are not verified yet", "count": 1,
             "remediation": {"action": "wait", "method": "GET", "path": f"/api/v1/balance/delta/{pending}",
                             "body": None}},
            {"code": "NO_CHECKPOINT", "message": f"No checkpoint has been committed for {scenario.p2}",
             "remediation": _commit(scenario.vendor_b, scenario)},
        ],
        "signals": [],
    }


def test_an_earlier_closed_month_is_all_ready(scenario):
    data = data_of(scenario.api.get(URL, period=scenario.p1))
    assert (data["period"], data["summary"], data["total"]) == (scenario.p1, {"ready": 3, "blocked": 0}, 3)
    assert [row["coverage"]["verifiedCount"] for row in data["items"]] == [3, 1, 1]
    assert [row["checkpoint"] for row in data["items"]] == [
        _checkpoint(scenario, key, scenario.p1) for key in ("a1", "a2", "b1")]


def test_current_month_lists_only_records_active_in_it(scenario):
    data = data_of(scenario.api.get(URL, period=scenario.current))
    assert [row["customerId"] for row in data["items"]] == [scenario.records["a1"].id]
    assert [b["code"] for b in data["items"][0]["blockers"]] == ["NO_CHECKPOINT"]


def test_filters_status_vendor_and_customer(scenario):
    r = scenario.records
    blocked = data_of(scenario.api.get(URL, status="blocked"))
    assert ([i["customerId"] for i in blocked["items"]], blocked["total"], blocked["summary"]) == (
        [r["a1"].id, r["b1"].id], 2, {"ready": 1, "blocked": 2})
    ready = data_of(scenario.api.get(URL, status="ready"))
    assert ([i["customerId"] for i in ready["items"]], ready["total"]) == ([r["a2"].id], 1)
    nimbus = data_of(scenario.api.get(URL, vendorAccountId=scenario.vendor_b.id))
    assert ([i["customerId"] for i in nimbus["items"]], nimbus["summary"]) == ([r["b1"].id], {"ready": 0, "blocked": 1})
    by_header = scenario.api.request("GET", URL, headers={"X-Vendor-Account-Id": scenario.vendor_b.id})
    assert [i["customerId"] for i in data_of(by_header)["items"]] == [r["b1"].id]
    one = data_of(scenario.api.get(URL, customerId=r["a2"].id))
    assert [i["customerId"] for i in one["items"]] == [r["a2"].id]
    assert data_of(scenario.api.get(URL, customerId="cus_" + "2" * 20))["items"] == []


def test_paging(scenario):
    page = data_of(scenario.api.get(URL, limit=1, offset=1))
    assert ([i["externalCustomerId"] for i in page["items"]], page["total"], page["limit"], page["offset"]) == (
        ["acct-2"], 3, 1, 1)


@pytest.mark.parametrize(("params", "field"), [
    ({"period": "2026-13"}, "period"), ({"period": "2026-1"}, "period"), ({"status": "done"}, "status"),
    ({"limit": "201"}, "limit"), ({"offset": "-1"}, "offset"),
])
def test_bad_parameters_are_400(scenario, params, field):
    error = error_of(scenario.api.get(URL, **params), 400, "VALIDATION_ERROR")
    assert list(error["details"]["fields"]) == [field]


def test_foreign_vendor_account_is_422_mismatch(scenario, other_tenant):
    foreign = other_tenant.vendors["x"].id
    error_of(scenario.api.get(URL, vendorAccountId=foreign), 422, "VENDOR_ACCOUNT_MISMATCH")
    header = {"X-Vendor-Account-Id": scenario.vendor_b.id}
    error_of(scenario.api.request("GET", URL, headers=header, query={"vendorAccountId": scenario.vendor_a.id}),
             422, "VENDOR_ACCOUNT_MISMATCH")


def test_checkpoint_pending_then_ready_after_sealing(scenario):
    scenario.close(scenario.vendor_b, scenario.p2)
    queued = scenario.checkpoints[("b1", scenario.p2)]
    b1 = data_of(scenario.api.get(URL, customerId=scenario.records["b1"].id))["items"][0]
    assert b1["checkpoint"] == {"checkpointId": queued.id, "status": "QUEUED", "proofRoot": None,
                                "verificationReference": None}
    assert [b["code"] for b in b1["blockers"]] == ["RECORDS_PENDING", "CHECKPOINT_PENDING"]
    assert b1["blockers"][1]["remediation"] == {
        "action": "wait", "method": "GET", "path": f"/api/v1/balance/checkpoints/{queued.id}", "body": None}
    scenario.seal()  # seals the pending delta and then settles the checkpoint
    b1 = data_of(scenario.api.get(URL, customerId=scenario.records["b1"].id))["items"][0]
    assert (b1["status"], b1["blockers"], b1["checkpoint"]["status"]) == ("ready", [], "VERIFIED")
    assert b1["coverage"] == {"recordCount": 2, "recordingCount": 0, "recordedCount": 0, "verifiedCount": 2,
                              "failedCount": 0}


def test_recommitting_covers_late_records(scenario):
    scenario.close(scenario.vendor_a, scenario.p2, "acct-1")
    a1 = data_of(scenario.api.get(URL, customerId=scenario.records["a1"].id))["items"][0]
    assert (a1["status"], a1["blockers"], a1["coverage"]["verifiedCount"]) == ("ready", [], 3)


def test_revoked_link_blocks_with_reissue_remediation(scenario):
    a2 = scenario.records["a2"]
    data_of(scenario.api.post(scenario.path("a2", "access-link/revoke")))
    row = data_of(scenario.api.get(URL, customerId=a2.id))["items"][0]
    assert (row["status"], row["link"]) == ("blocked", {"status": "revoked", "url": None})
    assert row["blockers"] == [{
        "code": "LINK_REVOKED", "message": "The Shared Record link is revoked",
        "remediation": {"action": "reissue_link", "method": "POST",
                        "path": f"{BASE}/customers/{a2.id}/access-link/reissue", "body": {}},
    }]
    assert [(s["type"], s["count"]) for s in row["signals"]] == [("LINK_REVOKED", 1)]


def test_open_policy_needs_no_access_code(scenario):
    data_of(scenario.api.patch(scenario.path("a2", "access-link"), {"policy": "OPEN"}))
    row = data_of(scenario.api.get(URL, customerId=scenario.records["a2"].id))["items"][0]
    assert (row["status"], row["accessCode"]) == ("ready", {"status": "not_required"})


def test_signals_count_visitor_actions_and_never_change_status(scenario):
    a2 = scenario.records["a2"]
    visit(a2, times=2)
    visit(a2, viewer_hash=OTHER_VIEWER)
    tenant = {"type": "tenant_api", "apiKeyId": "key_" + "2" * 20}
    visitor = {"type": "shared_record_visitor", "viewerHash": "ab" * 8}
    access_log_write(record=a2, action=AccessLogEntry.Action.EXPORT, actor=tenant)  # the tenant's own: not counted
    access_log_write(record=a2, action=AccessLogEntry.Action.EXPORT, actor=visitor)
    access_log_write(record=a2, action=AccessLogEntry.Action.COMPARE, actor=visitor)
    data_of(scenario.api.post(scenario.path("a2", "access-link/reissue")))
    # Before the period started: outside the count.
    old = access_log_write(record=a2, action=AccessLogEntry.Action.COMPARE, actor=visitor)
    AccessLogEntry.objects.filter(pk=old.pk).update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    row = data_of(scenario.api.get(URL, customerId=a2.id))["items"][0]
    entries = AccessLogEntry.objects.filter(customer_record=a2, created_at__gte=dt.datetime(2021, 1, 1,
                                                                                           tzinfo=dt.UTC))

    def span(action: str, **extra) -> tuple:
        times = sorted(entries.filter(action=action, **extra).values_list("created_at", flat=True))
        return ts(times[0]), ts(times[-1])

    visitor_only = {"actor_type": "shared_record_visitor"}
    assert row["status"] == "ready"
    assert row["signals"] == [
        {"type": "SHARED_RECORD_VIEWED", "count": 3, **dict(zip(("firstAt", "lastAt"), span("view"), strict=True))},
        {"type": "EXPORT_DOWNLOADED", "count": 1,
         **dict(zip(("firstAt", "lastAt"), span("export", **visitor_only), strict=True))},
        {"type": "COMPARE_RUN", "count": 1, **dict(zip(("firstAt", "lastAt"), span("compare"), strict=True))},
        {"type": "LINK_REISSUED", "count": 1, **dict(zip(("firstAt", "lastAt"), span("link_reissued"), strict=True))},
    ]


def test_lockouts_are_a_signal_and_single_failures_are_not(scenario):
    a2 = scenario.records["a2"]
    fail_step_up(a2, times=4)
    assert data_of(scenario.api.get(URL, customerId=a2.id))["items"][0]["signals"] == []
    fail_step_up(a2, times=1)
    row = data_of(scenario.api.get(URL, customerId=a2.id))["items"][0]
    lockout = a2.access_log.get(action="step_up_failure", detail__has_key="lockedUntil")
    assert row["signals"] == [{"type": "STEP_UP_FAILED_REPEATEDLY", "count": 1, "firstAt": ts(lockout.created_at),
                               "lastAt": ts(lockout.created_at)}]
    assert row["status"] == "ready"


def test_query_count_does_not_grow_with_rows(scenario, count_queries):
    data_of(scenario.api.get(URL))  # the key's first use of the minute also writes lastUsedAt
    few = count_queries(lambda: data_of(scenario.api.get(URL)))
    start = dt.datetime.fromisoformat(f"{scenario.p2}-10T00:00:00+00:00")
    for n in range(6):
        scenario.accept(f"extra{n}", scenario.vendor_b, f"acct-x{n}", start, f"x{n}", delta="-1", reason="usage")
        visit(scenario.records[f"extra{n}"])
    assert data_of(scenario.api.get(URL))["total"] == 9
    assert count_queries(lambda: data_of(scenario.api.get(URL))) == few


def test_rows_ignore_other_tenants_and_environments(scenario, other_tenant):
    assert data_of(other_tenant.api.get(URL))["items"] == []
    CustomerRecord.objects.filter(pk=scenario.records["a2"].pk).update(environment="production")
    data = data_of(scenario.api.get(URL))
    assert [i["externalCustomerId"] for i in data["items"]] == ["acct-1", "acct-1"]


def test_period_in_the_future_has_no_rows(scenario):
    future = (timezone.now() + dt.timedelta(days=400)).strftime("%Y-%m")
    data = data_of(scenario.api.get(URL, period=future))
    assert (data["items"], data["summary"]) == ([], {"ready": 0, "blocked": 0})
