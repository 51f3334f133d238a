"""Query filters of the middleware list routes. Each FilterSet validates its parameters (400 with the
spec's field details) and narrows the tenant-scoped queryset it is given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.core.validators import RegexValidator
from django.db.models import QuerySet

from pacspace.errors import validation_error
from records.addressing import vendor_account_for_read
from records.models import Checkpoint, CustomerRecord, VendorAccount
from records.scopes import PERIOD_PATTERN

BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


def filtered(filterset_class: type[django_filters.FilterSet], data: Mapping[str, Any], queryset: QuerySet,
             request: Any = None) -> django_filters.FilterSet:
    """A bound, validated FilterSet; invalid parameters raise 400 VALIDATION_ERROR."""
    filterset = filterset_class(data, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise validation_error({name: [str(m) for m in messages] for name, messages in filterset.errors.items()})
    return filterset


class VendorAccountFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=VendorAccount.Status.choices)
    externalId = django_filters.CharFilter(field_name="external_id")

    class Meta:
        model = VendorAccount
        fields = ["status", "externalId"]


class ReadinessFilter(django_filters.FilterSet):
    """Narrows the candidate records. `period` and `status` are validated here but applied by the
    readiness selector: the period shapes every annotation and the status is computed, not stored."""

    vendorAccountId = django_filters.CharFilter(method="filter_vendor")
    customerId = django_filters.CharFilter(field_name="id")
    period = django_filters.CharFilter(method="applied_later", validators=[
        RegexValidator(PERIOD_PATTERN, "must be YYYY-MM with a month 01–12")])
    status = django_filters.ChoiceFilter(choices=[("ready", "ready"), ("blocked", "blocked")], method="applied_later")

    class Meta:
        model = CustomerRecord
        fields = ["vendorAccountId", "customerId", "period", "status"]

    def filter_vendor(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # An account outside the tenant is 422 VENDOR_ACCOUNT_MISMATCH, as on every read (api.md §1.8).
        return queryset.filter(vendor_account=vendor_account_for_read(self.request.user.tenant, value))

    def applied_later(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset


class PeriodFilter(django_filters.FilterSet):
    """Closed periods; superseded checkpoints only on request (`includeSuperseded=true`)."""

    includeSuperseded = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="applied_later")

    class Meta:
        model = Checkpoint
        fields = ["includeSuperseded"]

    def applied_later(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # The default (absent) excludes superseded periods, so this cannot live in a per-field method.
        queryset = super().filter_queryset(queryset)
        if self.form.cleaned_data.get("includeSuperseded") != "true":
            queryset = queryset.filter(superseded_by__isnull=True)
        return queryset
