"""Operator staff screens (operations.md §2). Ledger models are read-only for everyone."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from records.models import (
    AccessLogEntry,
    ApiKey,
    Checkpoint,
    CustomerRecord,
    Delta,
    IdempotencyKey,
    LogState,
    SharedRecord,
    SignedTreeHead,
    Tenant,
    VendorAccount,
)
from records.services.shared_records import (
    access_code,
    effective_policy,
    link_url,
    shared_record_of,
    shared_record_reissue,
    shared_record_revoke,
    shared_record_rotate_code,
    shared_record_set_policy,
)
from records.scopes import Scope, period_window, previous_period
from records.services.checkpoints import checkpoints_commit
from records.services.tenants import api_key_create, api_key_revoke


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only ledger rows: nobody adds, edits or deletes them here, superusers included."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def show_secret_once(request: HttpRequest, *, title: str, label: str, secret: str, back_url: str) -> HttpResponse:
    """A confirmation page that is the only place a new secret is ever shown."""
    response = TemplateResponse(
        request,
        "admin/records/secret_once.html",
        {"title": title, "label": label, "secret": secret, "back_url": back_url, **admin.site.each_context(request)},
    )
    response["Cache-Control"] = "no-store"
    return response


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "kind", "status", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("id", "name")
    readonly_fields = ("id", "created_at", "updated_at")
    fields = ("id", "name", "kind", "status", "default_shared_record_policy", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Tenant | None = None):
        # The kind decides how records are keyed, so it freezes once a record exists.
        if obj is not None and CustomerRecord.objects.filter(tenant=obj).exists():
            return (*self.readonly_fields, "kind")
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return obj is None or not CustomerRecord.objects.filter(tenant=obj).exists()


class ApiKeyAddForm(forms.ModelForm):
    environment = forms.ChoiceField(choices=[("sandbox", "test (sandbox, pk_test_)"), ("production", "live (production, pk_live_)")])

    class Meta:
        model = ApiKey
        fields = ("tenant", "environment", "name")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("public_key", "tenant", "environment", "name", "is_active", "last_used_at", "created_at")
    list_filter = ("environment", "is_active")
    search_fields = ("public_id", "tenant__id", "tenant__name", "name")
    actions = ("revoke_keys",)
    readonly_fields = ("public_key", "tenant", "environment", "is_active", "created_at", "revoked_at", "last_used_at")

    def get_form(self, request: HttpRequest, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        return ("tenant", "environment", "name") if obj is None else ("name", *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        key, plaintext = api_key_create(
            tenant=form.cleaned_data["tenant"], environment=form.cleaned_data["environment"], name=obj.name
        )
        for field in ApiKey._meta.concrete_fields:  # the admin logs and redirects with this instance
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        request._new_api_key = plaintext  # lives only for this response

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None) -> HttpResponse:
        return show_secret_once(
            request,
            title="API key created",
            label="Copy this key now. It is shown only once and cannot be read back.",
            secret=request._new_api_key,
            back_url="../",
        )

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset) -> None:
        for key in queryset:
            api_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(VendorAccount)
class VendorAccountAdmin(admin.ModelAdmin):
    list_display = ("display_name", "id", "external_id", "tenant", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "display_name", "external_id", "tenant__id", "tenant__name")
    readonly_fields = ("id", "created_at", "updated_at")
    actions = ("disable", "enable")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            kwargs["queryset"] = Tenant.objects.filter(kind=Tenant.Kind.BILLING_MIDDLEWARE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Disable selected vendor accounts")
    def disable(self, request: HttpRequest, queryset) -> None:
        queryset.update(status=VendorAccount.Status.DISABLED)

    @admin.action(description="Enable selected vendor accounts")
    def enable(self, request: HttpRequest, queryset) -> None:
        queryset.update(status=VendorAccount.Status.ACTIVE)


STAFF_ACTOR = {"type": "staff"}
LEDGER_FIELDS = ("id", "tenant", "environment", "vendor_account", "customer_id", "created_at", "last_intake_sequence",
                 "last_created_at", "chain_length", "chain_head")


def _shared(record: CustomerRecord) -> SharedRecord:
    """The record's Shared Record, looked up once per admin page (every display field needs it)."""
    if not hasattr(record, "_admin_shared"):
        record._admin_shared = shared_record_of(record)
    return record._admin_shared


