"""Fixed-window rate limits (api.md §1.11) with an atomic Redis counter.

INCR and the window's EXPIRE run in one server-side script (one command, one round trip on every
API request), so concurrent requests never lose a count (DRF's cache-based throttle reads,
modifies and writes back) and no window key outlives its window. Without Redis (the embedded default) a
process-local counter serves the single process. If Redis is unreachable we fail open: limits are
a fairness tool, not a reason to refuse billing evidence.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache

from django.conf import settings

from pacspace.errors import DomainError

logger = logging.getLogger("pacspace.ratelimit")
WINDOW_SECONDS = 60
_local_lock = threading.Lock()
_local_counts: dict[str, int] = {}


_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@lru_cache(maxsize=1)
def redis_client():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


@lru_cache(maxsize=1)
def _count_script():
    return redis_client().register_script(_COUNT_SCRIPT)


def _count_local(key: str) -> int:
    with _local_lock:
        if len(_local_counts) > 100_000:  # old windows: keep memory bounded
            _local_counts.clear()
        _local_counts[key] = _local_counts.get(key, 0) + 1
        return _local_counts[key]


def _count(key: str) -> int | None:
    if not settings.REDIS_URL:
        return _count_local(key)
    try:
        return int(_count_script()(keys=[key], args=[WINDOW_SECONDS * 2]))
    except Exception:  # noqa: BLE001 - fail open, loudly
        logger.warning("rate limit counter unavailable; allowing request", exc_info=True)
        return None


def rate_limit_hit(*, surface: str, subject: str, limit: int, now: float | None = None) -> None:
    """Count one request of `subject`; raise RATE_LIMITED past `limit` in the current 60-s window."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    count = _count(f"rl:{surface}:{subject}:{window}")
    if count is not None and count > limit:
        from pacspace.metrics import RATE_LIMITED

        RATE_LIMITED.labels(surface=surface).inc()
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
        raise DomainError("RATE_LIMITED", "Rate limit exceeded", retry_after=retry_after)
