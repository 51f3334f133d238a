"""Output shapes of the webhook API (api.md §6, webhooks.md §6): documented for OpenAPI by the
serializers, rendered by the `*_out` functions."""

from __future__ import annotations

from rest_framework import serializers

from webhooks.models import Attempt, Delivery, Endpoint

# The Balance vocabulary of webhooks.md §6; the PacSpace SDK rewrites any other `status` word.
BALANCE_STATUS = {
    Delivery.Status.PENDING: "QUEUED",
    Delivery.Status.DELIVERED: "VERIFIED",
    Delivery.Status.FAILED: "FAILED",
}


class BalanceStatusField(serializers.CharField):
    """`deliveryStatus` in Balance words. A plain string in the schema: an enum named `status` would
    collide with the other `status` enums of the API."""

    def __init__(self) -> None:
        super().__init__(help_text="QUEUED (pending) | VERIFIED (delivered) | FAILED")


class EndpointSerializer(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.CharField()
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    environment = serializers.ChoiceField(choices=["sandbox", "production"])
    disabledReason = serializers.ChoiceField(choices=Endpoint.DisabledReason.choices, allow_null=True)
    disabledAt = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    lastDeliveryAt = serializers.DateTimeField(allow_null=True)
    successCount = serializers.IntegerField()
    failureCount = serializers.IntegerField()
    secretRotatedAt = serializers.DateTimeField(allow_null=True)
    previousSecretExpiresAt = serializers.DateTimeField(allow_null=True)


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="whsec_…; shown only in this answer")


class EndpointListSerializer(serializers.Serializer):
    items = EndpointSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class EndpointDeletedSerializer(serializers.Serializer):
    id = serializers.CharField()
    deleted = serializers.BooleanField()


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    at = serializers.DateTimeField()
    statusCode = serializers.IntegerField(allow_null=True)
    latencyMs = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    manual = serializers.BooleanField()


class AttemptDetailSerializer(AttemptSerializer):
    responseBody = serializers.CharField()


class DeliverySerializer(serializers.Serializer):
    id = serializers.CharField()
    eventId = serializers.CharField()
    event = serializers.CharField()
    endpointId = serializers.CharField()
    url = serializers.CharField()
    deliveryStatus = serializers.ChoiceField(choices=Delivery.Status.choices)
    status = BalanceStatusField()
    attempts = serializers.IntegerField()
    nextAttemptAt = serializers.DateTimeField(allow_null=True)
    lastAttemptAt = serializers.DateTimeField(allow_null=True)
    lastStatusCode = serializers.IntegerField(allow_null=True)
    lastError = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    deliveredAt = serializers.DateTimeField(allow_null=True)
    attemptLog = AttemptSerializer(many=True)


class DeliveryDetailSerializer(DeliverySerializer):
    attemptLog = AttemptDetailSerializer(many=True)
    requestBody = serializers.CharField(help_text="the stored body, byte for byte what every attempt sent")


class DeliveryListSerializer(serializers.Serializer):
    items = DeliverySerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class DeliveryStateSerializer(serializers.Serializer):
    id = serializers.CharField()
    deliveryStatus = serializers.ChoiceField(choices=Delivery.Status.choices)
    status = BalanceStatusField()


class RetrySerializer(serializers.Serializer):
    eventId = serializers.CharField()
    deliveries = DeliveryStateSerializer(many=True)


class TestResultSerializer(serializers.Serializer):
    eventId = serializers.CharField()
    deliveryId = serializers.CharField()
    success = serializers.BooleanField()
    statusCode = serializers.IntegerField(allow_null=True)
    latencyMs = serializers.IntegerField(allow_null=True)
    responseBody = serializers.CharField()
    error = serializers.CharField(allow_null=True)


def endpoint_out(endpoint: Endpoint, *, secret: str | None = None) -> dict:
    out = {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "enabled": endpoint.is_enabled,
        "environment": endpoint.environment,
        "disabledReason": endpoint.disabled_reason or None,
        "disabledAt": endpoint.disabled_at,
        "createdAt": endpoint.created_at,
        "updatedAt": endpoint.updated_at,
        "lastDeliveryAt": endpoint.last_delivery_at,
        "successCount": endpoint.success_count,
        "failureCount": endpoint.failure_count,
        "secretRotatedAt": endpoint.secret_rotated_at,
        "previousSecretExpiresAt": endpoint.previous_secret_expires_at,
    }
    if secret is not None:
        out["secret"] = secret
    return out


def delivery_state_out(delivery: Delivery) -> dict:
    return {"id": delivery.pk, "deliveryStatus": delivery.status, "status": BALANCE_STATUS[delivery.status]}


def delivery_out(delivery: Delivery, *, detail: bool = False) -> dict:
    out = {
        "id": delivery.pk,
        "eventId": delivery.event_id,
        "event": delivery.event.type,
        "endpointId": delivery.endpoint_id,
        "url": delivery.endpoint.url,
        "deliveryStatus": delivery.status,
        "status": BALANCE_STATUS[delivery.status],
        "attempts": delivery.attempt_count,
        "nextAttemptAt": delivery.next_attempt_at,
        "lastAttemptAt": delivery.last_attempt_at,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error or None,
        "createdAt": delivery.created_at,
        "deliveredAt": delivery.delivered_at,
        "attemptLog": [attempt_out(a, detail=detail) for a in delivery.attempts.all()],
    }
    if detail:
        out["requestBody"] = bytes(delivery.event.body).decode("utf-8")
    return out


def attempt_out(attempt: Attempt, *, detail: bool = False) -> dict:
    out = {
        "attempt": attempt.number,
        "at": attempt.at,
        "statusCode": attempt.status_code,
        "latencyMs": attempt.latency_ms,
        "error": attempt.error or None,
        "manual": attempt.is_manual,
    }
    if detail:
        out["responseBody"] = attempt.response_body
    return out


def test_result_out(attempt: Attempt) -> dict:
    return {
        "eventId": attempt.delivery.event_id,
        "deliveryId": attempt.delivery_id,
        "success": not attempt.error,
        "statusCode": attempt.status_code,
        "latencyMs": attempt.latency_ms,
        "responseBody": attempt.response_body,
        "error": attempt.error or None,
    }
