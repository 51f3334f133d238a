from django.apps import AppConfig


class MiddlewareApiConfig(AppConfig):
    name = "middleware_api"
    verbose_name = "Middleware API"
