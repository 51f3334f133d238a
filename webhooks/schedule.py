"""Retry schedule (webhooks.md §5.4). Pure: no ORM, no settings.

The first attempt goes out when the event commits; after the n-th failed scheduled attempt
(n = 1…10) the delivery waits ``RETRY_DELAYS[n - 1]`` (±10 % jitter on non-zero delays) and tries
again. The 11th failure is final.
"""

from __future__ import annotations

import random
from datetime import timedelta

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = 1 + len(RETRY_DELAYS)
JITTER = 0.10

_jitter_source = random.Random()  # noqa: S311 - spreads retries; nothing secret depends on it


def retry_delay(failed_attempts: int, *, rng: random.Random = _jitter_source) -> timedelta | None:
    """The wait after ``failed_attempts`` scheduled failures, or None when the schedule is used up."""
    if not 1 <= failed_attempts < MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[failed_attempts - 1]
    if not base:
        return base
    return base * rng.uniform(1 - JITTER, 1 + JITTER)
