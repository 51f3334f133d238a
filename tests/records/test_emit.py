"""POST /api/v1/balance/delta (api.md §2.1)."""

from decimal import Decimal

import pytest

from records.models import CustomerRecord, Delta, VendorAccount
from records.proofs import canonical_item, content_hash, format_timestamp, to_hex
from tests.records.helpers import delta_count, emit, seal
from webhooks.models import Event

URL = "/api/v1/balance/delta"


def _error(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


def test_emit_returns_acceptance_state_and_stores_the_hashed_content(direct_tenant):
    response = emit(direct_tenant, "acct-9001", "-12.50", metadata={"tokens": 1250000, "note": "café"},
                    referenceId="usage:acct-9001:2026-04-01")
    assert response.status_code == 201
    data = response.json()["data"]
    delta = Delta.objects.get(record_id=data["recordId"])
    assert data == {
        "recordId": delta.record_id, "status": "QUEUED", "customerId": "acct-9001",
        "customerRecordId": delta.customer_record_id, "vendorAccountId": None, "delta": -12.5,
        "referenceId": "usage:acct-9001:2026-04-01", "contentHash": delta.content_hash, "receiptId": None,
        "createdAt": format_timestamp(delta.created_at), "idempotent": False,
    }
    expected = canonical_item(
        adjusts=None, created_at=format_timestamp(delta.created_at), customer_id="acct-9001",
        delta=Decimal("-12.5"), metadata={"note": "café", "tokens": 1250000},
        reason="daily_usage_flush:2026-04-01", reference_id="usage:acct-9001:2026-04-01", vendor_account_id=None,
    )
    assert delta.content_hash == to_hex(content_hash(expected))
    assert (delta.delta_text, delta.amount, delta.intake_sequence, delta.status) == ("-12.5", Decimal("-12.5"), 1, "QUEUED")
    assert b'"delta":-12.5,' in response.content  # a JSON number, written exactly


def test_first_delta_creates_the_record_and_a_customer_created_event(direct_tenant):
    emit(direct_tenant, "acct-1")
    emit(direct_tenant, "acct-1")
    record = CustomerRecord.objects.get(tenant=direct_tenant.tenant)
    events = Event.objects.filter(tenant=direct_tenant.tenant, type="customer.created")
    assert events.count() == 1
    data = events.get().payload["data"]
    assert data["customerId"] == record.id and data["externalCustomerId"] == "acct-1"
    assert data["actor"]["type"] == "tenant_api" and data["actor"]["apiKeyId"].startswith("key_")
    assert list(record.deltas.values_list("intake_sequence", flat=True).order_by("id")) == [1, 2]


def test_created_at_never_decreases_within_a_record(direct_tenant):
    ids = [emit(direct_tenant, "acct-1", n).json()["data"]["recordId"] for n in (1, 2, 3)]
    stamps = [Delta.objects.get(record_id=i).created_at for i in ids]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    ("raw", "text"),
    [(5, "5"), ("-5.0", "-5"), ("+3.10", "3.1"), ("007", "7"), ("1000000000", "1000000000"),
     ("-0.000000000000000001", "-0.000000000000000001")],
)
def test_amounts_are_normalized(direct_tenant, raw, text):
    data = emit(direct_tenant, delta=raw).json()["data"]
    assert Delta.objects.get(record_id=data["recordId"]).delta_text == text


