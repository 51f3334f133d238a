"""The single-emit baseline (bench/ingest.py, part b): a bare Django view that parses the same JSON body
and does one INSERT of a delta-shaped row, without authentication, validation, hashing or locks.

And the emit floor (part b'): a bare Django view doing only the work api.md makes every emit do, with
hand-written SQL and no framework: the API key lookup, the per-key rate-limit count, one transaction
that locks the customer record, looks the referenceId up, inserts the delta with its contentHash and
advances the record's intake head, and the on-commit seal signal. No validation beyond what that needs,
no DRF, no model instances: what an emit costs on this stack before any of our own layers."""

from __future__ import annotations

import hashlib
import json
import secrets
from decimal import Decimal

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from pacspace import health, jsonout
from pacspace.ratelimit import rate_limit_hit
from records.proofs import canonical_item, content_hash, format_timestamp, loads_exact, to_hex
from records.tasks import seal_soon

EMIT_TABLE = "bench_delta_emit"
INSERT = (
    f"INSERT INTO {EMIT_TABLE} (record_id, tenant_id, environment, customer_record_id, customer_id, delta_text,"
    " amount, reason, reference_id, metadata_json, status, intake_sequence, created_at, content_hash,"
    " error_code, error_message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " RETURNING id"
)


@csrf_exempt
def insert_one(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    record_id = "rec_" + secrets.token_hex(10)
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [
            record_id, "tnt_baseline", "sandbox", "cus_" + body["customerId"][-20:], body["customerId"],
            str(body["delta"]), Decimal(str(body["delta"])), body["reason"], body.get("referenceId"),
            json.dumps(body.get("metadata") or {}), "QUEUED", secrets.randbits(62), timezone.now(),
            "0x" + secrets.token_hex(32), "", "",
        ])  # fmt: skip
        (pk,) = cursor.fetchone()
    return JsonResponse({"success": True, "data": {"recordId": record_id, "id": pk}}, status=201)


FLOOR_KEY = (
    "SELECT k.id, k.secret_sha256, k.is_active, t.id, t.status FROM records_apikey k"
    " JOIN records_tenant t ON t.id = k.tenant_id WHERE k.public_id = %s"
)
FLOOR_LOCK = (
    "SELECT id, last_intake_sequence, last_created_at FROM records_customerrecord WHERE tenant_id = %s"
    " AND environment = %s AND vendor_account_id IS NULL AND customer_id = %s FOR UPDATE"
)
FLOOR_REFERENCE = (
    "SELECT id FROM records_delta WHERE customer_record_id = %s AND reference_id = %s AND status <> 'FAILED'"
)
FLOOR_INSERT = (
    "INSERT INTO records_delta (record_id, tenant_id, environment, customer_record_id, customer_id, delta_text,"
    " amount, reason, reference_id, metadata_json, status, intake_sequence, created_at, content_hash, error_code,"
    " error_message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'QUEUED', %s, %s, %s, '', '') RETURNING id"
)
FLOOR_RECORD = (
    "INSERT INTO records_customerrecord (id, tenant_id, environment, customer_id, created_at, last_intake_sequence,"
    " chain_length, chain_head) VALUES (%s, %s, %s, %s, %s, 0, 0, '')"
)
FLOOR_HEAD = "UPDATE records_customerrecord SET last_intake_sequence = %s, last_created_at = %s WHERE id = %s"


@csrf_exempt
def emit_floor(request: HttpRequest) -> JsonResponse:
    body = loads_exact(request.body)
    public_id, secret = request.headers["X-Api-Key"][8:].split(".")
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_KEY, [public_id])
        key_id, digest, active, tenant_id, status = cursor.fetchone()
    if not (active and status == "active" and hashlib.sha256(secret.encode()).hexdigest() == digest):
        return JsonResponse({"success": False}, status=401)
    rate_limit_hit(surface="api", subject=key_id, limit=10**9)
    amount = Decimal(body["delta"])
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FLOOR_LOCK, [tenant_id, "sandbox", body["customerId"]])
        row = cursor.fetchone()
        if row is None:  # first delta of this customer (the warm-up emits create the bench's customers)
            row = ("cus_" + secrets.token_hex(10), 0, None)
            cursor.execute(FLOOR_RECORD, [row[0], tenant_id, "sandbox", body["customerId"], now])
        record_id, sequence, last = row
        cursor.execute(FLOOR_REFERENCE, [record_id, body["referenceId"]])
        if cursor.fetchone():
            return JsonResponse({"success": False}, status=409)
        created = max(now, last) if last else now
        item = canonical_item(adjusts=None, created_at=format_timestamp(created), customer_id=body["customerId"],
                              delta=amount, metadata=body.get("metadata"), reason=body["reason"],
                              reference_id=body["referenceId"], vendor_account_id=None)
        delta_id = "rec_" + secrets.token_hex(10)
        cursor.execute(FLOOR_INSERT, [
            delta_id, tenant_id, "sandbox", record_id, body["customerId"], body["delta"], amount, body["reason"],
            body["referenceId"], jsonout.dumps(body.get("metadata") or {}).decode(), sequence + 1, created,
            to_hex(content_hash(item)),
        ])  # fmt: skip
        cursor.execute(FLOOR_HEAD, [sequence + 1, created, record_id])
        transaction.on_commit(lambda: seal_soon(tenant_id, "sandbox"))
    return JsonResponse({"success": True, "data": {"recordId": delta_id, "status": "QUEUED"}}, status=201)


urlpatterns = [
    path("healthz", health.healthz),
    path("bench/insert", insert_one),
    path("bench/emit-floor", emit_floor),
]
