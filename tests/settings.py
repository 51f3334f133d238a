"""Test settings: the service's own settings.py with test defaults for what a deployment must supply.

The env defaults are set before importing so `pacspace.settings` sees them exactly as in production.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("PUBLIC_BASE_URL", "https://records.example.com")
# RFC 8032 test-1 seed, the key of the golden vectors in proofs.md §8.6.
os.environ.setdefault("LOG_SIGNING_KEY", "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
os.environ.setdefault("WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("LOG_FORMAT", "text")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))
# Unit tests run tasks eagerly; tests marked `celery_worker` switch to the real broker and worker.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from pacspace.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