class CustomerRecordForm(forms.ModelForm):
    """The one thing staff change on a customer record: its Shared Record policy. Ledger fields stay read-only."""

    shared_record_policy = forms.ChoiceField(choices=Tenant.Policy.choices, label="Shared Record policy")

    class Meta:
        model = CustomerRecord
        fields = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["shared_record_policy"].initial = effective_policy(_shared(self.instance))


@admin.register(CustomerRecord)
class CustomerRecordAdmin(admin.ModelAdmin):
    """Ledger fields read-only; the Shared Record's link, code and policy managed with actor staff.

    Every link change goes through records.services.shared_records, which writes the access log and
    fires no customer webhook (operations.md §2).
    """

    form = CustomerRecordForm
    list_display = ("customer_id", "id", "tenant", "environment", "vendor_account", "last_intake_sequence",
                    "shared_record_state", "created_at")
    list_filter = ("environment",)
    list_select_related = ("tenant", "vendor_account", "shared_record")
    search_fields = ("id", "customer_id", "tenant__id", "vendor_account__id", "vendor_account__external_id",
                     "shared_record__handle")
    readonly_fields = (*LEDGER_FIELDS, "shared_status", "shared_handle", "shared_link", "shared_access_code",
                       "shared_step_up", "shared_issued")
    fieldsets = (
        (None, {"fields": LEDGER_FIELDS}),
        ("Shared Record", {"fields": ("shared_status", "shared_handle", "shared_link", "shared_access_code",
                                      "shared_record_policy", "shared_step_up", "shared_issued")}),
    )
    actions = ("rotate_access_code", "revoke_link", "reissue_link", "commit_previous_period")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CustomerRecord, form, change: bool) -> None:
        # The record itself is ledger state and is never saved from here; only a changed policy is.
        shared = _shared(obj)
        policy = form.cleaned_data["shared_record_policy"]
        if policy != effective_policy(shared):
            shared_record_set_policy(shared=shared, policy=policy, actor=STAFF_ACTOR)

    @admin.display(description="Shared Record")
    def shared_record_state(self, obj: CustomerRecord) -> str:
        shared = getattr(obj, "shared_record", None)
        return "—" if shared is None else f"{shared.status}, {effective_policy(shared, obj.tenant)}"

    @admin.display(description="Link status")
    def shared_status(self, obj: CustomerRecord) -> str:
        return _shared(obj).status

    @admin.display(description="Handle")
    def shared_handle(self, obj: CustomerRecord) -> str:
        return _shared(obj).handle

    @admin.display(description="Link URL")
    def shared_link(self, obj: CustomerRecord) -> str:
        shared = _shared(obj)
        if shared.status != SharedRecord.Status.ACTIVE:
            return "— (revoked: reissue the link to give the customer a new one)"
        return format_html('<a href="{0}" rel="noreferrer" target="_blank">{0}</a>', link_url(shared))

    @admin.display(description="Access code")
    def shared_access_code(self, obj: CustomerRecord) -> str:
        shared = _shared(obj)
        note = " (not needed under OPEN)" if effective_policy(shared) == Tenant.Policy.OPEN else ""
        return format_html("<code>{}</code>{}", access_code(shared), note)

    @admin.display(description="Step-up")
    def shared_step_up(self, obj: CustomerRecord) -> str:
        shared = _shared(obj)
        if shared.locked_until and shared.locked_until > timezone.now():
            return f"locked until {shared.locked_until:%Y-%m-%d %H:%M:%S} UTC"
        return "not locked"

    @admin.display(description="Issued")
    def shared_issued(self, obj: CustomerRecord) -> str:
        shared = _shared(obj)
        return f"{shared.issued_at:%Y-%m-%d %H:%M} UTC, reissued {shared.reissue_count} time(s)"

    @admin.action(description="Rotate the access code (the new code is shown once)")
    def rotate_access_code(self, request: HttpRequest, queryset) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Rotate one record at a time, so its new code can be shown.", messages.ERROR)
            return None
        record = queryset.get()
        _rotated, code = shared_record_rotate_code(shared=_shared(record), actor=STAFF_ACTOR)
        return show_secret_once(
            request, title="Access code rotated",
            label=f"New access code of {record.customer_id} ({record.id}). Existing unlocks have ended.",
            secret=code, back_url=request.get_full_path(),
        )

    @admin.action(description="Revoke the link (the handle answers 404 until reissued)")
    def revoke_link(self, request: HttpRequest, queryset) -> None:
        for record in queryset:
            shared_record_revoke(shared=_shared(record), actor=STAFF_ACTOR)
        self.message_user(request, f"Revoked {queryset.count()} link(s).")

    @admin.action(description="Reissue the link (new handle; the old one stops working)")
    def reissue_link(self, request: HttpRequest, queryset) -> None:
        for record in queryset:
            shared_record_reissue(shared=_shared(record), actor=STAFF_ACTOR)
        self.message_user(request, f"Reissued {queryset.count()} link(s).")

    @admin.action(description="Commit checkpoint for the previous month")
    def commit_previous_period(self, request: HttpRequest, queryset) -> None:
        """Closes last month for each selected record through the same service as the API."""
        period = previous_period()
        start, end = period_window(period)
        scope = Scope(kind="period", start=start, end=end, period=period)
        results = []
        for record in queryset.select_related("tenant", "vendor_account"):
            results += checkpoints_commit(tenant=record.tenant, environment=record.environment,
                                          vendor=record.vendor_account, customer_id=record.customer_id, scope=scope)
        created = sum(1 for r in results if not r.idempotent)
        self.message_user(request, f"{period}: {created} new checkpoint(s), {len(results) - created} already covered.")


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "customer_record", "action", "actor_type", "surface", "tier", "page", "viewer_hash",
                    "user_agent_family")
    list_filter = ("action", "actor_type", "surface", "tier")
    search_fields = ("customer_record__id", "customer_record__customer_id", "handle", "viewer_hash")
    list_select_related = ("customer_record",)


