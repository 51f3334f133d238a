"""factory-boy factories for the tenancy models."""

from __future__ import annotations

import factory

from records.models import Tenant, VendorAccount


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    kind = Tenant.Kind.DIRECT_INFERENCE_VENDOR


class MiddlewareTenantFactory(TenantFactory):
    kind = Tenant.Kind.BILLING_MIDDLEWARE


class VendorAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorAccount

    tenant = factory.SubFactory(MiddlewareTenantFactory)
    display_name = factory.Sequence(lambda n: f"Vendor {n}")
    external_id = factory.Sequence(lambda n: f"vendor-{n}")
