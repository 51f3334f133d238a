"""Shared Record HTML pages and the verify page (api.md §5.3, §2.18): what each policy shows, the
code form (CSRF, next, failures, lockout), the generic 404, headers, and no outside assets."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from records.models import AccessLogEntry, CustomerRecord
from records.public.present import amount_text, period_label, through_text, window_text
from records.services.shared_records import shared_record_reissue, shared_record_revoke
from tests.conftest import MIDDLEWARE_NAME_MARKER
from tests.records.shared_record_support import (
    STAFF,
    assert_shared_headers,
    browser,
    roomy_public_rate_limit,  # noqa: F401 - autouse fixture
    scenario,  # noqa: F401 - fixture
    unlock,
)
from webhooks.models import Event

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
OUTSIDE_ASSET = re.compile(r'(?:src|href|action)="(?:https?:)?//', re.IGNORECASE)
TAGLINE = "Written by Acme Inference. Visible to both. Owned by neither."
FOOTER = "Recorded by Acme Inference. Readable by both parties. Unchangeable once verified."


def html(response) -> str:
    return response.content.decode()


def assert_page(response, status: int = 200) -> str:
    """Every record page: the status, the §5.1 headers, a CSP that allows nothing from outside."""
    assert response.status_code == status, response.content[:400]
    assert_shared_headers(response)
    policy = response["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-") and "script-src" not in policy
    text = html(response)
    assert not OUTSIDE_ASSET.search(text), OUTSIDE_ASSET.search(text)
    assert "<script" not in text and MIDDLEWARE_NAME_MARKER not in text
    return text


def submit_code(client, s, code: str, *, next_path: str | None = None, key: str = "main"):
    token = TOKEN.search(html(client.get(s.page(key)))).group(1)
    data = {"csrfmiddlewaretoken": token, "code": code}
    if next_path is not None:
        data["next"] = next_path
    return client.post(s.page(key, "/access"), data)


def views(s) -> list[tuple[str, str, str]]:
    return list(AccessLogEntry.objects.filter(customer_record=s.records["main"], action="view").order_by("id")
                .values_list("tier", "page", "surface"))


# --- Landing under each policy -------------------------------------------------------------------------------
def test_two_tier_landing_shows_the_summary_and_the_code_form(scenario):
    s = scenario
    text = assert_page(browser().get(s.page()))
    assert "<h1>Acme Inference" in text and TAGLINE in text and FOOTER in text
    assert f"Recorded in {period_label(s.current)}" in text and "\u22124.25" in text
    assert "Records this period</dt><dd>2</dd>" in text
    assert f"Verified through</dt><dd class=\"small\">{through_text(s.checkpoints[s.p2].window_end)}" in text
    assert text.count('<tr role="row"><td role="cell" class="when c-main">') == 5
    assert text.count("\u22127.50") == 1 and "2.50" in text
    assert f'action="/c/{s.handle()}/access"' in text and 'name="code"' in text and '<label for="code">' in text
    assert TOKEN.search(text)
    assert "Sandbox" in text
    assert s.code() not in text and "daily_usage_flush" not in text  # summary tier: no reasons
    assert f"/c/{s.handle()}/activity" not in text  # no detail links while locked
    assert views(s) == [("summary", "landing", "page")]


def test_gated_landing_shows_only_who_and_the_form(scenario):
    s = scenario
    s.set_policy("GATED")
    text = assert_page(browser().get(s.page()))
    assert "This record is protected" in text and "the whole record needs the access code" in text
    assert "<h1>Acme Inference" in text and FOOTER in text and 'name="code"' in text
    for hidden in ("Recent records", "\u22124.25", "Verified through", "Records this period"):
        assert hidden not in text
    assert views(s) == [("summary", "landing", "page")]


def test_open_landing_has_no_form_and_quiet_links(scenario):
    s = scenario
    s.set_policy("OPEN")
    text = assert_page(browser().get(s.page()))
    assert 'name="code"' not in text
    for link in ("/activity", "/periods", "/compare"):
        assert f'href="/c/{s.handle()}{link}"' in text
    assert f'href="/api/v1/c/{s.handle()}/export?format=csv&amp;period={s.current}"' in text
    assert "open to anyone with this link" in text


def test_unlocked_landing_says_until_when(scenario):
    s, client = scenario, browser()
    unlock(client, s)
    text = assert_page(client.get(s.page()))
    assert "Unlocked on this device until" in text and 'name="code"' not in text
    assert 'aria-current="page">Overview' in text


def test_production_records_carry_no_sandbox_marker(scenario):
    s = scenario
    CustomerRecord.objects.filter(pk=s.records["main"].pk).update(environment="production")
    assert "Sandbox" not in assert_page(browser().get(s.page()))


def test_direct_tenant_page_names_the_tenant(direct_tenant):
    from records.services.shared_records import shared_record_of
    from tests.records.helpers import emit

    emit(direct_tenant, "acct-1", -2)
    shared = shared_record_of(CustomerRecord.objects.get(tenant=direct_tenant.tenant))
    text = assert_page(browser().get(f"/c/{shared.handle}"))
    assert "Recorded by Direct Vendor Inc. Readable by both parties. Unchangeable once verified." in text


# --- The code form ----------------------------------------------------------------------------------------
def test_right_code_redirects_with_the_cookie(scenario):
    s, client = scenario, browser()
    response = submit_code(client, s, s.code().lower())
    assert response.status_code == 303 and response["Location"] == s.page()
    assert_shared_headers(response)
    assert list(response.cookies) == [f"psr_{s.handle()}"]
    assert response.cookies[f"psr_{s.handle()}"]["httponly"] is True
    assert client.get(s.page(suffix="/activity")).status_code == 200
    assert AccessLogEntry.objects.filter(action="step_up_success", surface="page").count() == 1


@pytest.mark.parametrize(("next_path", "expected"), [
    ("/c/{h}/periods", "/c/{h}/periods"),
    ("/c/{H}/compare?from=2026-01&to=2026-02", "/c/{h}/compare?from=2026-01&to=2026-02"),
    ("https://evil.example/c/{h}", "/c/{h}"),
    ("//evil.example/c/{h}", "/c/{h}"),
    ("/c/cus_aaaaaaaaaaaaaaaaaaaa/activity", "/c/{h}"),
    ("/admin/", "/c/{h}"),
    ("/c/{h}/../../admin", "/c/{h}"),
    ("", "/c/{h}"),
])
def test_next_stays_inside_the_record(scenario, next_path, expected):
    s = scenario
    handle = s.handle()
    response = submit_code(browser(), s, s.code(), next_path=next_path.format(h=handle, H=handle.upper()))
    assert response.status_code == 303 and response["Location"] == expected.format(h=handle)


def test_form_needs_its_csrf_token_and_a_refusal_is_not_counted(scenario):
    s = scenario
    response = browser().post(s.page(suffix="/access"), {"code": "WRONG1"})
    assert response.status_code == 403
    assert s.shared().failure_count == 0


def test_wrong_codes_re_render_with_what_is_left_then_lock(scenario):
    s, client = scenario, browser()
    first = submit_code(client, s, "WRONG1")
    text = assert_page(first, 403)
    assert "4 attempts left" in text and 'aria-invalid="true"' in text and 'role="alert"' in text
    assert "Recent records" in text  # the landing again, summary included
    for _ in range(3):
        submit_code(client, s, "WRONG1")
    fifth = assert_page(submit_code(client, s, "WRONG1"), 403)
    assert "code entry is paused" in fifth
    locked = submit_code(client, s, s.code())
    text = assert_page(locked, 429)
    assert "Code entry is paused" in text and int(locked["Retry-After"]) > 800
    assert "About 15 minutes" in text.replace("about", "About")
    assert Event.objects.filter(type="customer.step_up_failed_repeatedly").count() == 1


def test_wrong_code_for_a_detail_page_keeps_next(scenario):
    s, client = scenario, browser()
    response = submit_code(client, s, "WRONG1", next_path=s.page(suffix="/periods"))
    text = assert_page(response, 403)
    assert "Enter the access code" in text and f'name="next" value="/c/{s.handle()}/periods"' in text


@pytest.mark.parametrize("code", ["", "   ", "-", "A" * 65])
def test_empty_or_oversized_code_is_400_and_not_counted(scenario, code):
    s = scenario
    text = assert_page(submit_code(browser(), s, code), 400)
    assert "Enter the access code from your invoice." in text
    assert s.shared().failure_count == 0
    assert not AccessLogEntry.objects.filter(action__startswith="step_up").exists()


def test_access_route_only_takes_post(scenario):
    s = scenario
    response = browser().get(s.page(suffix="/access"))
    assert response.status_code == 405
    assert_shared_headers(response)


# --- Detail pages -------------------------------------------------------------------------------------------
DETAIL_SUFFIXES = ("/activity", "/periods", "/compare")


@pytest.mark.parametrize("suffix", DETAIL_SUFFIXES)
def test_detail_pages_ask_for_the_code(scenario, suffix):
    s = scenario
    text = assert_page(browser().get(s.page(suffix=suffix)), 403)
    assert "Enter the access code" in text and f'name="next" value="/c/{s.handle()}{suffix}"' in text
    assert views(s) == []


@pytest.mark.parametrize("policy", ["GATED", "OPEN"])
def test_detail_pages_follow_the_policy(scenario, policy):
    s = scenario
    s.set_policy(policy)
    expected = 200 if policy == "OPEN" else 403
    for suffix in (*DETAIL_SUFFIXES, f"/periods/{s.checkpoints[s.p1].id}"):
        assert_page(browser().get(s.page(suffix=suffix)), expected)


def test_activity_page(scenario):
    s, client = scenario, browser()
    unlock(client, s)
    text = assert_page(client.get(s.page(suffix="/activity"), {"period": s.p1}))
    assert f"<h2 id=\"activity-heading\">{period_label(s.p1)}</h2>" in text
    assert "credit: duplicate flush" in text and "Adjusts u1" in text and "\u221210.00" in text
    assert text.index("credit: duplicate flush") < text.index(f"daily_usage_flush:{s.p1}-01")  # newest first
    assert f'href="/verify/{s.delta("u1").proof_hash}"' in text
    assert f'href="?period={s.p2}"' in text
    assert f"/api/v1/c/{s.handle()}/export?format=json&amp;period={s.p1}" in text
    assert views(s) == [("detail", "activity", "page")]


def test_activity_page_pages(scenario, settings):
    s, client = scenario, browser()
    from records.public import pages

    s.set_policy("OPEN")
    pages_size = pages.PAGE_SIZE
    pages.PAGE_SIZE = 2
    try:
        text = assert_page(client.get(s.page(suffix="/activity"), {"period": s.p1}))
        assert "1–2 of 3" in text and "offset=2" in text
        text = assert_page(client.get(s.page(suffix="/activity"), {"period": s.p1, "offset": 2}))
        assert "3–3 of 3" in text and "offset=0" in text
    finally:
        pages.PAGE_SIZE = pages_size


@pytest.mark.parametrize("query", [{"period": "2026-13"}, {"offset": "x"}])
def test_bad_activity_query_is_a_400_page(scenario, query):
    s = scenario
    s.set_policy("OPEN")
    assert "That could not be shown" in assert_page(browser().get(s.page(suffix="/activity"), query), 400)


def test_periods_and_period_pages(scenario):
    s = scenario
    s.set_policy("OPEN")
    client = browser()
    text = assert_page(client.get(s.page(suffix="/periods")))
    p1, p2 = s.checkpoints[s.p1], s.checkpoints[s.p2]
    assert text.index(period_label(s.p2)) < text.index(period_label(s.p1))
    assert f'href="/c/{s.handle()}/periods/{p1.id}"' in text
    text = assert_page(client.get(s.page(suffix=f"/periods/{p1.id}")))
    assert p1.proof_root in text and f'href="/verify/{p1.proof_root}"' in text
    assert window_text(p1.window_start, p1.window_end) in text and "<strong>\u221212.50</strong>" in text
    assert f"/api/v1/c/{s.handle()}/export?format=csv&amp;checkpointId={p1.id}" in text
    assert f"daily_usage_flush:{s.p1}-02" in text and p2.proof_root not in text
    assert views(s) == [("detail", "periods", "page"), ("detail", "period", "page")]


def test_unknown_period_is_the_generic_404(scenario):
    s = scenario
    s.set_policy("OPEN")
    text = assert_page(browser().get(s.page(suffix="/periods/chk_aaaaaaaaaaaaaaaaaaaa")), 404)
    assert "This link is not available" in text


def test_compare_page_runs_a_compare(scenario):
    s, client = scenario, browser()
    unlock(client, s)
    text = assert_page(client.get(s.page(suffix="/compare"), {"from": s.p1, "to": s.p2}))
    assert "Difference" in text and "<strong>\u221215.00</strong>" in text and "daily_usage_flush" in text
    assert f"Only in {period_label(s.p1)} (3)" in text
    event = Event.objects.get(type="customer.compare_run").payload["data"]
    assert event["actor"]["type"] == "shared_record_visitor" and event["difference"]["recordCount"] == -1
    assert views(s) == [("detail", "compare", "page")]
    assert AccessLogEntry.objects.filter(action="compare", customer_record=s.records["main"]).count() == 1


def test_compare_page_without_sides_only_offers_the_form(scenario):
    s, client = scenario, browser()
    unlock(client, s)
    text = assert_page(client.get(s.page(suffix="/compare")))
    assert f'<option value="{s.current}" selected>' in text and f'<option value="{s.p2}" selected>' in text
    assert "Difference" not in text and not Event.objects.filter(type="customer.compare_run").exists()


@pytest.mark.parametrize(("query", "status"), [
    ({"from": "2026-01", "to": "chk_aaaaaaaaaaaaaaaaaaaa"}, 400), ({"from": "2999-01", "to": "2999-02"}, 400),
    ({"from": "chk_aaaaaaaaaaaaaaaaaaaa", "to": "chk_bbbbbbbbbbbbbbbbbbbb"}, 404),
])
def test_compare_page_explains_a_refused_compare(scenario, query, status):
    s, client = scenario, browser()
    unlock(client, s)
    text = assert_page(client.get(s.page(suffix="/compare"), query), status)
    assert 'class="error" role="alert"' in text and "Compare two periods" in text


# --- Not found, indistinguishably ----------------------------------------------------------------------------
def test_unknown_revoked_malformed_and_superseded_handles_share_one_page(scenario):
    s = scenario
    revoked = shared_record_revoke(shared=s.shared("other"), actor=STAFF).handle
    old = s.handle()
    shared_record_reissue(shared=s.shared(), actor=STAFF)
    bodies = set()
    for handle in ("cus_aaaaaaaaaaaaaaaaaaaa", "nonsense", revoked, old, old.upper()):
        for suffix in ("", "/activity", "/periods/chk_aaaaaaaaaaaaaaaaaaaa", "/whatever"):
            response = browser().get(f"/c/{handle}{suffix}")
            text = assert_page(response, 404)
            bodies.add(text)
    assert len(bodies) == 1
    assert "This link is not available" in bodies.pop()


# --- Verify -----------------------------------------------------------------------------------------------------
def test_verify_page_for_a_closed_period(scenario):
    s = scenario
    checkpoint = s.checkpoints[s.p1]
    text = assert_page(browser().get(f"/verify/{checkpoint.proof_root}"))
    assert "Verified" in text and "Closed period" in text and "Acme Inference" in text and FOOTER in text
    assert "credit: duplicate flush" in text and "Run the independent checks now" in text
    checked = assert_page(browser().get(f"/verify/{checkpoint.proof_root.upper().replace('0X', '0x')}",
                                        {"source": "both"}))
    assert checked.count('<span class="ok">Passed</span>') == 5 and "Failed" not in checked


def test_verify_page_for_a_single_receipt(scenario):
    s = scenario
    text = assert_page(browser().get(f"/verify/{s.delta('u5').proof_hash}"))
    assert "Single record receipt" in text and f"daily_usage_flush:{s.current}" in text


@pytest.mark.parametrize(("value", "status", "phrase"), [
    ("0x" + "ab" * 32, 404, "Nothing is recorded under this proof"),
    ("0x" + "00" * 32, 404, "Nothing is recorded under this proof"),
    ("not-a-root", 400, "That is not a proof root"),
])
def test_verify_page_refusals(db, value, status, phrase):
    assert phrase in assert_page(browser().get(f"/verify/{value}"), status)


# --- Presentation -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [
    (Decimal("-12.5"), "\u221212.50"), (Decimal("1000"), "1,000.00"), (Decimal("0.0025"), "0.0025"),
    (Decimal("-1234567.125000000000000000"), "\u22121,234,567.125"), (Decimal("0E-18"), "0.00"),
    (Decimal("1E+2"), "100.00"), (None, "\u2014"),
])
def test_amounts_keep_every_digit(value, text):
    assert amount_text(value) == text


def test_signed_amounts_and_half_open_windows():
    assert amount_text(Decimal("2.5"), signed=True) == "+2.50"
    assert amount_text(Decimal("0"), signed=True) == "0.00"
    start, end = dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert window_text(start, end) == "1 Mar 2026 \u2013 31 Mar 2026"
    assert through_text(end) == "31 Mar 2026"
    assert through_text(dt.datetime(2026, 4, 1, 12, 30, tzinfo=dt.UTC)) == "1 Apr 2026, 12:30 UTC"


def test_rate_limited_pages_name_no_one(scenario, monkeypatch):
    """The lead wires the public limit into the pages; whichever way it is raised, the page is generic."""
    from pacspace.errors import DomainError
    from records.public import pages

    def limited(request, handle):
        raise DomainError("RATE_LIMITED", "Rate limit exceeded", retry_after=17)

    monkeypatch.setattr(pages, "shared_access", limited)
    response = browser().get(scenario.page())
    text = assert_page(response, 429)
    assert response["Retry-After"] == "17" and "Too many requests" in text and "Acme Inference" not in text
