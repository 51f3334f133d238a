"""Vendor accounts of middleware tenants (api.md §4.1)."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from pacspace.errors import DomainError, validation_error
from records.models import Tenant, VendorAccount

EXTERNAL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_UNSET = object()


def _clean_display_name(value: object) -> str:
    if not isinstance(value, str) or not (1 <= len(value.strip()) <= 200) or "\x00" in value:
        raise validation_error({"displayName": ["must be a string of 1–200 characters"]})
    return value.strip()


def _clean_external_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not EXTERNAL_ID_PATTERN.fullmatch(value):
        raise validation_error({"externalId": ["must match ^[A-Za-z0-9_.:-]{1,128}$"]})
    if value.startswith("cmw_"):
        raise validation_error({"externalId": ["must not start with cmw_"]})
    return value


def _external_id_taken(tenant: Tenant, external_id: str) -> DomainError:
    holder = VendorAccount.objects.filter(tenant=tenant, external_id=external_id).values_list("id", flat=True)
    return DomainError(
        "EXTERNAL_ID_TAKEN",
        "externalId is already used by another vendor account",
        details={"vendorAccountId": holder.first()},
    )


def _save(account: VendorAccount) -> VendorAccount:
    # The unique constraint, not a prior lookup, decides races between concurrent writers.
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        raise _external_id_taken(account.tenant, account.external_id) from exc
    return account


def vendor_account_create(*, tenant: Tenant, display_name: object, external_id: object = None) -> VendorAccount:
    """Only middleware tenants own vendor accounts; externalId is unique per tenant."""
    if not tenant.is_middleware:
        raise DomainError("TENANT_KIND_FORBIDDEN", "Only BILLING_MIDDLEWARE tenants have vendor accounts")
    account = VendorAccount(
        tenant=tenant, display_name=_clean_display_name(display_name), external_id=_clean_external_id(external_id)
    )
    return _save(account)


def vendor_account_update(
    *, account: VendorAccount, display_name: object = _UNSET, external_id: object = _UNSET, status: object = _UNSET
) -> VendorAccount:
    """Renames apply to every customer-facing surface rendered from now on."""
    if display_name is not _UNSET:
        account.display_name = _clean_display_name(display_name)
    if external_id is not _UNSET:
        account.external_id = _clean_external_id(external_id)
    if status is not _UNSET:
        if status not in VendorAccount.Status.values:
            raise validation_error({"status": ["must be active or disabled"]})
        account.status = status
    return _save(account)
