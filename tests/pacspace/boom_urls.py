"""A URLconf with one view that fails unexpectedly, to test the 500 envelope."""

from django.urls import path
from rest_framework.request import Request

from pacspace.api import TenantAPIView


class BoomView(TenantAPIView):
    def get(self, request: Request):
        raise RuntimeError("secret internals must not leak")


urlpatterns = [path("api/v1/boom", BoomView.as_view())]
