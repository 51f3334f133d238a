"""OpenAPI shapes of the Balance API. Views render with selector functions; these document them."""

from __future__ import annotations

from rest_framework import serializers


class DeltaItemInputSerializer(serializers.Serializer):
    customerId = serializers.CharField(max_length=128)
    delta = serializers.CharField(help_text="JSON number or decimal string; non-zero, |delta| ≤ 1e9")
    reason = serializers.CharField(max_length=500)
    referenceId = serializers.CharField(required=False, allow_null=True, max_length=256)
    metadata = serializers.DictField(required=False, allow_null=True)
    adjusts = serializers.DictField(required=False, allow_null=True, child=serializers.CharField())
    vendorAccountId = serializers.CharField(required=False)


class BatchInputSerializer(serializers.Serializer):
    deltas = DeltaItemInputSerializer(many=True)
    vendorAccountId = serializers.CharField(required=False)


class ErrorObjectSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(required=False)


class EmitOutputSerializer(serializers.Serializer):
    recordId = serializers.CharField()
    status = serializers.ChoiceField(choices=["QUEUED", "PROCESSING", "VERIFIED", "FAILED"])
    customerId = serializers.CharField()
    customerRecordId = serializers.CharField()
    vendorAccountId = serializers.CharField(allow_null=True)
    delta = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=False)
    referenceId = serializers.CharField(allow_null=True)
    contentHash = serializers.CharField()
    receiptId = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    idempotent = serializers.BooleanField()


class BatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.CharField()
    recordId = serializers.CharField(allow_null=True)
    customerId = serializers.CharField(allow_null=True)
    customerRecordId = serializers.CharField(allow_null=True)
    delta = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=False, allow_null=True)
    referenceId = serializers.CharField(allow_null=True)
    contentHash = serializers.CharField(allow_null=True)
    idempotent = serializers.BooleanField()
    error = ErrorObjectSerializer(allow_null=True)


class BatchOutputSerializer(serializers.Serializer):
    totalQueued = serializers.IntegerField()
    totalFailed = serializers.IntegerField()
    totalReplayed = serializers.IntegerField()
    results = BatchResultSerializer(many=True)


class DeltaSerializer(serializers.Serializer):
    recordId = serializers.CharField()
    status = serializers.CharField()
    state = serializers.CharField(allow_null=True)
    customerId = serializers.CharField()
    customerRecordId = serializers.CharField()
    vendorAccountId = serializers.CharField(allow_null=True)
    delta = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=False)
    reason = serializers.CharField()
    referenceId = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    adjusts = serializers.DictField(allow_null=True)
    contentHash = serializers.CharField()
    receiptId = serializers.CharField(allow_null=True)
    proofHash = serializers.CharField(allow_null=True)
    previousProofHash = serializers.CharField(allow_null=True)
    intakeSequence = serializers.IntegerField()
    chainIndex = serializers.IntegerField(allow_null=True)
    deltaIndex = serializers.IntegerField(allow_null=True)
    sequenceNumber = serializers.CharField(allow_null=True)
    verificationReference = serializers.CharField(allow_null=True)
    verifiedAt = serializers.DateTimeField(allow_null=True)
    blockTimestamp = serializers.DateTimeField(allow_null=True)
    checkpointId = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    failedAt = serializers.DateTimeField(allow_null=True)
    error = ErrorObjectSerializer(allow_null=True)


class CompareInputSerializer(serializers.Serializer):
    customerId = serializers.CharField()
    yourBalance = serializers.CharField()
    theirBalance = serializers.CharField()
    startingBalance = serializers.CharField(required=False)
    period = serializers.CharField(required=False)
    timePreset = serializers.CharField(required=False)
    startDate = serializers.CharField(required=False)
    endDate = serializers.CharField(required=False)
    startingCheckpoint = serializers.CharField(required=False)
    startingCheckpointType = serializers.CharField(required=False)
    vendorAccountId = serializers.CharField(required=False)
    granularity = serializers.CharField(required=False)


class CheckpointInputSerializer(serializers.Serializer):
    customerId = serializers.CharField(required=False, allow_null=True)
    period = serializers.CharField(required=False)
    timePreset = serializers.CharField(required=False)
    startDate = serializers.CharField(required=False)
    endDate = serializers.CharField(required=False)
    vendorAccountId = serializers.CharField(required=False)
    mode = serializers.CharField(required=False)
    fingerprints = serializers.JSONField(required=False)


class CheckpointSerializer(serializers.Serializer):
    checkpointId = serializers.CharField()
    status = serializers.CharField()
    customerId = serializers.CharField()
    customerRecordId = serializers.CharField()
    vendorAccountId = serializers.CharField(allow_null=True)
    period = serializers.CharField(allow_null=True)
    windowStart = serializers.DateTimeField()
    windowEnd = serializers.DateTimeField()
    cutoffAt = serializers.DateTimeField()
    coveredThrough = serializers.DateTimeField()
    recordCount = serializers.IntegerField(allow_null=True)
    credits = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=False, allow_null=True)
    debits = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=False, allow_null=True)
    netChange = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=False, allow_null=True)
    proofRoot = serializers.CharField(allow_null=True)
    verificationReference = serializers.CharField(allow_null=True)
    treeSize = serializers.IntegerField(allow_null=True)
    createdAt = serializers.DateTimeField()
    verifiedAt = serializers.DateTimeField(allow_null=True)
    supersedes = serializers.CharField(allow_null=True)
    supersededBy = serializers.CharField(allow_null=True)


class CheckpointListSerializer(serializers.Serializer):
    checkpoints = CheckpointSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
