"""Shapes of the middleware API for OpenAPI. Views render with selector functions; these serializers
document their output and the request bodies (api.md §1.12, §4). One declaration per spec object, in
the spec's order; kept as one file past ~400 lines because it holds declarations only, no logic."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from records.api.serializers import CheckpointSerializer
from records.models import Checkpoint, ExportJob, SharedRecord, Tenant, VendorAccount


class StatusField(serializers.ChoiceField):
    """A `status` enum documented as its own named component. Several objects here have a `status`
    with different values; left to drf-spectacular their enum names collide (a warning, and
    `spectacular --fail-on-warn` fails), and ENUM_NAME_OVERRIDES lives in project settings."""

    def __init__(self, *, enum_name: str, **kwargs) -> None:
        self.enum_name = enum_name
        super().__init__(**kwargs)


class StatusFieldExtension(OpenApiSerializerFieldExtension):
    target_class = StatusField

    def map_serializer_field(self, auto_schema, direction) -> dict:
        name = f"{self.target.enum_name}Enum"
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name,
                                      schema={"type": "string", "enum": list(self.target.choices)})
        auto_schema.registry.register_on_missing(component)
        return component.ref


def _amount(**kwargs) -> serializers.DecimalField:
    """Amounts are exact JSON numbers (api.md §1.6)."""
    return serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=False, **kwargs)


def _page_of(item: serializers.Serializer, name: str) -> type[serializers.Serializer]:
    """`{items, total, limit, offset}` around `item` (api.md §1.7)."""
    return type(name, (serializers.Serializer,), {
        "items": item, "total": serializers.IntegerField(), "limit": serializers.IntegerField(),
        "offset": serializers.IntegerField(),
    })


# --- Vendor accounts (4.1) ----------------------------------------------------------------------------
class VendorAccountSerializer(serializers.Serializer):
    id = serializers.CharField()
    displayName = serializers.CharField(source="display_name")
    externalId = serializers.CharField(source="external_id", allow_null=True)
    status = serializers.ChoiceField(choices=VendorAccount.Status.choices)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


VendorAccountListSerializer = _page_of(VendorAccountSerializer(many=True), "VendorAccountListSerializer")


def vendor_account_out(account: VendorAccount) -> dict:
    return {
        "id": account.id,
        "displayName": account.display_name,
        "externalId": account.external_id,
        "status": account.status,
        "createdAt": account.created_at,
        "updatedAt": account.updated_at,
    }


# --- Shared objects (1.12) --------------------------------------------------------------------------------
class IdentityTenantSerializer(serializers.Serializer):
    name = serializers.CharField()


class IdentityRecordedBySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["middleware_vendor_account", "tenant"])
    id = serializers.CharField()
    displayName = serializers.CharField()


class IdentitySerializer(serializers.Serializer):
    tenant = IdentityTenantSerializer()
    recordedBy = IdentityRecordedBySerializer()


class EntrySerializer(serializers.Serializer):
    recordId = serializers.CharField()
    recordedAt = serializers.DateTimeField()
    amount = _amount()
    reason = serializers.CharField()
    referenceId = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    adjusts = serializers.DictField(allow_null=True)
    state = serializers.ChoiceField(choices=["recording", "recorded", "verified"])
    contentHash = serializers.CharField()
    proofHash = serializers.CharField(allow_null=True)
    leafIndex = serializers.IntegerField(allow_null=True)
    chainIndex = serializers.IntegerField(allow_null=True)
    verificationReference = serializers.CharField(allow_null=True)
    checkpointId = serializers.CharField(allow_null=True)


class PeriodSerializer(CheckpointSerializer):
    """The Period object: the Checkpoint object without its Balance-API addressing (api.md §1.12)."""

    customerId = customerRecordId = vendorAccountId = cutoffAt = None
    status = StatusField(enum_name="CheckpointStatus", choices=Checkpoint.Status.choices)


PeriodListSerializer = _page_of(PeriodSerializer(many=True), "PeriodListSerializer")
EntryPageSerializer = _page_of(EntrySerializer(many=True), "EntryPageSerializer")


class ExportScopeSerializer(serializers.Serializer):
    basis = serializers.ChoiceField(choices=["checkpoint", "live"])
    period = serializers.CharField(allow_null=True)
    checkpointId = serializers.CharField(allow_null=True)
    windowStart = serializers.DateTimeField()
    windowEnd = serializers.DateTimeField()


class ExportJobSerializer(serializers.Serializer):
    exportId = serializers.CharField()
    status = StatusField(enum_name="ExportJobStatus", choices=ExportJob.Status.choices)
    format = serializers.ChoiceField(choices=ExportJob.Format.choices)
    customerId = serializers.CharField()
    scope = ExportScopeSerializer()
    createdAt = serializers.DateTimeField()
    completedAt = serializers.DateTimeField(allow_null=True)
    filename = serializers.CharField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)
    sizeBytes = serializers.IntegerField(allow_null=True)
    downloadUrl = serializers.CharField(allow_null=True, help_text="Path; only when READY")
    expiresAt = serializers.DateTimeField(allow_null=True)
    error = serializers.DictField(allow_null=True)


# --- Record card (4.2) ------------------------------------------------------------------------------------
class VendorAccountBriefSerializer(serializers.Serializer):
    id = serializers.CharField()
    displayName = serializers.CharField()
    externalId = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=VendorAccount.Status.choices)


class SharedRecordBriefSerializer(serializers.Serializer):
    url = serializers.CharField(allow_null=True, help_text="null while the link is revoked")
    status = StatusField(enum_name="LinkStatus", choices=SharedRecord.Status.choices)
    policy = serializers.ChoiceField(choices=Tenant.Policy.choices)


class CustomerLinksSerializer(serializers.Serializer):
    live = serializers.CharField()
    periods = serializers.CharField()
    closePackage = serializers.CharField()
    accessLink = serializers.CharField()
    compare = serializers.CharField()
    export = serializers.CharField()


class CustomerRecordSerializer(serializers.Serializer):
    customerId = serializers.CharField()
    externalCustomerId = serializers.CharField()
    vendorAccountId = serializers.CharField()
    vendorAccount = VendorAccountBriefSerializer()
    environment = serializers.ChoiceField(choices=["sandbox", "production"])
    customerReference = serializers.CharField()
    totalDeltas = serializers.IntegerField()
    computedBalance = _amount()
    firstDeltaAt = serializers.DateTimeField(allow_null=True)
    lastDeltaAt = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()
    latestCheckpoint = PeriodSerializer(allow_null=True)
    sharedRecord = SharedRecordBriefSerializer()
    identity = IdentitySerializer()
    links = CustomerLinksSerializer()


# --- Readiness (4.3) --------------------------------------------------------------------------------------
class RemediationSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["wait", "commit_checkpoint", "reissue_link"])
    method = serializers.ChoiceField(choices=["GET", "POST"])
    path = serializers.CharField()
    body = serializers.DictField(allow_null=True)


class BlockerSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[
        "RECORDS_PENDING", "NO_CHECKPOINT", "CHECKPOINT_PENDING", "RECORDS_NOT_COVERED", "LINK_REVOKED"])
    message = serializers.CharField()
    count = serializers.IntegerField(required=False)
    remediation = RemediationSerializer()


class SignalSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[
        "SHARED_RECORD_VIEWED", "EXPORT_DOWNLOADED", "COMPARE_RUN", "STEP_UP_FAILED_REPEATEDLY", "LINK_REISSUED",
        "LINK_REVOKED"])
    count = serializers.IntegerField()
    firstAt = serializers.DateTimeField()
    lastAt = serializers.DateTimeField()


class ReadinessCheckpointSerializer(serializers.Serializer):
    checkpointId = serializers.CharField()
    status = StatusField(enum_name="CheckpointStatus", choices=Checkpoint.Status.choices)
    proofRoot = serializers.CharField(allow_null=True)
    verificationReference = serializers.CharField(allow_null=True)


class CoverageSerializer(serializers.Serializer):
    recordCount = serializers.IntegerField()
    recordingCount = serializers.IntegerField()
    recordedCount = serializers.IntegerField()
    verifiedCount = serializers.IntegerField()
    failedCount = serializers.IntegerField()


class ReadinessLinkSerializer(serializers.Serializer):
    status = StatusField(enum_name="LinkStatus", choices=SharedRecord.Status.choices)
    url = serializers.CharField(allow_null=True)


class AccessCodeStatusSerializer(serializers.Serializer):
    status = StatusField(enum_name="AccessCodeStatus", choices=["ready", "not_required"])


class ReadinessRowSerializer(serializers.Serializer):
    customerId = serializers.CharField()
    externalCustomerId = serializers.CharField()
    vendorAccountId = serializers.CharField()
    period = serializers.CharField()
    status = StatusField(enum_name="ReadinessStatus", choices=["ready", "blocked"])
    checkpoint = ReadinessCheckpointSerializer(allow_null=True)
    coverage = CoverageSerializer()
    link = ReadinessLinkSerializer()
    accessCode = AccessCodeStatusSerializer()
    blockers = BlockerSerializer(many=True)
    signals = SignalSerializer(many=True)


class ReadinessSummarySerializer(serializers.Serializer):
    ready = serializers.IntegerField()
    blocked = serializers.IntegerField()


class ReadinessListSerializer(_page_of(ReadinessRowSerializer(many=True), "ReadinessPageSerializer")):
    period = serializers.CharField()
    summary = ReadinessSummarySerializer()


# --- Live, period detail (4.4–4.6) ------------------------------------------------------------------------
class LinkSerializer(serializers.Serializer):
    url = serializers.CharField(allow_null=True)
    host = serializers.CharField()
    handle = serializers.CharField(allow_null=True)
    status = StatusField(enum_name="LinkStatus", choices=SharedRecord.Status.choices)


class LiveSerializer(serializers.Serializer):
    customerId = serializers.CharField()
    externalCustomerId = serializers.CharField()
    vendorAccountId = serializers.CharField()
    environment = serializers.ChoiceField(choices=["sandbox", "production"])
    period = serializers.CharField()
    recordedThisPeriod = _amount()
    recordCountThisCycle = serializers.IntegerField()
    recordingCount = serializers.IntegerField()
    verifiedThrough = serializers.DateTimeField(allow_null=True)
    recentRecords = EntrySerializer(many=True)
    link = LinkSerializer()
    policy = serializers.ChoiceField(choices=Tenant.Policy.choices)
    identity = IdentitySerializer()


class PeriodDetailSerializer(serializers.Serializer):
    period = PeriodSerializer()
    identity = IdentitySerializer()
    customerId = serializers.CharField()
    externalCustomerId = serializers.CharField()
    vendorAccountId = serializers.CharField()
    records = EntryPageSerializer()


# --- Close package (4.7) ----------------------------------------------------------------------------------
class TotalsSerializer(serializers.Serializer):
    recordCount = serializers.IntegerField()
    credits = _amount()
    debits = _amount()
    netChange = _amount()


class ManifestItemSerializer(serializers.Serializer):
    recordId = serializers.CharField()
    recordedAt = serializers.DateTimeField()
    amount = _amount()
    reason = serializers.CharField()
    referenceId = serializers.CharField(allow_null=True)
    contentHash = serializers.CharField()
    proofHash = serializers.CharField()
    leafIndex = serializers.IntegerField()
    chainIndex = serializers.IntegerField()


class SharedRecordLinkSerializer(LinkSerializer):
    policy = serializers.ChoiceField(choices=Tenant.Policy.choices)


class CopyableCodeSerializer(serializers.Serializer):
    code = serializers.CharField(allow_null=True, help_text="null under OPEN or while the link is revoked")
    copyText = serializers.CharField(allow_null=True)


class BundleReferenceSerializer(serializers.Serializer):
    exportId = serializers.CharField()
    status = StatusField(enum_name="ExportJobStatus", choices=ExportJob.Status.choices)
    sha256 = serializers.CharField(allow_null=True)
    sizeBytes = serializers.IntegerField(allow_null=True)
    downloadUrl = serializers.CharField(allow_null=True)
    signature = serializers.CharField(allow_null=True)
    publicKey = serializers.CharField(allow_null=True)


class AccessLogSummarySerializer(serializers.Serializer):
    views = serializers.IntegerField()
    uniqueViewers = serializers.IntegerField()
    exports = serializers.IntegerField()
    compares = serializers.IntegerField()
    failedStepUps = serializers.IntegerField()
    lockouts = serializers.IntegerField()
    linkReissues = serializers.IntegerField()
    linkRevocations = serializers.IntegerField()
    codeRotations = serializers.IntegerField()
    firstViewedAt = serializers.DateTimeField(allow_null=True)
    lastViewedAt = serializers.DateTimeField(allow_null=True)


class ClosePackageSerializer(serializers.Serializer):
    customerId = serializers.CharField()
    externalCustomerId = serializers.CharField()
    vendorAccountId = serializers.CharField()
    period = serializers.CharField()
    identity = IdentitySerializer()
    generatedAt = serializers.DateTimeField()
    totals = TotalsSerializer()
    checkpoint = PeriodSerializer()
    manifest = ManifestItemSerializer(many=True)
    sharedRecord = SharedRecordLinkSerializer()
    accessCode = CopyableCodeSerializer()
    bundle = BundleReferenceSerializer()
    accessLog = AccessLogSummarySerializer()


# --- Access link (4.8–4.9) --------------------------------------------------------------------------------
class AccessCodeSerializer(serializers.Serializer):
    status = StatusField(enum_name="AccessCodeStatus", choices=["ready", "not_required"])
    code = serializers.CharField(help_text="Plaintext; shown to the tenant only")
    rotatedAt = serializers.DateTimeField()


class StepUpSerializer(serializers.Serializer):
    lockedUntil = serializers.DateTimeField(allow_null=True)
    failuresInWindow = serializers.IntegerField()


class LinkReadinessSerializer(serializers.Serializer):
    link = serializers.BooleanField()
    accessCode = serializers.BooleanField()


class AccessLinkSerializer(serializers.Serializer):
    customerId = serializers.CharField()
    handle = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    host = serializers.CharField()
    status = StatusField(enum_name="LinkStatus", choices=SharedRecord.Status.choices)
    policy = serializers.ChoiceField(choices=Tenant.Policy.choices)
    accessCode = AccessCodeSerializer()
    stepUp = StepUpSerializer()
    issuedAt = serializers.DateTimeField()
    reissueCount = serializers.IntegerField()
    readiness = LinkReadinessSerializer()


class AccessLinkUpdateInputSerializer(serializers.Serializer):
    policy = serializers.ChoiceField(choices=Tenant.Policy.choices)


class AccessLinkReissueInputSerializer(serializers.Serializer):
    rotateCode = serializers.BooleanField(required=False, default=False)


class EmptyInputSerializer(serializers.Serializer):
    """No fields; an empty JSON object (or no body) is expected."""


# --- Compare (4.11) ---------------------------------------------------------------------------------------
class PeriodCompareInputSerializer(serializers.Serializer):
    fromCheckpointId = serializers.CharField(required=False)
    toCheckpointId = serializers.CharField(required=False)
    fromPeriod = serializers.CharField(required=False, help_text="YYYY-MM")
    toPeriod = serializers.CharField(required=False, help_text="YYYY-MM")


class CompareSideSerializer(serializers.Serializer):
    basis = serializers.ChoiceField(choices=["checkpoint", "live"])
    period = serializers.CharField(allow_null=True)
    checkpointId = serializers.CharField(allow_null=True)
    windowStart = serializers.DateTimeField()
    windowEnd = serializers.DateTimeField()
    proofRoot = serializers.CharField(allow_null=True)
    recordCount = serializers.IntegerField()
    credits = _amount()
    debits = _amount()
    netChange = _amount()


class ReasonFiguresSerializer(serializers.Serializer):
    recordCount = serializers.IntegerField()
    netChange = _amount()


class ReasonGroupSerializer(serializers.Serializer):
    reasonGroup = serializers.CharField()
    # `from` is a Python keyword, so the field is declared under another name and renamed below.
    from_ = ReasonFiguresSerializer()
    to = ReasonFiguresSerializer()
    difference = ReasonFiguresSerializer()


class OnlyInSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = EntrySerializer(many=True)
    truncated = serializers.BooleanField()


class CompareSerializer(serializers.Serializer):
    customerId = serializers.CharField()
    externalCustomerId = serializers.CharField()
    vendorAccountId = serializers.CharField()
    identity = IdentitySerializer()
    comparedAt = serializers.DateTimeField()
    from_ = CompareSideSerializer()
    to = CompareSideSerializer()
    difference = TotalsSerializer()
    byReason = ReasonGroupSerializer(many=True)
    onlyInFrom = OnlyInSerializer()
    onlyInTo = OnlyInSerializer()


for _serializer in (ReasonGroupSerializer, CompareSerializer):
    _serializer._declared_fields = {
        "from" if name == "from_" else name: field for name, field in _serializer._declared_fields.items()}
