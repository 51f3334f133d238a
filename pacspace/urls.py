from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pacspace import health
from pacspace.errors import DomainError


def _json_error(code: str, message: str) -> JsonResponse:
    return JsonResponse(DomainError(code, message).body(), status=DomainError(code, message).status)


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return _json_error("NOT_FOUND", "Not found")


def handler404(request: HttpRequest, exception: Exception | None = None):
    if request.path.startswith("/api/"):
        return api_not_found(request)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    if request.path.startswith("/api/"):
        return _json_error("INTERNAL_ERROR", "Internal error")
    from django.views.defaults import server_error

    return server_error(request)


urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("admin/", admin.site.urls),
    path(
        "api/schema",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "api/docs",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="swagger-ui",
    ),
    path("api/v1/", include("records.api.urls")),
    path("api/v1/middleware/", include("middleware_api.urls")),
    # Anything else under /api/ (including trailing-slash variants) is a JSON 404, also in DEBUG.
    re_path(r"^api/", api_not_found),
]
