"""The single-emit baseline (bench/ingest.py, part b): a bare Django view that parses the same JSON body
and does one INSERT of a delta-shaped row, without authentication, validation, hashing or locks."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from pacspace import health

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


urlpatterns = [
    path("healthz", health.healthz),
    path("bench/insert", insert_one),
]
