from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pacspace import health, jsonout
from pacspace.errors import DomainError
from pacspace.metrics import metrics_view
from records.public import urls as public_urls


def _json_error(code: str, message: str) -> HttpResponse:
    """The same compact bytes the API renderer writes for a view's error."""
    error = DomainError(code, message)
    return HttpResponse(jsonout.dumps(error.body()), status=error.status, content_type="application/json")


def api_not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
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
    path("metrics", metrics_view),
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
    path("api/v1/", include("webhooks.urls")),
    path("api/v1/middleware/", include("middleware_api.urls")),
    path("api/v1/", include(public_urls.api_urlpatterns)),
    # Anything else under /api/ (including trailing-slash variants) is a JSON 404, also in DEBUG.
    re_path(r"^api/", api_not_found),
    path("", include(public_urls.page_urlpatterns)),
]
