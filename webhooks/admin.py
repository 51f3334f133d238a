"""Operator screens for webhooks (operations.md §2): endpoints editable, events and deliveries read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse

from pacspace.errors import DomainError
from records.admin import ReadOnlyAdmin, show_secret_once
from webhooks.models import Attempt, Delivery, Endpoint, Event
from webhooks.services import (
    MAX_ENDPOINTS_PER_ENVIRONMENT,
    delivery_retry,
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_test,
    endpoint_update,
    endpoint_url_clean,
)

SECRET_LABEL = "Copy this signing secret now. It is shown only once and cannot be read back."  # noqa: S105


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "tenant", "environment", "created_at")
    list_filter = ("type", "environment", "tenant")
    search_fields = ("id", "tenant__id")


class EndpointChangeForm(forms.ModelForm):
    class Meta:
        model = Endpoint
        fields = ("url", "description", "is_enabled")

    def clean_url(self) -> str:
        try:
            return endpoint_url_clean(self.cleaned_data["url"])
        except DomainError as error:
            raise forms.ValidationError(error.message) from error


class EndpointAddForm(EndpointChangeForm):
    environment = forms.ChoiceField(
        choices=[("sandbox", "test (sandbox)"), ("production", "live (production)")]
    )

    class Meta:
        model = Endpoint
        fields = ("tenant", "environment", "url", "description")

    def clean(self) -> dict:
        data = super().clean()
        live = Endpoint.objects.filter(
            tenant=data.get("tenant"), environment=data.get("environment"), deleted_at=None
        )
        if live.count() >= MAX_ENDPOINTS_PER_ENVIRONMENT:
            raise forms.ValidationError("At most 10 endpoints per tenant and environment.")
        return data


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = (
        "url", "id", "tenant", "environment", "is_enabled", "disabled_reason", "failing_since", "created_at",
    )  # fmt: skip
    list_filter = ("environment", "is_enabled", "disabled_reason")
    search_fields = ("id", "url", "tenant__id", "tenant__name")
    actions = ("rotate_secret", "send_test", "enable", "disable")
    readonly_fields = (
        "id", "tenant", "environment", "disabled_reason", "disabled_at", "failing_since", "last_delivery_at",
        "success_count", "failure_count", "secret_rotated_at", "previous_secret_expires_at", "created_at",
        "updated_at",
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_form(self, request: HttpRequest, obj=None, **kwargs):
        kwargs["form"] = EndpointAddForm if obj is None else EndpointChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ("tenant", "environment", "url", "description")
        return ("url", "description", "is_enabled", *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # deletion keeps the delivery log; it goes through the API's soft delete

    def save_model(self, request: HttpRequest, obj: Endpoint, form, change: bool) -> None:
        saved = self._save(request, obj, form, change)
        for field in Endpoint._meta.concrete_fields:  # the admin logs and redirects with this instance
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def _save(self, request: HttpRequest, obj: Endpoint, form, change: bool) -> Endpoint:
        data = form.cleaned_data
        if change:
            # Only what the form changed: re-sending `enabled` would also clear the failure streak.
            names = {"url": "url", "description": "description", "is_enabled": "enabled"}
            changed = {names[field]: data[field] for field in form.changed_data if field in names}
            return endpoint_update(endpoint=obj, **changed)
        endpoint, secret = endpoint_create(
            tenant=data["tenant"],
            environment=data["environment"],
            url=data["url"],
            description=data["description"],
        )
        request._new_webhook_secret = secret  # lives only for this response
        return endpoint

    def response_add(self, request: HttpRequest, obj: Endpoint, post_url_continue=None) -> HttpResponse:
        return show_secret_once(
            request, title="Webhook endpoint created", label=SECRET_LABEL,
            secret=request._new_webhook_secret, back_url="../",
        )  # fmt: skip

    @admin.action(description="Rotate the signing secret (one endpoint)")
    def rotate_secret(self, request: HttpRequest, queryset) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one endpoint: its new secret is shown once.", messages.ERROR
            )
            return None
        endpoint, secret = endpoint_rotate_secret(endpoint=queryset.get())
        until = f"{endpoint.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC"
        label = f"{SECRET_LABEL} The previous secret keeps signing until {until}."
        return show_secret_once(
            request, title="Signing secret rotated", label=label, secret=secret, back_url=""
        )

    @admin.action(description="Send a test event")
    def send_test(self, request: HttpRequest, queryset) -> None:
        for endpoint in queryset:
            attempt = endpoint_test(endpoint=endpoint)
            outcome = attempt.error or f"HTTP {attempt.status_code}"
            level = messages.ERROR if attempt.error else messages.SUCCESS
            self.message_user(
                request, f"Test event to {endpoint.url}: {outcome} in {attempt.latency_ms} ms", level
            )

    @admin.action(description="Enable (clears the failure streak)")
    def enable(self, request: HttpRequest, queryset) -> None:
        for endpoint in queryset:
            endpoint_update(endpoint=endpoint, enabled=True)

    @admin.action(description="Disable")
    def disable(self, request: HttpRequest, queryset) -> None:
        for endpoint in queryset:
            endpoint_update(endpoint=endpoint, enabled=False)


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = (
        "number", "at", "is_manual", "url", "address_check", "addresses", "status_code", "latency_ms",
        "error", "response_body",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "event_type", "endpoint", "tenant", "environment", "status", "attempt_count", "next_attempt_at",
        "created_at",
    )  # fmt: skip
    list_filter = ("status", "event__type", "environment", "endpoint", "tenant")
    search_fields = ("id", "event__id", "endpoint__id", "tenant__id")
    list_select_related = ("event", "endpoint", "tenant")
    inlines = (AttemptInline,)
    actions = ("retry",)

    @admin.display(description="event")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.action(description="Retry now (webhooks.md §5.5)")
    def retry(self, request: HttpRequest, queryset) -> None:
        retried, refused = 0, 0
        for delivery in queryset:
            try:
                delivery_retry(
                    tenant_id=delivery.tenant_id, environment=delivery.environment, target_id=delivery.pk
                )
                retried += 1
            except DomainError:
                refused += 1
        self.message_user(request, f"Retrying {retried} deliver{'y' if retried == 1 else 'ies'}.")
        if refused:
            self.message_user(request, f"{refused} skipped: their endpoint is disabled.", messages.WARNING)
