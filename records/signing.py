"""The deployment's Ed25519 log key, loaded once from settings (proofs.md §4.3)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from records.tlog import NoteSigner


@lru_cache(maxsize=1)
def log_signer() -> NoteSigner:
    """Raises ImproperlyConfigured when no key is configured (readiness then fails)."""
    material = settings.LOG_SIGNING_KEY
    if not material:
        raise ImproperlyConfigured("LOG_SIGNING_KEY or LOG_SIGNING_KEY_FILE must be set")
    if material.lstrip().startswith("-----BEGIN"):
        return NoteSigner.from_pem(material.encode("ascii"))
    return NoteSigner.from_base64_seed(material.strip())
