"""Output shapes of the middleware API (documented for OpenAPI; rendered by `*_out` functions)."""

from __future__ import annotations

from rest_framework import serializers

from records.models import VendorAccount


class VendorAccountSerializer(serializers.Serializer):
    id = serializers.CharField()
    displayName = serializers.CharField(source="display_name")
    externalId = serializers.CharField(source="external_id", allow_null=True)
    status = serializers.ChoiceField(choices=VendorAccount.Status.choices)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class VendorAccountListSerializer(serializers.Serializer):
    items = VendorAccountSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


def vendor_account_out(account: VendorAccount) -> dict:
    return {
        "id": account.id,
        "displayName": account.display_name,
        "externalId": account.external_id,
        "status": account.status,
        "createdAt": account.created_at,
        "updatedAt": account.updated_at,
    }
