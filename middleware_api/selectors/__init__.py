"""What the middleware routes answer with (api.md §4): compositions over the domain's selectors.
Reads, except that the close package gets or creates its bundle export (the spec's rule)."""

from middleware_api.selectors.close_package import close_package
from middleware_api.selectors.customers import (
    access_link_out,
    customer_record_card,
    live_view,
    vendor_account_by_ref,
)
from middleware_api.selectors.readiness import readiness_page
from records.scopes import previous_period  # the readiness default period (our choice)

__all__ = [
    "access_link_out",
    "close_package",
    "customer_record_card",
    "live_view",
    "previous_period",
    "readiness_page",
    "vendor_account_by_ref",
]