def test_float_spellings_the_sdk_sends_are_exact(direct_tenant):
    # pacspace-sdk sends Python floats as repr(): 1e-07 and -5.0 arrive as JSON numbers.
    for raw, text in ((b"1e-07", "0.0000001"), (b"-5.0", "-5"), (b"2.5E-3", "0.0025")):
        body = b'{"customerId":"c","delta":' + raw + b',"reason":"usage"}'
        data = direct_tenant.api.post(URL, raw=body).json()["data"]
        assert Delta.objects.get(record_id=data["recordId"]).delta_text == text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delta": -1, "reason": "r"}, "customerId"),
        ({"customerId": "bad id", "delta": -1, "reason": "r"}, "customerId"),
        ({"customerId": "x" * 129, "delta": -1, "reason": "r"}, "customerId"),
        ({"customerId": "c", "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": 0, "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": "-0.000", "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": True, "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": "1e5", "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": "NaN", "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": 1000000000.5, "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": "0.0000000000000000001", "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": [1], "reason": "r"}, "delta"),
        ({"customerId": "c", "delta": -1, "reason": ""}, "reason"),
        ({"customerId": "c", "delta": -1, "reason": "x" * 501}, "reason"),
        ({"customerId": "c", "delta": -1, "reason": "r", "referenceId": "a\tb"}, "referenceId"),
        ({"customerId": "c", "delta": -1, "reason": "r", "referenceId": ""}, "referenceId"),
        ({"customerId": "c", "delta": -1, "reason": "r", "metadata": [1]}, "metadata"),
        ({"customerId": "c", "delta": -1, "reason": "r", "metadata": {"k": "v" * 8200}}, "metadata"),
        ({"customerId": "c", "delta": -1, "reason": "r", "adjusts": {"recordId": "rec_1", "referenceId": "x"}}, "adjusts"),
        ({"customerId": "c", "delta": -1, "reason": "r", "adjusts": {"recordId": "nope"}}, "adjusts.recordId"),
    ],
)
def test_invalid_fields_are_400_and_write_nothing(direct_tenant, body, field):
    error = _error(direct_tenant.api.post(URL, body), 400, "VALIDATION_ERROR")
    assert list(error["details"]["fields"]) == [field]
    assert delta_count(direct_tenant.tenant) == 0
    assert CustomerRecord.objects.filter(tenant=direct_tenant.tenant).count() == 0
    assert not Event.objects.filter(tenant=direct_tenant.tenant).exists()


def test_deep_metadata_is_refused(direct_tenant):
    nested = {}
    cursor = nested
    for _ in range(33):
        cursor["n"] = {}
        cursor = cursor["n"]
    _error(emit(direct_tenant, metadata=nested), 400, "VALIDATION_ERROR")
    assert delta_count(direct_tenant.tenant) == 0


def test_control_characters_in_ids_are_refused(direct_tenant):
    _error(direct_tenant.api.post(URL, raw=b'{"customerId":"a\\u0000","delta":1,"reason":"r"}'), 400, "VALIDATION_ERROR")
    _error(emit(direct_tenant, "a\nb"), 400, "VALIDATION_ERROR")
    assert delta_count(direct_tenant.tenant) == 0


def test_reference_replay_returns_the_original(direct_tenant):
    first = emit(direct_tenant, referenceId="ref-1").json()["data"]
    seal(direct_tenant)
    again = emit(direct_tenant, referenceId="ref-1")
    assert again.status_code == 200
    data = again.json()["data"]
    assert data["recordId"] == first["recordId"] and data["idempotent"] is True
    assert data["status"] == "VERIFIED" and data["receiptId"].startswith("0x")
    assert delta_count(direct_tenant.tenant) == 1


def test_reference_conflict_names_the_existing_delta(direct_tenant):
    first = emit(direct_tenant, referenceId="ref-1").json()["data"]
    error = _error(emit(direct_tenant, delta=-13, referenceId="ref-1"), 409, "REFERENCE_CONFLICT")
    assert error["details"] == {"recordId": first["recordId"]}
    assert delta_count(direct_tenant.tenant) == 1


def test_failed_delta_does_not_reserve_its_reference(direct_tenant):
    first = emit(direct_tenant, referenceId="ref-1").json()["data"]
    Delta.objects.filter(record_id=first["recordId"]).update(status="FAILED")
    second = emit(direct_tenant, delta=-99, referenceId="ref-1")
    assert second.status_code == 201 and second.json()["data"]["recordId"] != first["recordId"]


def test_adjusts_must_name_a_live_delta_of_the_same_record(direct_tenant):
    original = emit(direct_tenant, "acct-1", referenceId="usage:1").json()["data"]
    ok = emit(direct_tenant, "acct-1", 2.5, reason="credit", adjusts={"referenceId": "usage:1"})
    assert ok.status_code == 201
    assert Delta.objects.get(record_id=ok.json()["data"]["recordId"]).adjusts_delta.record_id == original["recordId"]
    by_id = emit(direct_tenant, "acct-1", 1, reason="credit", adjusts={"recordId": original["recordId"]})
    assert by_id.status_code == 201
    other_record = emit(direct_tenant, "acct-2", 1, reason="credit", adjusts={"recordId": original["recordId"]})
    _error(other_record, 422, "ADJUSTS_TARGET_NOT_FOUND")
    _error(emit(direct_tenant, "acct-1", 1, reason="c", adjusts={"referenceId": "missing"}), 422, "ADJUSTS_TARGET_NOT_FOUND")
    assert delta_count(direct_tenant.tenant) == 3
    # The failed attempt for acct-2 created no customer record.
    assert not CustomerRecord.objects.filter(tenant=direct_tenant.tenant, customer_id="acct-2").exists()


