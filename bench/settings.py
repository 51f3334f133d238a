"""Settings of the baseline server: the service's own settings (same middleware, database, DEBUG off) with
the bench-only URLconf, so the baseline differs from the service only in the view it runs."""

from pacspace.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"
