"""Tenant kinds, customer addressing and the vendor-account rule (api.md §1.8)."""

from __future__ import annotations

from typing import Any

from pacspace.errors import DomainError, validation_error
from pacspace.ids import is_id
from records.models import CustomerRecord, Tenant, VendorAccount

_MISSING = object()


def vendor_value(*, field: Any = _MISSING, header: str | None = None) -> Any:
    """The vendorAccountId a request carries in a field or the X-Vendor-Account-Id header.

    Returns None when absent; a header that disagrees with the field is a mismatch.
    """
    has_field = field is not _MISSING and field is not None
    if header and has_field and field != header:
        raise DomainError("VENDOR_ACCOUNT_MISMATCH", "X-Vendor-Account-Id and vendorAccountId disagree")
    if has_field:
        return field
    return header or None


def _own_vendor_account(tenant: Tenant, value: Any) -> VendorAccount:
    if not isinstance(value, str):
        raise validation_error({"vendorAccountId": ["must be a single vendor account id string"]})
    account = VendorAccount.objects.filter(tenant=tenant, pk=value).first() if is_id(value, "cmw") else None
    if account is None:
        raise DomainError("VENDOR_ACCOUNT_MISMATCH", "vendorAccountId is not a vendor account of this tenant")
    return account


def vendor_account_for_write(tenant: Tenant, value: Any) -> VendorAccount | None:
    """Writes: required, own and active for middleware tenants; forbidden for direct tenants."""
    if not tenant.is_middleware:
        if value is not None:
            raise DomainError("VENDOR_ACCOUNT_FORBIDDEN", "Direct tenants must not send vendorAccountId")
        return None
    if value is None:
        raise DomainError("VENDOR_ACCOUNT_REQUIRED", "vendorAccountId is required for middleware tenants")
    account = _own_vendor_account(tenant, value)
    if not account.is_active:
        raise DomainError("VENDOR_ACCOUNT_DISABLED", "The vendor account is disabled")
    return account


def vendor_account_for_read(tenant: Tenant, value: Any) -> VendorAccount | None:
    """Reads: optional for middleware tenants (disabled accounts are fine); forbidden for direct."""
    if not tenant.is_middleware:
        if value is not None:
            raise DomainError("VENDOR_ACCOUNT_FORBIDDEN", "Direct tenants must not send vendorAccountId")
        return None
    return None if value is None else _own_vendor_account(tenant, value)


def customer_record_for_read(
    *, tenant: Tenant, environment: str, customer_id: Any, vendor: Any = None
) -> CustomerRecord:
    """Resolve `:customerId` of a Balance read route to the tenant's record, or 404 CUSTOMER_NOT_FOUND."""
    if not isinstance(customer_id, str) or not customer_id or "\x00" in customer_id:
        raise validation_error({"customerId": ["is required"]})
    account = vendor_account_for_read(tenant, vendor)
    records = CustomerRecord.objects.filter(tenant=tenant, environment=environment).select_related("vendor_account")
    if not tenant.is_middleware:
        record = records.filter(vendor_account__isnull=True, customer_id=customer_id).first()
    elif account is not None:
        record = records.filter(vendor_account=account, customer_id=customer_id).first()
    elif is_id(customer_id, "cus"):
        record = records.filter(pk=customer_id).first()
    else:
        raise DomainError(
            "VENDOR_ACCOUNT_REQUIRED", "Send vendorAccountId with an externalCustomerId, or use the cus_ record id"
        )
    if record is None:
        raise DomainError("CUSTOMER_NOT_FOUND", "No customer record for this customerId")
    return record
