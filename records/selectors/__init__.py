"""Reads of the domain. `balance` holds the Balance API reads; `shared` the customer-facing views
(live summary, entries, periods) used by the Shared Record and the middleware API."""

from records.selectors.balance import *  # noqa: F403 - the public selector surface
from records.selectors.balance import _public  # noqa: F401 - used by receipts
