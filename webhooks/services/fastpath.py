"""The two writes every batch of deliveries makes, in raw SQL on PostgreSQL.

STYLE allows hot paths to bypass the ORM; this is the only such place in webhooks. Each function
covers the common case only and leaves everything else to deliveries.py, which takes the ORM way: it
decides the same things with row locks and also handles what is left out here (disabled and slow
endpoints, duplicate messages, failures, lost leases). On SQLite, which has no `FOR UPDATE SKIP
LOCKED`, the ORM way is always taken.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import connection

from webhooks.models import Attempt

# SKIP LOCKED: a row another worker is claiming right now is that worker's; this batch goes on without it.
# Rows are found by primary key and checked after the lock, on the values the lock returned: with
# `status = 'PENDING'` in a WHERE on the table the planner may pick the partial due index, whose
# entries for rows that are no longer pending (tens of thousands between vacuums) it then walks.
CLAIM = """
WITH locked AS MATERIALIZED (
    SELECT id, status, next_attempt_at, lease_expires_at FROM webhooks_delivery
     WHERE id = ANY(%(ids)s::varchar[])
       FOR UPDATE SKIP LOCKED)
UPDATE webhooks_delivery AS d
   SET lease_expires_at = %(lease)s, attempt_count = d.attempt_count + 1
  FROM locked, webhooks_endpoint AS p, webhooks_event AS e
 WHERE d.id = locked.id AND locked.status = 'PENDING' AND locked.next_attempt_at <= %(now)s
   AND (locked.lease_expires_at IS NULL OR locked.lease_expires_at <= %(now)s)
   AND p.id = d.endpoint_id AND p.is_enabled AND NOT p.is_slow AND e.id = d.event_id
RETURNING d.id, d.attempt_count, d.manual_requested, p.id, p.url, p.secret_encrypted,
          p.previous_secret_encrypted, p.previous_secret_expires_at, p.failing_since, e.id, e.type, e.body
"""
COLUMNS = (
    "delivery_id", "attempt_count", "manual_requested", "endpoint_id", "url", "secret_encrypted",
    "previous_secret_encrypted", "previous_secret_expires_at", "failing_since", "event_id", "event_type",
    "body",
)  # fmt: skip


def claim(*, delivery_ids: list[str], now: datetime, lease: datetime) -> list[dict[str, Any]]:
    """Lease those of the deliveries that are due, unleased, PENDING, and go to an enabled endpoint that
    is not slow; the others are not touched."""
    if connection.vendor != "postgresql" or not delivery_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(CLAIM, {"ids": list(delivery_ids), "now": now, "lease": lease})
        rows = cursor.fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


# One statement for the whole batch: each delivery still holding the lease it was claimed with becomes
# DELIVERED, and exactly those get their attempt row.
DELIVERED = """
WITH sent AS (
    SELECT * FROM unnest(%(delivery_id)s::varchar[], %(lease)s::timestamptz[], %(number)s::integer[],
                         %(at)s::timestamptz[], %(url)s::varchar[], %(address_check)s::varchar[],
                         %(addresses)s::text[], %(status_code)s::integer[], %(latency_ms)s::integer[],
                         %(response_body)s::text[], %(is_manual)s::boolean[])
        AS s(delivery_id, lease, number, at, url, address_check, addresses, status_code, latency_ms,
             response_body, is_manual)),
delivered AS (
    UPDATE webhooks_delivery AS d
       SET status = 'DELIVERED', delivered_at = s.at, next_attempt_at = NULL, lease_expires_at = NULL,
           enqueued_at = NULL, manual_requested = false, last_attempt_at = s.at,
           last_status_code = s.status_code, last_error = '',
           scheduled_attempts = d.scheduled_attempts + CASE WHEN d.is_scheduled THEN 1 ELSE 0 END
      FROM sent AS s
     WHERE d.id = s.delivery_id AND d.status = 'PENDING' AND d.lease_expires_at = s.lease
 RETURNING d.id)
INSERT INTO webhooks_attempt (delivery_id, number, at, url, address_check, addresses, status_code, latency_ms,
                              error, response_body, is_manual)
SELECT s.delivery_id, s.number, s.at, s.url, s.address_check, s.addresses::jsonb, s.status_code,
       s.latency_ms, '', s.response_body, s.is_manual
  FROM sent AS s JOIN delivered ON delivered.id = s.delivery_id
RETURNING delivery_id, id
"""
ATTEMPT_FIELDS = ("delivery_id", "number", "at", "url", "address_check", "status_code", "latency_ms")


def record_delivered(attempts: list[Attempt], *, leases: list[datetime]) -> bool:
    """2xx attempts: each delivery whose lease (`leases`, in the same order) is still current becomes
    DELIVERED and its attempt is logged (the attempt's id is set). Attempts left without an id were not
    written: their lease was taken over. Caller holds the endpoint row. False, with nothing written,
    when the database is not PostgreSQL."""
    if connection.vendor != "postgresql":
        return False
    if not attempts:
        return True
    values: dict[str, list] = {name: [getattr(a, name) for a in attempts] for name in ATTEMPT_FIELDS}
    values.update(
        lease=leases,
        addresses=[json.dumps(a.addresses) for a in attempts],
        response_body=[a.response_body for a in attempts],
        is_manual=[a.is_manual for a in attempts],
    )
    with connection.cursor() as cursor:
        cursor.execute(DELIVERED, values)
        ids = dict(cursor.fetchall())
    for attempt in attempts:
        attempt.pk = ids.get(attempt.delivery_id)
    return True
