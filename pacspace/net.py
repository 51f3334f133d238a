"""Client address as seen through `TRUSTED_PROXY_COUNT` trusted proxies (operations.md §6.3)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address the outermost trusted proxy saw in X-Forwarded-For."""
    trusted = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "")
    if trusted <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    # Each trusted proxy appended the address it received from; the client is `trusted` from the right.
    return forwarded[-trusted] if len(forwarded) >= trusted else (forwarded[0] if forwarded else remote)
