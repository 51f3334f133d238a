from datetime import timedelta

import pytest
from django.utils import timezone

from records.models import ApiKey, Tenant
from records.services.tenants import api_key_create, api_key_revoke
from tests.conftest import ApiClient

VENDOR_ACCOUNTS = "/api/v1/middleware/vendor-accounts"


def _assert_invalid_key(response):
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": {"code": "INVALID_API_KEY", "message": "Missing or invalid API key"},
    }


def test_valid_key_is_accepted(middleware_tenant):
    response = middleware_tenant.api.get(VENDOR_ACCOUNTS)
    assert response.status_code == 200
    assert response.json()["data"]["total"] == 2


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "pk_test_abc",
        "Bearer pk_test_aaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "pk_prod_aaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_missing_or_malformed_key_is_refused(db, header):
    _assert_invalid_key(ApiClient(header).get(VENDOR_ACCOUNTS))


def test_wrong_secret_is_refused(middleware_tenant):
    public, _secret = middleware_tenant.api_key.split(".")
    _assert_invalid_key(ApiClient(f"{public}.{'A' * 43}").get(VENDOR_ACCOUNTS))


def test_unknown_public_id_is_refused(middleware_tenant):
    _public, secret = middleware_tenant.api_key.split(".")
    _assert_invalid_key(ApiClient(f"pk_test_{'a' * 16}.{secret}").get(VENDOR_ACCOUNTS))


def test_key_of_other_environment_prefix_is_refused(middleware_tenant):
    live_spelling = middleware_tenant.api_key.replace("pk_test_", "pk_live_")
    _assert_invalid_key(ApiClient(live_spelling).get(VENDOR_ACCOUNTS))


def test_revoked_key_is_refused(middleware_tenant):
    key = ApiKey.objects.get(tenant=middleware_tenant.tenant)
    api_key_revoke(key=key)
    _assert_invalid_key(middleware_tenant.api.get(VENDOR_ACCOUNTS))


def test_suspended_tenant_keys_are_refused(middleware_tenant):
    Tenant.objects.filter(pk=middleware_tenant.tenant.pk).update(status=Tenant.Status.SUSPENDED)
    _assert_invalid_key(middleware_tenant.api.get(VENDOR_ACCOUNTS))


def test_only_a_hash_of_the_secret_is_stored(middleware_tenant):
    key = ApiKey.objects.get(tenant=middleware_tenant.tenant)
    secret = middleware_tenant.api_key.split(".")[1]
    stored = [str(getattr(key, f.attname)) for f in ApiKey._meta.concrete_fields]
    assert all(secret not in value for value in stored)
    assert len(key.secret_sha256) == 64


def test_live_key_acts_on_production(middleware_tenant):
    key, plaintext = api_key_create(tenant=middleware_tenant.tenant, environment="live")
    assert plaintext.startswith("pk_live_") and key.environment == "production"
    assert ApiClient(plaintext).get(VENDOR_ACCOUNTS).status_code == 200


def test_last_used_at_is_written_at_most_once_a_minute(middleware_tenant, django_assert_num_queries):
    key = ApiKey.objects.get(tenant=middleware_tenant.tenant)
    assert key.last_used_at is None
    middleware_tenant.api.get(VENDOR_ACCOUNTS)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    middleware_tenant.api.get(VENDOR_ACCOUNTS)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    middleware_tenant.api.get(VENDOR_ACCOUNTS)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first
