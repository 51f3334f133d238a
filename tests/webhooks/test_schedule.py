"""The retry schedule of webhooks.md §5.4 and its jitter bounds."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from webhooks.schedule import MAX_ATTEMPTS, RETRY_DELAYS, retry_delay

TABLE = [
    timedelta(0), timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=14), timedelta(hours=20), timedelta(hours=24),
]  # fmt: skip


class Extreme(random.Random):
    """`uniform(a, b)` at one end of its range."""

    def __init__(self, high: bool) -> None:
        super().__init__()
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def test_the_ten_retries_of_the_table():
    assert list(RETRY_DELAYS) == TABLE
    assert MAX_ATTEMPTS == 11
    assert sum(TABLE, timedelta()) == timedelta(hours=75, minutes=35, seconds=5)  # "about 75.6 h"


def test_first_retry_is_immediate_and_never_jittered():
    assert {retry_delay(1, rng=Extreme(high)) for high in (False, True)} == {timedelta(0)}


@pytest.mark.parametrize("failures", range(2, 11))
def test_jitter_is_exactly_ten_percent_at_the_ends(failures):
    base = TABLE[failures - 1]
    assert retry_delay(failures, rng=Extreme(False)) == base * 0.9
    assert retry_delay(failures, rng=Extreme(True)) == base * 1.1


@pytest.mark.parametrize("failures", range(2, 11))
def test_jitter_stays_within_bounds_and_spreads(failures):
    base = TABLE[failures - 1]
    rng = random.Random(failures)  # noqa: S311 - reproducible samples, nothing secret
    samples = [retry_delay(failures, rng=rng) for _ in range(2000)]
    assert all(base * 0.9 <= s <= base * 1.1 for s in samples)
    assert min(samples) < base * 0.92 and max(samples) > base * 1.08  # uniform, not a fixed offset


@pytest.mark.parametrize("failures", [0, 11, 12])
def test_no_delay_outside_the_schedule(failures):
    assert retry_delay(failures) is None
