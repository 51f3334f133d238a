"""Django settings, read from the environment (operations.md §4). One file for every deployment."""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from pacspace.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
logger = logging.getLogger("pacspace.settings")


def _debug_file_secret(name: str, make: callable) -> str:
    """In DEBUG only: a value generated once into var/ so restarts keep sessions and keys."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make(), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _required(name: str, debug_default: str | None) -> str:
    value = env_str(name)
    if value:
        return value
    if DEBUG and debug_default is not None:
        return debug_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off")


SECRET_KEY = env_str("SECRET_KEY") or (
    _debug_file_secret("secret.key", lambda: secrets.token_urlsafe(50)) if DEBUG else ""
)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")
PUBLIC_BASE_URL = _required("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")
PUBLIC_HOST = urlsplit(PUBLIC_BASE_URL).netloc.lower()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "records",
    "middleware_api",
    "webhooks",
]

MIDDLEWARE = [
    "pacspace.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pacspace.urls"
WSGI_APPLICATION = "pacspace.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "OPTIONS": {"timeout": 30},
        }
    }
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- I18N / time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# --- Security ---------------------------------------------------------------------------------
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Preload-list submission is hard to undo and belongs to the operator's domain policy, so it is an
# explicit opt-in (docs/operations.md) rather than a deploy-check warning on every installation.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 11 * 1024 * 1024  # the batch route's 10 MiB plus envelope; see api.md §1.11


def _derived_key(label: str) -> bytes:
    """Keys derived from SECRET_KEY with HKDF-SHA256 so one secret feeds independent purposes."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(
        SECRET_KEY.encode()
    )


FIELD_ENCRYPTION_KEYS = env_list(
    "FIELD_ENCRYPTION_KEY", [base64.urlsafe_b64encode(_derived_key("pacspace/field-encryption")).decode()]
)
IP_HASH_SALT = env_str("IP_HASH_SALT") or _derived_key("pacspace/ip-hash").hex()
ACCESS_CODE_HMAC_KEY = _derived_key("pacspace/access-code")

# Ed25519 log signing key (proofs.md §4.3): a base64 seed, or via LOG_SIGNING_KEY_FILE a file holding
# that base64 text or a PKCS#8 PEM key (env_str reads *_FILE; records.signing tells the two apart).
LOG_SIGNING_KEY = env_str("LOG_SIGNING_KEY")
if not LOG_SIGNING_KEY and DEBUG:
    LOG_SIGNING_KEY = _debug_file_secret(
        "log-signing.key", lambda: base64.b64encode(secrets.token_bytes(32)).decode()
    )
    logger.warning("LOG_SIGNING_KEY not set: using a development key from var/log-signing.key")

# --- Service settings (operations.md §4) -------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
EMBEDDED_MODE = not CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", EMBEDDED_MODE)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes Django's connection around every task unless told otherwise; one new PostgreSQL
# connection per webhook delivery halved delivery throughput in bench/webhooks.py.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_TASK_DEFAULT_QUEUE = "seal"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ROUTES = {
    "records.tasks.seal_log": {"queue": "seal"},
    "records.tasks.seal_pending": {"queue": "seal"},
    "records.tasks.prune_idempotency_keys": {"queue": "seal"},
    "records.tasks.render_export": {"queue": "exports"},
    "records.tasks.requeue_stale_exports": {"queue": "exports"},
    "records.tasks.expire_exports": {"queue": "exports"},
    "webhooks.tasks.*": {"queue": "webhooks"},
}

IDEMPOTENCY_KEY_TTL_HOURS = max(24, env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24))
RATE_LIMIT_PER_MINUTE = env_int("RATE_LIMIT_PER_MINUTE", 6000, minimum=1)
PUBLIC_RATE_LIMIT_PER_MINUTE = env_int("PUBLIC_RATE_LIMIT_PER_MINUTE", 120, minimum=1)
MAX_SCOPE_MONTHS = env_int("MAX_SCOPE_MONTHS", 24, minimum=1)
SEAL_BATCH_SIZE = env_int("SEAL_BATCH_SIZE", 500, minimum=1)
SEAL_INTERVAL_SECONDS = env_int("SEAL_INTERVAL_SECONDS", 2, minimum=1)
# Checkpoints covering more deltas than this mark `checkpointId` on them after the verifying commit, in
# chunks, so the seal transaction (and its log lock) never rewrites a million rows at once.
CHECKPOINT_INLINE_MARK_LIMIT = env_int("CHECKPOINT_INLINE_MARK_LIMIT", 50_000, minimum=0)
STEP_UP_MAX_FAILURES = env_int("STEP_UP_MAX_FAILURES", 5, minimum=1)
STEP_UP_WINDOW_MINUTES = env_int("STEP_UP_WINDOW_MINUTES", 15, minimum=1)
STEP_UP_LOCKOUT_MINUTES = env_int("STEP_UP_LOCKOUT_MINUTES", 15, minimum=1)
STEP_UP_COOKIE_MINUTES = env_int("STEP_UP_COOKIE_MINUTES", 30, minimum=1)
VIEW_EVENT_THROTTLE_MINUTES = env_int("VIEW_EVENT_THROTTLE_MINUTES", 30, minimum=0)
DEFAULT_SHARED_RECORD_POLICY = env_str("DEFAULT_SHARED_RECORD_POLICY", "TWO_TIER")
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", DEBUG)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 15, minimum=1)
WEBHOOK_AUTO_DISABLE_DAYS = env_int("WEBHOOK_AUTO_DISABLE_DAYS", 5, minimum=1)
WEBHOOK_LOG_RETENTION_DAYS = env_int("WEBHOOK_LOG_RETENTION_DAYS", 30, minimum=1)
EXPORT_STORAGE = env_str("EXPORT_STORAGE", "database")
EXPORT_STORAGE_DIR = env_str("EXPORT_STORAGE_DIR", str(VAR_DIR / "exports"))
EXPORT_TTL_HOURS = env_int("EXPORT_TTL_HOURS", 168, minimum=1)
EXPORT_MAX_BYTES = env_int("EXPORT_MAX_BYTES", 52428800, minimum=1)
_retention = env_str("ACCESS_LOG_RETENTION_DAYS")
ACCESS_LOG_RETENTION_DAYS = int(_retention) if _retention else None
METRICS_BEARER_TOKEN = env_str("METRICS_BEARER_TOKEN")

# --- DRF / OpenAPI ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["pacspace.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["pacspace.auth.IsTenantAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["pacspace.rendering.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": ["pacspace.rendering.ExactJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "pacspace.schema.AutoSchema",
    "EXCEPTION_HANDLER": "pacspace.api.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [],
    # `format` is a real query parameter of the export routes (json|csv|pdf|bundle), not a renderer.
    "URL_FORMAT_OVERRIDE": None,
    # No OPTIONS metadata: no CORS, no browsable API; OPTIONS answers 405 like any unlisted method.
    "DEFAULT_METADATA_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PacSpace Verified Records API",
    "DESCRIPTION": "Self-hosted verified usage records: Balance API, transparency log, Middleware Verified Records.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VendorAccountStatusEnum": "records.models.VendorAccount.Status",
        "DeltaStatusEnum": "records.models.DeltaStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pacspace.schema.envelope_hook",
    ],
}

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "pacspace.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "pacspace.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "celery": {"level": "INFO"},
        # One line per task is noise in the embedded default, where every commit runs a task inline.
        "celery.app.trace": {"level": "WARNING"},
    },
}
