"""Rate limits, metrics and deployment settings (issue: hardening)."""

import os
import secrets
import subprocess
import sys

import pytest

from pacspace.ratelimit import WINDOW_SECONDS, rate_limit_hit
from pacspace.errors import DomainError
from records.models import VendorAccount

URL = "/api/v1/middleware/vendor-accounts"


def test_api_key_limit_answers_429_with_retry_after(middleware_tenant, settings):
    settings.RATE_LIMIT_PER_MINUTE = 3
    statuses = [middleware_tenant.api.get(URL).status_code for _ in range(3)]
    refused = middleware_tenant.api.post(URL, {"displayName": "Never"})
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "RATE_LIMITED" and 1 <= error["retryAfterSeconds"] <= WINDOW_SECONDS
    assert refused["Retry-After"] == str(error["retryAfterSeconds"])
    assert not VendorAccount.objects.filter(display_name="Never").exists()


def test_limit_is_per_key(middleware_tenant, other_tenant, settings):
    settings.RATE_LIMIT_PER_MINUTE = 1
    assert middleware_tenant.api.get(URL).status_code == 200
    assert middleware_tenant.api.get(URL).status_code == 429
    assert other_tenant.api.get(URL).status_code == 200


def test_rate_limit_comes_before_tenant_kind(direct_tenant, settings):
    settings.RATE_LIMIT_PER_MINUTE = 1
    assert direct_tenant.api.get(URL).status_code == 403
    assert direct_tenant.api.get(URL).status_code == 429


def test_public_limit_is_per_address(anonymous, db, settings):
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 2
    path = "/api/v1/log/key"
    # Counters live in Redis across runs: use addresses no earlier run in this minute has used.
    here, elsewhere = (f"198.51.100.{secrets.randbelow(250) + 1}", f"2001:db8::{secrets.token_hex(2)}")
    statuses = [anonymous.client.get(path, REMOTE_ADDR=here).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert anonymous.client.get(path, REMOTE_ADDR=elsewhere).status_code == 200


def test_windows_are_fixed_and_counted_atomically(settings):
    settings.RATE_LIMIT_PER_MINUTE = 2
    subject = f"unit-{os.getpid()}"
    rate_limit_hit(surface="unit", subject=subject, limit=2, now=120.0)
    rate_limit_hit(surface="unit", subject=subject, limit=2, now=150.0)
    with pytest.raises(DomainError) as refused:
        rate_limit_hit(surface="unit", subject=subject, limit=2, now=170.0)
    assert refused.value.retry_after == 10
    rate_limit_hit(surface="unit", subject=subject, limit=2, now=180.0)  # a new window


def test_concurrent_hits_all_count_and_the_window_key_expires(settings):
    from concurrent.futures import ThreadPoolExecutor

    from pacspace.ratelimit import redis_client

    if not settings.REDIS_URL:
        pytest.skip("needs Redis (the embedded default counts in-process)")

    subject = f"threads-{os.getpid()}-{secrets.token_hex(4)}"
    now = 60.0 * 1000
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda _: rate_limit_hit(surface="unit", subject=subject, limit=1000, now=now), range(20)))
    key = f"rl:unit:{subject}:{int(now // WINDOW_SECONDS)}"
    assert int(redis_client().get(key)) == 20
    assert 0 < redis_client().ttl(key) <= 2 * WINDOW_SECONDS


@pytest.mark.django_db
def test_metrics_require_the_bearer_token_when_set(client, settings, direct_tenant):
    direct_tenant.api.post("/api/v1/balance/delta", {"customerId": "c", "delta": 1, "reason": "r"})
    settings.METRICS_BEARER_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()
    assert 'deltas_accepted_total{environment="sandbox"}' in body
    assert "deltas_pending" in body and direct_tenant.tenant.id not in body


def _deploy_env(**extra):
    env = {
        "PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "pacspace.settings",
        "SECRET_KEY": "k3J9-vQ2rT8_wX5zL1mN7pB4cF6hD0sA2gY8uE3iO9qR5tW1xZ7", "ALLOWED_HOSTS": "records.example.com",
        "PUBLIC_BASE_URL": "https://records.example.com",
        "LOG_SIGNING_KEY": "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", **extra,
    }
    return env


def test_check_deploy_passes_with_production_settings():
    completed = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                               capture_output=True, text=True, env=_deploy_env())
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no issues" in completed.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "PUBLIC_BASE_URL"])
def test_required_settings_outside_debug(missing):
    env = _deploy_env()
    del env[missing]
    completed = subprocess.run([sys.executable, "manage.py", "check"], capture_output=True, text=True, env=env)
    assert completed.returncode != 0 and missing in completed.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("y" * 64 + "\n")
    env = _deploy_env()
    del env["SECRET_KEY"]
    env["SECRET_KEY_FILE"] = str(secret_file)
    code = "from django.conf import settings; print(settings.SECRET_KEY == 'y' * 64)"
    completed = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"],
                               capture_output=True, text=True, env=env)
    assert completed.stdout.strip() == "True", completed.stderr
