"""The two writes every delivery makes, in raw SQL on PostgreSQL.

STYLE allows hot paths to bypass the ORM; this is the only such place in webhooks. Each function
covers the common case only and answers None/False for anything else, and deliveries.py then takes
the ORM way, which decides the same things with row locks and also handles what is left out here
(disabled and slow endpoints, duplicate messages, failures, lost leases). On SQLite, which has no
`FOR UPDATE SKIP LOCKED`, the ORM way is always taken.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from webhooks.models import Attempt

CLAIM = """
UPDATE webhooks_delivery AS d
   SET lease_expires_at = %(lease)s, attempt_count = d.attempt_count + 1
  FROM webhooks_endpoint AS p, webhooks_event AS e
 WHERE d.id = (SELECT id FROM webhooks_delivery
                WHERE id = %(id)s AND status = 'PENDING' AND next_attempt_at <= %(now)s
                  AND (lease_expires_at IS NULL OR lease_expires_at <= %(now)s)
                  FOR UPDATE SKIP LOCKED)
   AND p.id = d.endpoint_id AND p.is_enabled AND NOT p.is_slow
   AND e.id = d.event_id
RETURNING d.attempt_count, d.manual_requested, p.id, p.url, p.secret_encrypted, p.previous_secret_encrypted,
          p.previous_secret_expires_at, e.id, e.type, e.body
"""
COLUMNS = (
    "attempt_count", "manual_requested", "endpoint_id", "url", "secret_encrypted",
    "previous_secret_encrypted", "previous_secret_expires_at", "event_id", "event_type", "body",
)  # fmt: skip


def claim(*, delivery_id: str, now: datetime, lease: datetime) -> dict[str, Any] | None:
    """Lease a due, unleased PENDING delivery to an enabled endpoint that is not slow, or nothing."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(CLAIM, {"id": delivery_id, "now": now, "lease": lease})
        row = cursor.fetchone()
    return dict(zip(COLUMNS, row, strict=True)) if row else None


# The endpoint row first, then the delivery: the lock order of deliveries.py. The subquery locks the row
# before reading `is_slow`, so the value returned is the one this update replaced.
ENDPOINT_SUCCESS = """
UPDATE webhooks_endpoint AS p
   SET success_count = p.success_count + 1, last_delivery_at = %(at)s, failing_since = NULL, is_slow = false
  FROM (SELECT id, is_slow FROM webhooks_endpoint WHERE id = %(endpoint_id)s FOR UPDATE) AS old
 WHERE p.id = old.id
RETURNING old.is_slow
"""
DELIVERED = """
WITH delivered AS (
    UPDATE webhooks_delivery
       SET status = 'DELIVERED', delivered_at = %(at)s, next_attempt_at = NULL, lease_expires_at = NULL,
           enqueued_at = NULL, manual_requested = false, last_attempt_at = %(at)s,
           last_status_code = %(status_code)s, last_error = '',
           scheduled_attempts = scheduled_attempts + CASE WHEN is_scheduled THEN 1 ELSE 0 END
     WHERE id = %(delivery_id)s AND status = 'PENDING' AND lease_expires_at = %(lease)s
 RETURNING id)
INSERT INTO webhooks_attempt (delivery_id, number, at, url, address_check, addresses, status_code, latency_ms,
                              error, response_body, is_manual)
SELECT id, %(number)s, %(at)s, %(url)s, %(address_check)s, %(addresses)s::jsonb, %(status_code)s,
       %(latency_ms)s, '', %(response_body)s, %(is_manual)s
  FROM delivered
RETURNING id
"""


def record_success(
    attempt: Attempt, *, endpoint_id: str, lease: datetime, affects_endpoint: bool
) -> bool | None:
    """A 2xx attempt whose lease is still current: delivery DELIVERED, attempt logged (its id is set on
    `attempt`), endpoint counters moved. Returns whether the endpoint was marked slow until now, or None,
    with nothing written, when the lease is no longer ours (or the database is not PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    values = {
        **{
            field: getattr(attempt, field)
            for field in ("number", "at", "url", "address_check", "status_code")
        },
        **{field: getattr(attempt, field) for field in ("latency_ms", "response_body", "is_manual")},
        "delivery_id": attempt.delivery_id,
        "addresses": json.dumps(attempt.addresses),
        "endpoint_id": endpoint_id,
        "lease": lease,
    }
    was_slow = False
    with transaction.atomic(), connection.cursor() as cursor:
        if affects_endpoint:
            cursor.execute(ENDPOINT_SUCCESS, values)
            was_slow = bool(cursor.fetchone()[0])
        cursor.execute(DELIVERED, values)
        row = cursor.fetchone()
        if row is None:
            transaction.set_rollback(True)
            return None
    attempt.pk = row[0]
    return was_slow
