from django.urls import path

from webhooks import api

endpoints = api.EndpointViewSet.as_view({"get": "list", "post": "create"})
endpoint = api.EndpointViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})
rotate_secret = api.EndpointViewSet.as_view({"post": "rotate_secret"})
send_test = api.EndpointViewSet.as_view({"post": "send_test"})
delivery = api.DeliveryViewSet.as_view({"get": "retrieve"})
delivery_log = api.DeliveryLogViewSet.as_view({"get": "list"})
retry = api.DeliveryLogViewSet.as_view({"post": "retry"})

urlpatterns = [
    path("webhooks/endpoints", endpoints, name="webhook-endpoints"),
    path("webhooks/endpoints/<str:endpointId>", endpoint, name="webhook-endpoint"),
    path("webhooks/endpoints/<str:endpointId>/rotate-secret", rotate_secret, name="webhook-endpoint-rotate"),
    path("webhooks/endpoints/<str:endpointId>/test", send_test, name="webhook-endpoint-test"),
    path("webhooks/deliveries/<str:deliveryId>", delivery, name="webhook-delivery"),
    path("balance/webhooks", delivery_log, name="balance-webhooks"),
    path("balance/webhooks/<str:eventId>/retry", retry, name="balance-webhooks-retry"),
]