@admin.register(Delta)
class DeltaAdmin(ReadOnlyAdmin):
    list_display = ("record_id", "customer_id", "delta_text", "status", "intake_sequence", "leaf_index", "created_at")
    list_filter = ("status", "environment")
    search_fields = ("record_id", "customer_id", "reference_id", "proof_hash", "content_hash")
    list_select_related = ("customer_record",)


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer_record", "period", "status", "record_count", "proof_root", "first_leaf_index", "last_leaf_index")
    list_filter = ("status", "environment")
    search_fields = ("id", "proof_root", "customer_record__id", "customer_record__customer_id")


@admin.register(LogState)
class LogStateAdmin(ReadOnlyAdmin):
    list_display = ("origin", "tenant", "environment", "tree_size", "updated_at")


@admin.register(SignedTreeHead)
class SignedTreeHeadAdmin(ReadOnlyAdmin):
    list_display = ("log", "tree_size", "key_id", "signed_at")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("key", "tenant", "environment", "route", "is_completed", "status_code", "created_at")
    search_fields = ("key", "tenant__id")




# --- Exports (operations.md §2: read only; re-render FAILED jobs) -------------------------------------
from records.models import ExportJob  # noqa: E402 - appended section, kept self-contained
from records.services.exports import export_rerender  # noqa: E402


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer_record", "format", "basis", "period", "status", "progress", "attempts",
                    "error_code", "size_bytes", "created_at", "expires_at")
    list_filter = ("status", "format", "basis", "environment")
    search_fields = ("id", "customer_record__id", "customer_record__customer_id", "checkpoint__id", "sha256")
    list_select_related = ("customer_record",)
    exclude = ("content",)  # file bytes: downloaded through the API, never rendered into an admin page
    actions = ("rerender",)

    @admin.action(description="Re-render selected FAILED exports")
    def rerender(self, request: HttpRequest, queryset) -> None:
        requeued = sum(export_rerender(job=job) for job in queryset.filter(status=ExportJob.Status.FAILED))
        skipped = queryset.count() - requeued
        self.message_user(request, f"{requeued} export(s) queued again; {skipped} skipped (only FAILED ones).")
