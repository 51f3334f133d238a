"""Webhook target rules (webhooks.md §5.6). Pure: the caller says whether private targets are allowed."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

REFUSED_HOSTNAMES = {"localhost", "metadata", "metadata.google.internal"}


class TargetNotAllowed(ValueError):
    """The URL or address may not receive webhooks."""


def is_allowed_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def validate_endpoint_url(url: str, *, allow_private: bool) -> str:
    """Checks done at create/update time (no DNS); returns the URL unchanged."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise TargetNotAllowed("url must be 1–2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetNotAllowed("url must be an absolute http(s) URL with a host")
    if allow_private:
        return url
    if parts.scheme != "https":
        raise TargetNotAllowed("url must use https")
    if parts.username is not None or parts.password is not None:
        raise TargetNotAllowed("url must not carry user info")
    host = parts.hostname.lower().rstrip(".")
    if host in REFUSED_HOSTNAMES or host.endswith(".localhost"):
        raise TargetNotAllowed("url host is not allowed")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return url  # a hostname: its addresses are checked at every attempt
    if not is_allowed_address(host):
        raise TargetNotAllowed("url address is not a public address")
    return url
