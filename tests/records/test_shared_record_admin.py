"""Operator staff and the Shared Record (operations.md §2): handle, link and code on the customer record,
the policy edit and the three link actions, all as actor `staff` and without customer webhooks; the
access log is read-only."""

from __future__ import annotations

import re

from django.test import Client

from records.models import AccessLogEntry, CustomerRecord
from tests.records.shared_record_support import (
    browser,
    error_of,
    roomy_public_rate_limit,  # noqa: F401 - autouse fixture
    scenario,  # noqa: F401 - fixture
    unlock,
)
from webhooks.models import Event

CHANGELIST = "/admin/records/customerrecord/"



def change_url(record: CustomerRecord) -> str:
    return f"{CHANGELIST}{record.pk}/change/"


def staff_log(s) -> list[tuple[str, str]]:
    return list(AccessLogEntry.objects.filter(customer_record=s.records["main"]).order_by("id")
                .values_list("action", "actor_type"))


def customer_events() -> int:
    return Event.objects.filter(type__startswith="customer.").count()


def act(staff: Client, action: str, *records: CustomerRecord):
    return staff.post(CHANGELIST, {"action": action, "_selected_action": [r.pk for r in records]})


def test_change_page_shows_the_link_and_the_code(scenario, staff):
    s = scenario
    response = staff.get(change_url(s.records["main"]))
    assert response.status_code == 200, response
    text = response.content.decode()
    assert s.handle() in text and f"https://records.example.com/c/{s.handle()}" in text
    assert f"<code>{s.code()}</code>" in text
    assert re.search(r'<option value="TWO_TIER" selected>', text)
    assert 'name="customer_id"' not in text  # ledger fields are read-only


def test_policy_edit_is_logged_as_staff_without_webhooks(scenario, staff):
    s = scenario
    events = customer_events()
    record = s.records["main"]
    before = CustomerRecord.objects.values().get(pk=record.pk)
    response = staff.post(change_url(record), {"shared_record_policy": "GATED", "_save": "Save"})
    assert response.status_code == 302
    assert s.shared().policy == "GATED"
    assert staff_log(s) == [("policy_changed", "staff")]
    assert customer_events() == events
    assert CustomerRecord.objects.values().get(pk=record.pk) == before  # the ledger row is never saved
    staff.post(change_url(record), {"shared_record_policy": "GATED", "_save": "Save"})
    assert staff_log(s) == [("policy_changed", "staff")]  # saving the same policy changes nothing


def test_rotate_shows_the_new_code_once_and_ends_unlocks(scenario, staff):
    s, visitor = scenario, browser()
    unlock(visitor, s)
    old = s.code()
    events = customer_events()
    response = act(staff, "rotate_access_code", s.records["main"])
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    new = s.code()
    assert new != old and f'value="{new}"' in response.content.decode()
    error_of(visitor.get(s.api(suffix="/activity")), 403, "STEP_UP_REQUIRED")
    assert staff_log(s) == [("step_up_success", "shared_record_visitor"), ("code_rotated", "staff")]
    assert customer_events() == events


def test_rotate_refuses_several_records_at_once(scenario, staff):
    s = scenario
    codes = (s.code(), s.code("other"))
    response = act(staff, "rotate_access_code", s.records["main"], s.records["other"])
    assert response.status_code == 302
    assert (s.code(), s.code("other")) == codes


def test_revoke_and_reissue(scenario, staff):
    s = scenario
    events = customer_events()
    old = s.handle()
    assert act(staff, "revoke_link", s.records["main"]).status_code == 302
    assert s.shared().status == "revoked"
    error_of(browser().get(f"/api/v1/c/{old}"), 404, "NOT_FOUND")
    assert "revoked" in staff.get(change_url(s.records["main"])).content.decode()
    act(staff, "reissue_link", s.records["main"])
    assert s.shared().status == "active" and s.handle() != old
    error_of(browser().get(f"/api/v1/c/{old}"), 404, "NOT_FOUND")
    assert browser().get(f"/api/v1/c/{s.handle()}").status_code == 200
    assert staff_log(s)[:2] == [("link_revoked", "staff"), ("link_reissued", "staff")]
    assert customer_events() == events + 1  # only the visitor's view of the new handle


def test_customer_records_still_cannot_be_added_or_deleted(scenario, staff):
    assert staff.get(f"{CHANGELIST}add/").status_code == 403
    assert staff.get(f"{CHANGELIST}{scenario.records['main'].pk}/delete/").status_code == 403


def test_access_log_is_read_only(scenario, staff):
    s = scenario
    browser().get(s.api())
    entry = AccessLogEntry.objects.get(customer_record=s.records["main"])
    base = "/admin/records/accesslogentry/"
    listing = staff.get(base)
    assert listing.status_code == 200 and entry.viewer_hash in listing.content.decode()
    assert staff.get(f"{base}add/").status_code == 403
    assert staff.get(f"{base}{entry.pk}/delete/").status_code == 403
    assert staff.post(f"{base}{entry.pk}/change/", {"action": "step_up_success"}).status_code == 403
    assert AccessLogEntry.objects.get(pk=entry.pk).action == "view"
