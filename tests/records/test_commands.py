"""Management commands print exactly one JSON object on stdout in --json mode (operations.md §3)."""

import json
import re
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from records.models import ApiKey, Tenant, VendorAccount
from webhooks.models import Endpoint

KEY = re.compile(r"^pk_(test|live)_[a-z2-7]{16}\.[A-Za-z0-9_-]{43}$")


def run_json(capsys, *args: str) -> tuple[dict, int]:
    code = 0
    try:
        call_command(*args, "--json", stdout=StringIO(), stderr=StringIO())
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1, out
    return json.loads(out), code


@pytest.mark.django_db
def test_tenant_create_makes_tenant_and_key(capsys):
    result, code = run_json(capsys, "tenant_create", "--name", "Acme", "--kind", "middleware")
    assert code == 0 and set(result) == {"tenantId", "apiKey"}
    tenant = Tenant.objects.get(pk=result["tenantId"])
    assert (tenant.name, tenant.kind) == ("Acme", "BILLING_MIDDLEWARE")
    assert KEY.fullmatch(result["apiKey"]) and result["apiKey"].startswith("pk_test_")
    assert ApiKey.objects.get(tenant=tenant).environment == "sandbox"


@pytest.mark.django_db
def test_apikey_create_live(capsys, direct_tenant):
    result, code = run_json(capsys, "apikey_create", "--tenant", direct_tenant.tenant.id, "--environment", "live")
    assert code == 0 and result["apiKey"].startswith("pk_live_") and KEY.fullmatch(result["apiKey"])


@pytest.mark.django_db
def test_vendor_account_create_and_errors(capsys, middleware_tenant, direct_tenant):
    result, code = run_json(capsys, "vendor_account_create", "--tenant", middleware_tenant.tenant.id,
                            "--name", "Orbit", "--external-id", "orbit")
    assert code == 0 and VendorAccount.objects.get(pk=result["vendorAccountId"]).external_id == "orbit"
    result, code = run_json(capsys, "vendor_account_create", "--tenant", middleware_tenant.tenant.id,
                            "--name", "Again", "--external-id", "orbit")
    assert code == 1 and result["error"]["code"] == "EXTERNAL_ID_TAKEN"
    result, code = run_json(capsys, "vendor_account_create", "--tenant", direct_tenant.tenant.id, "--name", "X")
    assert code == 1 and result["error"]["code"] == "TENANT_KIND_FORBIDDEN"


@pytest.mark.django_db
def test_webhook_endpoint_create(capsys, direct_tenant):
    result, code = run_json(capsys, "webhook_endpoint_create", "--tenant", direct_tenant.tenant.id,
                            "--url", "https://hooks.example.com/in", "--environment", "live")
    assert code == 0 and result["secret"].startswith("whsec_") and len(result["secret"]) == 50
    endpoint = Endpoint.objects.get(pk=result["id"])
    assert endpoint.environment == "production" and result["secret"] not in endpoint.secret_encrypted


def test_invalid_arguments_exit_2():
    completed = subprocess.run(
        [sys.executable, "manage.py", "tenant_create", "--name", "X", "--kind", "robot", "--json"],
        capture_output=True, text=True, env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": ""},
    )
    assert completed.returncode == 2 and completed.stdout == ""


@pytest.mark.django_db
def test_log_key_generate(capsys):
    result, code = run_json(capsys, "log_key_generate")
    assert code == 0 and len(result["privateKey"]) == 44 and len(result["publicKey"]) == 44


@pytest.mark.django_db
def test_access_codes_rehash_recomputes_hashes(capsys, direct_tenant, settings):
    from records.models import SharedRecord
    from records.services.shared_records import access_code, code_hash
    from tests.records.helpers import emit

    emit(direct_tenant, "acct-1")
    shared = SharedRecord.objects.get()
    settings.ACCESS_CODE_HMAC_KEY = b"a-new-derived-key-after-rotation"
    assert shared.access_code_hash != code_hash(shared.customer_record_id, access_code(shared))
    result, code = run_json(capsys, "access_codes_rehash")
    assert (result, code) == ({"rehashed": 1}, 0)
    shared.refresh_from_db()
    assert shared.access_code_hash == code_hash(shared.customer_record_id, access_code(shared))
