"""The domain's tables. Ledger rows (deltas, checkpoints, log rows, heads) are insert-only."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from pacspace.ids import new_id


class Environment(models.TextChoices):
    SANDBOX = "sandbox", "sandbox"
    PRODUCTION = "production", "production"


# Module-level id factories: migrations can only reference importable callables.
def new_tenant_id() -> str:
    return new_id("tnt")


def new_key_id() -> str:
    return new_id("key")


def new_vendor_account_id() -> str:
    return new_id("cmw")


def new_customer_record_id() -> str:
    return new_id("cus")


def new_record_id() -> str:
    return new_id("rec")


def new_checkpoint_id() -> str:
    return new_id("chk")


def _id_field(default) -> models.CharField:
    return models.CharField(primary_key=True, max_length=24, default=default, editable=False)


class Tenant(models.Model):
    class Kind(models.TextChoices):
        DIRECT_INFERENCE_VENDOR = "DIRECT_INFERENCE_VENDOR"
        BILLING_MIDDLEWARE = "BILLING_MIDDLEWARE"

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    class Policy(models.TextChoices):
        TWO_TIER = "TWO_TIER"
        GATED = "GATED"
        OPEN = "OPEN"

    id = _id_field(new_tenant_id)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    default_shared_record_policy = models.CharField(max_length=16, choices=Policy.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def is_middleware(self) -> bool:
        return self.kind == self.Kind.BILLING_MIDDLEWARE

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class ApiKey(models.Model):
    """`pk_{test|live}_{publicId}.{secret}`; only SHA-256(secret) is stored (api.md §1.4)."""

    id = _id_field(new_key_id)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="api_keys")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    name = models.CharField(max_length=200, blank=True)
    public_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_sha256 = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    @property
    def public_key(self) -> str:
        prefix = "pk_test_" if self.environment == Environment.SANDBOX else "pk_live_"
        return f"{prefix}{self.public_id}"

    def __str__(self) -> str:
        return f"{self.public_key}… ({self.tenant_id})"


class VendorAccount(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        DISABLED = "disabled"

    id = _id_field(new_vendor_account_id)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="vendor_accounts")
    display_name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=128, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=Q(external_id__isnull=False),
                name="vendor_account_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.id})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class CustomerRecord(models.Model):
    """One customer's isolated history; its row lock orders intake (proofs.md §1)."""

    id = _id_field(new_customer_record_id)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="customer_records")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    vendor_account = models.ForeignKey(
        VendorAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="customer_records"
    )
    customer_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Intake and chain heads, advanced only under this row's lock.
    last_intake_sequence = models.PositiveBigIntegerField(default=0)
    last_created_at = models.DateTimeField(null=True, blank=True)
    chain_length = models.PositiveBigIntegerField(default=0)
    chain_head = models.CharField(max_length=66, blank=True)

    class Meta:
        ordering = ["customer_id"]
        constraints = [
            # Two partial constraints instead of NULLS NOT DISTINCT so SQLite enforces them too.
            models.UniqueConstraint(
                fields=["tenant", "environment", "customer_id"],
                condition=Q(vendor_account__isnull=True),
                name="customer_record_direct_unique",
            ),
            models.UniqueConstraint(
                fields=["tenant", "environment", "vendor_account", "customer_id"],
                condition=Q(vendor_account__isnull=False),
                name="customer_record_vendor_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} ({self.id})"


class DeltaStatus(models.TextChoices):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    VERIFIED = "VERIFIED"
    FAILED = "FAILED"


class Delta(models.Model):
    """One accepted usage change. Only the seal worker moves it forward; nothing ever deletes it."""

    # Indexes: every delta row is written three times (accepted, claimed, sealed; proofs.md §5) and
    # none of those updates can be HOT, so each index costs on every write. The table keeps only the
    # ones a query uses: no separate FK indexes (composite indexes below lead with those columns; a
    # delta is never deleted, so PROTECT never looks up by them), no varchar_pattern_ops copies
    # (nothing filters deltas by LIKE), partial indexes where only some rows are looked up.
    # The bigint primary key is the acceptance order the seal worker follows (proofs.md §5).
    id = models.BigAutoField(primary_key=True)
    record_id = models.CharField(max_length=24, default=new_record_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    environment = models.CharField(max_length=16, choices=Environment.choices)
    customer_record = models.ForeignKey(
        CustomerRecord, on_delete=models.PROTECT, related_name="deltas", db_index=False
    )
    vendor_account = models.ForeignKey(
        VendorAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    customer_id = models.CharField(max_length=128)
    # delta_text is the hashed form; amount is the same value for SQL sums.
    delta_text = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=28, decimal_places=18)
    reason = models.TextField()
    reference_id = models.CharField(max_length=256, null=True, blank=True)
    metadata_json = models.TextField(default="{}")
    adjusts_json = models.TextField(null=True, blank=True)
    adjusts_delta = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    status = models.CharField(max_length=16, choices=DeltaStatus.choices, default=DeltaStatus.QUEUED)
    intake_sequence = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()
    content_hash = models.CharField(max_length=66)
    chain_index = models.PositiveBigIntegerField(null=True, blank=True)
    leaf_index = models.PositiveBigIntegerField(null=True, blank=True)
    proof_hash = models.CharField(max_length=66, null=True, blank=True)
    previous_proof_hash = models.CharField(max_length=66, null=True, blank=True)
    verification_reference = models.CharField(max_length=90, null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Not indexed and no FK constraint: a checkpoint sets this on every covered row in one UPDATE, and
    # an unindexed column lets PostgreSQL do that as HOT updates (with the table's fillfactor headroom)
    # instead of new entries in every index. Reads always filter by record first.
    checkpoint = models.ForeignKey(
        "Checkpoint", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="first_covered",
        db_index=False, db_constraint=False,
    )
    failed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["record_id"], name="delta_record_id_unique"),
            models.UniqueConstraint(
                fields=["customer_record", "reference_id"],
                condition=Q(reference_id__isnull=False) & ~Q(status="FAILED"),
                name="delta_reference_unique_live",
            ),
            models.UniqueConstraint(fields=["customer_record", "intake_sequence"], name="delta_intake_unique"),
            models.UniqueConstraint(
                fields=["customer_record", "chain_index"],
                condition=Q(chain_index__isnull=False),
                name="delta_chain_unique",
            ),
            models.UniqueConstraint(
                fields=["tenant", "environment", "leaf_index"],
                condition=Q(leaf_index__isnull=False),
                name="delta_leaf_unique",
            ),
        ]
        indexes = [
            # Seal claims and the pending counts (beat, metrics): only rows still waiting are in it.
            models.Index(
                fields=["tenant", "environment", "id"],
                condition=Q(status__in=["QUEUED", "PROCESSING"]),
                name="delta_pending_idx",
            ),
            models.Index(fields=["tenant", "environment", "created_at"], name="delta_tenant_time_idx"),
            models.Index(fields=["customer_record", "created_at"], name="delta_window_idx"),
            models.Index(fields=["proof_hash"], condition=Q(proof_hash__isnull=False), name="delta_proof_hash_idx"),
        ]

    def __str__(self) -> str:
        return self.record_id


class Checkpoint(models.Model):
    """A commitment over one record's verified deltas in one window; append-only (api.md §2.6)."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED"
        VERIFIED = "VERIFIED"
        FAILED = "FAILED"

    id = _id_field(new_checkpoint_id)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    customer_record = models.ForeignKey(CustomerRecord, on_delete=models.PROTECT, related_name="checkpoints")
    vendor_account = models.ForeignKey(
        VendorAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    period = models.CharField(max_length=7, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    cutoff_at = models.DateTimeField()
    cutoff_sequence = models.PositiveBigIntegerField()
    record_count = models.PositiveBigIntegerField(null=True, blank=True)
    credits = models.DecimalField(max_digits=40, decimal_places=18, null=True, blank=True)
    debits = models.DecimalField(max_digits=40, decimal_places=18, null=True, blank=True)
    net_change = models.DecimalField(max_digits=40, decimal_places=18, null=True, blank=True)
    proof_root = models.CharField(max_length=66, blank=True)
    verification_reference = models.CharField(max_length=90, null=True, blank=True)
    tree_size = models.PositiveBigIntegerField(null=True, blank=True)
    first_leaf_index = models.PositiveBigIntegerField(null=True, blank=True)
    last_leaf_index = models.PositiveBigIntegerField(null=True, blank=True)
    first_chain_index = models.PositiveBigIntegerField(null=True, blank=True)
    last_chain_index = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # False while a large checkpoint's covered rows are still being marked in bounded chunks.
    coverage_marked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["customer_record", "window_start", "window_end"], name="checkpoint_window_idx"),
            models.Index(fields=["tenant", "environment", "status"], name="checkpoint_status_idx"),
            models.Index(fields=["proof_root"], name="checkpoint_root_idx"),
        ]

    def __str__(self) -> str:
        return self.id


class IdempotencyKey(models.Model):
    """`Idempotency-Key` marker and stored outcome (api.md §1.9); unique per tenant/environment/route."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    route = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    is_completed = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "environment", "route", "key"], name="idempotency_key_unique")
        ]
        indexes = [models.Index(fields=["completed_at"], name="idempotency_completed_idx")]


class LogState(models.Model):
    """One RFC 6962 log per (tenant, environment); its row lock serializes sealing (proofs.md §4–5)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    origin = models.CharField(max_length=300)
    tree_size = models.PositiveBigIntegerField(default=0)
    root_hash = models.BinaryField(max_length=32, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "environment"], name="log_state_unique")]

    def __str__(self) -> str:
        return self.origin


class LogLeaf(models.Model):
    # The (log, leaf_index) constraint serves every lookup by log: no separate FK index.
    log = models.ForeignKey(LogState, on_delete=models.PROTECT, related_name="leaves", db_index=False)
    leaf_index = models.PositiveBigIntegerField()
    leaf_hash = models.BinaryField(max_length=32)
    delta = models.OneToOneField(Delta, on_delete=models.PROTECT, related_name="log_leaf")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["log", "leaf_index"], name="log_leaf_unique")]


class LogNode(models.Model):
    """A complete subtree (level ≥ 1) covering leaves [index·2^level, (index+1)·2^level)."""

    log = models.ForeignKey(LogState, on_delete=models.PROTECT, related_name="nodes", db_index=False)
    level = models.PositiveSmallIntegerField()
    index = models.PositiveBigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["log", "level", "index"], name="log_node_unique")]


class SignedTreeHead(models.Model):
    log = models.ForeignKey(LogState, on_delete=models.PROTECT, related_name="heads")
    tree_size = models.PositiveBigIntegerField()
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField()
    key_id = models.CharField(max_length=8)
    public_key = models.CharField(max_length=44)
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["-tree_size"]
        constraints = [models.UniqueConstraint(fields=["log", "tree_size"], name="signed_head_unique")]

    @property
    def reference(self) -> str:
        return f"{self.tree_size}:0x{bytes(self.root_hash).hex()}"


class SharedRecord(models.Model):
    """The customer's persistent link (api.md §5): one per customer record, one active handle.

    Step-up failures are counted on this row under its lock, so concurrent attempts cannot race.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"

    customer_record = models.OneToOneField(CustomerRecord, on_delete=models.PROTECT, related_name="shared_record")
    handle = models.CharField(max_length=24, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    policy = models.CharField(max_length=16, choices=Tenant.Policy.choices, blank=True)
    access_code_hash = models.CharField(max_length=64)
    access_code_encrypted = models.TextField()
    code_version = models.PositiveIntegerField(default=1)
    code_rotated_at = models.DateTimeField(default=timezone.now)
    issued_at = models.DateTimeField(default=timezone.now)
    reissue_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveSmallIntegerField(default=0)
    failure_window_start = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.handle


class AccessLogEntry(models.Model):
    """Append-only: every view, step-up, export, compare and link change; a viewer hash, never an IP."""

    class Action(models.TextChoices):
        VIEW = "view"
        STEP_UP_SUCCESS = "step_up_success"
        STEP_UP_FAILURE = "step_up_failure"
        STEP_UP_LOCKED = "step_up_locked"
        EXPORT = "export"
        COMPARE = "compare"
        LINK_REISSUED = "link_reissued"
        LINK_REVOKED = "link_revoked"
        CODE_ROTATED = "code_rotated"
        POLICY_CHANGED = "policy_changed"

    customer_record = models.ForeignKey(CustomerRecord, on_delete=models.PROTECT, related_name="access_log")
    handle = models.CharField(max_length=24, blank=True)
    action = models.CharField(max_length=24, choices=Action.choices)
    actor_type = models.CharField(max_length=32)
    tier = models.CharField(max_length=16, blank=True)
    page = models.CharField(max_length=24, blank=True)
    surface = models.CharField(max_length=8, blank=True)
    viewer_hash = models.CharField(max_length=32, blank=True)
    user_agent_family = models.CharField(max_length=32, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    event_sent = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer_record", "action", "created_at"], name="access_log_lookup_idx")]


def new_export_id() -> str:
    return new_id("exp")


class ExportJob(models.Model):
    """A pdf or bundle render (api.md §1.12 ExportJob, §4.12); json/csv exports stream and need no job."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED"
        RENDERING = "RENDERING"
        READY = "READY"
        FAILED = "FAILED"
        EXPIRED = "EXPIRED"

    class Format(models.TextChoices):
        JSON = "json"
        CSV = "csv"
        PDF = "pdf"
        BUNDLE = "bundle"

    id = models.CharField(primary_key=True, max_length=24, default=new_export_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    customer_record = models.ForeignKey(CustomerRecord, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=8, choices=Format.choices)
    basis = models.CharField(max_length=16)  # checkpoint | live
    period = models.CharField(max_length=7, blank=True)
    checkpoint = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    snapshot = models.CharField(max_length=64)  # checkpoint id, or "live:{lastIntakeSequence}:{lastChainIndex}"
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_by = models.CharField(max_length=32)  # actor type: tenant_api | shared_record_visitor | staff
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    filename = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    content = models.BinaryField(null=True, blank=True)  # EXPORT_STORAGE=database
    file_path = models.CharField(max_length=500, blank=True)  # EXPORT_STORAGE=filesystem
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer_record", "format", "snapshot"], name="export_reuse_idx"),
            models.Index(fields=["status", "created_at"], name="export_status_idx"),
        ]

    def __str__(self) -> str:
        return self.id