class TestVendorAccountRule:
    def test_middleware_with_vendor_in_body_or_header(self, middleware_tenant, vendor_a):
        assert emit(middleware_tenant, vendor=vendor_a).status_code == 201
        by_header = middleware_tenant.api.post(
            URL, {"customerId": "c2", "delta": 1, "reason": "r"}, headers={"X-Vendor-Account-Id": vendor_a.id})
        assert by_header.status_code == 201
        assert by_header.json()["data"]["vendorAccountId"] == vendor_a.id

    def test_same_customer_under_two_vendors_is_two_records(self, middleware_tenant, vendor_a, vendor_b):
        a = emit(middleware_tenant, "acct-1", vendor=vendor_a).json()["data"]
        b = emit(middleware_tenant, "acct-1", vendor=vendor_b).json()["data"]
        assert a["customerRecordId"] != b["customerRecordId"]

    @pytest.mark.parametrize(
        ("case", "code"),
        [("missing", "VENDOR_ACCOUNT_REQUIRED"), ("foreign", "VENDOR_ACCOUNT_MISMATCH"),
         ("disabled", "VENDOR_ACCOUNT_DISABLED"), ("header_disagrees", "VENDOR_ACCOUNT_MISMATCH"),
         ("external_id", "VENDOR_ACCOUNT_MISMATCH"), ("list", "VALIDATION_ERROR")],
    )
    def test_middleware_refusals(self, middleware_tenant, other_tenant, vendor_a, vendor_b, case, code):
        body = {"customerId": "c", "delta": 1, "reason": "r"}
        headers = {}
        if case == "foreign":
            body["vendorAccountId"] = other_tenant.vendors["x"].id
        elif case == "disabled":
            VendorAccount.objects.filter(pk=vendor_a.pk).update(status="disabled")
            body["vendorAccountId"] = vendor_a.id
        elif case == "header_disagrees":
            body["vendorAccountId"] = vendor_a.id
            headers["X-Vendor-Account-Id"] = vendor_b.id
        elif case == "external_id":
            body["vendorAccountId"] = "acme"
        elif case == "list":
            body["vendorAccountId"] = [vendor_a.id]
        response = middleware_tenant.api.post(URL, body, headers=headers)
        _error(response, 400 if code == "VALIDATION_ERROR" else 422, code)
        assert delta_count(middleware_tenant.tenant) == 0

    def test_direct_tenant_may_not_name_a_vendor(self, direct_tenant, vendor_a):
        _error(emit(direct_tenant, vendor=vendor_a), 422, "VENDOR_ACCOUNT_FORBIDDEN")
        response = direct_tenant.api.post(URL, {"customerId": "c", "delta": 1, "reason": "r"},
                                          headers={"X-Vendor-Account-Id": "cmw_aaaaaaaaaaaaaaaaaaaa"})
        _error(response, 422, "VENDOR_ACCOUNT_FORBIDDEN")
        assert delta_count(direct_tenant.tenant) == 0

    def test_vendor_rule_comes_before_field_validation(self, middleware_tenant):
        _error(middleware_tenant.api.post(URL, {"customerId": "bad id"}), 422, "VENDOR_ACCOUNT_REQUIRED")


def test_batch_body_limit_is_larger_than_emit_limit(direct_tenant):
    body = b'{"customerId":"c","delta":1,"reason":"' + b"r" * (300 * 1024) + b'"}'
    _error(direct_tenant.api.post(URL, raw=body), 413, "PAYLOAD_TOO_LARGE")


def test_unknown_fields_are_ignored_and_not_stored(direct_tenant):
    data = emit(direct_tenant, extra={"secret": 1}).json()["data"]
    delta = Delta.objects.get(record_id=data["recordId"])
    assert "secret" not in delta.metadata_json and delta.metadata_json == "{}"
