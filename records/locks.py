"""Serialization for the embedded default: SQLite has no row locks, so one process-wide lock stands in
for the per-record and per-log row locks that PostgreSQL provides (operations.md §4.1)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from django.db import connection

_EMBEDDED_LOCK = threading.RLock()


@contextlib.contextmanager
def write_serialization() -> Iterator[None]:
    """Wrap a write transaction; a no-op on PostgreSQL, where row locks do the work."""
    if connection.vendor == "postgresql":
        yield
        return
    with _EMBEDDED_LOCK:
        yield
