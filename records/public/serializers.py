"""Shapes of the Shared Record JSON routes for OpenAPI (api.md §5.2). Views answer with selector
output; these document it and the step-up body. Nested customer objects (Entry, Period, ExportJob)
are documented as objects here: the middleware API registers the named components for them."""

from __future__ import annotations

from rest_framework import serializers

from records.models import Tenant


class SharedRecordLinksSerializer(serializers.Serializer):
    activity = serializers.CharField()
    periods = serializers.CharField()
    compare = serializers.CharField()
    export = serializers.CharField()
    accessVerify = serializers.CharField()


class SharedRecordSummarySerializer(serializers.Serializer):
    handle = serializers.CharField()
    policy = serializers.ChoiceField(choices=Tenant.Policy.choices)
    environment = serializers.ChoiceField(choices=["sandbox", "production"])
    identity = serializers.DictField()
    unlocked = serializers.BooleanField()
    stepUpRequired = serializers.BooleanField()
    unlockExpiresAt = serializers.DateTimeField(allow_null=True)
    period = serializers.CharField(allow_null=True, help_text="null while a GATED record is locked")
    recordedThisPeriod = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=False,
                                                  allow_null=True)
    recordCountThisCycle = serializers.IntegerField(allow_null=True)
    verifiedThrough = serializers.DateTimeField(allow_null=True)
    recentRecords = serializers.ListField(child=serializers.DictField(), allow_null=True,
                                          help_text="Brief entries; full Entries once unlocked or under OPEN")
    links = SharedRecordLinksSerializer(allow_null=True)


class SharedRecordStepUpInputSerializer(serializers.Serializer):
    factor = serializers.ChoiceField(choices=["ACCESS_HINT"])
    value = serializers.CharField(max_length=64, help_text="The access code; spaces and '-' are ignored")


class SharedRecordStepUpSerializer(serializers.Serializer):
    unlocked = serializers.BooleanField()
    policy = serializers.ChoiceField(choices=Tenant.Policy.choices)
    expiresAt = serializers.DateTimeField(allow_null=True, help_text="null under OPEN (no cookie is set)")


class SharedRecordPageSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.DictField())
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class SharedRecordCompareInputSerializer(serializers.Serializer):
    fromCheckpointId = serializers.CharField(required=False)
    toCheckpointId = serializers.CharField(required=False)
    fromPeriod = serializers.CharField(required=False, help_text="YYYY-MM")
    toPeriod = serializers.CharField(required=False, help_text="YYYY-MM")
