"""Operator staff screens (operations.md §2). Ledger models are read-only for everyone."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from records.models import (
    ApiKey,
    Checkpoint,
    CustomerRecord,
    Delta,
    IdempotencyKey,
    LogState,
    SignedTreeHead,
    Tenant,
    VendorAccount,
)
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


@admin.register(CustomerRecord)
class CustomerRecordAdmin(ReadOnlyAdmin):
    list_display = ("customer_id", "id", "tenant", "environment", "vendor_account", "last_intake_sequence", "created_at")
    list_filter = ("environment",)
    search_fields = ("id", "customer_id", "tenant__id", "vendor_account__id", "vendor_account__external_id")


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


