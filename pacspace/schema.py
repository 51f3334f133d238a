"""OpenAPI extras: the API-key scheme and the response envelope around every documented body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as DrfAutoSchema

ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
                "retryAfterSeconds": {"type": "integer"},
            },
        },
    },
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "pacspace.auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-Api-Key"}


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"type": "boolean", "enum": [True]}, "data": schema},
    }


def envelope_hook(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Wrap JSON success bodies of /api/v1 in `{success, data}` and document the error envelope."""
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ERROR_SCHEMA
    error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if content and "schema" in content and str(status).startswith("2") and not operation.get(
                    "x-unenveloped"
                ):
                    content["schema"] = _wrap(content["schema"])
            operation["responses"].setdefault(
                "default", {"description": "Error", "content": {"application/json": {"schema": error_ref}}}
            )
    return result


class AutoSchema(DrfAutoSchema):
    """Our list actions answer a page object ({items, total, …} or a PacSpace shape), never a bare
    array, so the documented serializer is the whole `data` and must not be wrapped in an array."""

    def _is_list_view(self, serializer=None) -> bool:
        return False
