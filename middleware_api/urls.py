from django.urls import path

from middleware_api import views

vendor_accounts = views.VendorAccountViewSet.as_view({"get": "list", "post": "create"})
vendor_account = views.VendorAccountViewSet.as_view({"get": "retrieve", "patch": "partial_update"})

urlpatterns = [
    path("vendor-accounts", vendor_accounts, name="middleware-vendor-accounts"),
    path("vendor-accounts/<str:vendorAccountId>", vendor_account, name="middleware-vendor-account"),
]
