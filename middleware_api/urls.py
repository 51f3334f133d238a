from django.urls import path

from middleware_api import views

CUSTOMER = "customers/<str:customerId>"


def route(viewset, **actions):
    return viewset.as_view(actions)


urlpatterns = [
    path("vendor-accounts", route(views.VendorAccountViewSet, get="list", post="create"),
         name="middleware-vendor-accounts"),
    path("vendor-accounts/<str:vendorAccountId>",
         route(views.VendorAccountViewSet, get="retrieve", patch="partial_update"), name="middleware-vendor-account"),
    path("vendors/<str:vendorId>/customers/<str:externalCustomerId>/record",
         route(views.VendorCustomerRecordViewSet, get="retrieve"), name="middleware-vendor-customer-record"),
    path("readiness", route(views.ReadinessViewSet, get="list"), name="middleware-readiness"),
    path(f"{CUSTOMER}/live", route(views.CustomerViewSet, get="live"), name="middleware-customer-live"),
    path(f"{CUSTOMER}/periods", route(views.CustomerViewSet, get="periods"), name="middleware-customer-periods"),
    path(f"{CUSTOMER}/periods/<str:checkpointId>", route(views.CustomerViewSet, get="period"),
         name="middleware-customer-period"),
    path(f"{CUSTOMER}/period/<str:checkpointId>", route(views.CustomerViewSet, get="period_alias"),
         name="middleware-customer-period-alias"),
    path(f"{CUSTOMER}/close-package", route(views.CustomerViewSet, get="close_package"),
         name="middleware-customer-close-package"),
    path(f"{CUSTOMER}/compare", route(views.CustomerViewSet, post="compare"), name="middleware-customer-compare"),
    path(f"{CUSTOMER}/export", route(views.CustomerViewSet, get="export"), name="middleware-customer-export"),
    path(f"{CUSTOMER}/access-link", route(views.AccessLinkViewSet, get="retrieve", patch="partial_update"),
         name="middleware-access-link"),
    path(f"{CUSTOMER}/access-link/rotate-code", route(views.AccessLinkViewSet, post="rotate_code"),
         name="middleware-access-link-rotate-code"),
    path(f"{CUSTOMER}/access-link/reissue", route(views.AccessLinkViewSet, post="reissue"),
         name="middleware-access-link-reissue"),
    path(f"{CUSTOMER}/access-link/revoke", route(views.AccessLinkViewSet, post="revoke"),
         name="middleware-access-link-revoke"),
    path("exports/<str:exportId>", route(views.ExportViewSet, get="retrieve"), name="middleware-export"),
    path("exports/<str:exportId>/download", route(views.ExportViewSet, get="download"),
         name="middleware-export-download"),
]
