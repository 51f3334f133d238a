from __future__ import annotations

import django_filters

from records.models import VendorAccount


class VendorAccountFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=VendorAccount.Status.choices)
    externalId = django_filters.CharFilter(field_name="external_id")

    class Meta:
        model = VendorAccount
        fields = ["status", "externalId"]
