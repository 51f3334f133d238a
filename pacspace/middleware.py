"""Request id propagation and one structured access-log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from pacspace.logs import request_id_var
from pacspace.metrics import HTTP_DURATION, HTTP_REQUESTS

logger = logging.getLogger("pacspace.request")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Echo a safe client `X-Request-Id` or generate one; log method, route, status and duration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-Id", "")
        request_id = supplied if _SAFE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-Id"] = request_id
            match = getattr(request, "resolver_match", None)
            tenant = getattr(request, "tenant_id_for_log", None)
            route = match.route if match else "unmatched"
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(route=route, method=request.method, status=response.status_code).inc()
            HTTP_DURATION.labels(route=route, method=request.method).observe(elapsed)
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "route": route,
                    "method": request.method,
                    "status": response.status_code,
                    "durationMs": round(elapsed * 1000, 1),
                    **({"tenantId": tenant} if tenant else {}),
                },
            )
            return response
        finally:
            request_id_var.reset(token)
