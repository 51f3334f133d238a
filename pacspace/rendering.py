"""Request parsing and response rendering for the API (api.md §1.1–1.2)."""

from __future__ import annotations

from typing import Any

from rest_framework import status as http_status
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer

from pacspace import jsonout
from pacspace.errors import DomainError
from records.proofs import JSONError, loads_exact


class ExactJSONParser(BaseParser):
    """JSON with exact decimals, no NaN/Infinity, no duplicate keys and no U+0000 (api.md §1.1)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            return loads_exact(raw)
        except JSONError as exc:
            raise DomainError("VALIDATION_ERROR", f"Malformed JSON: {exc.message}") from exc


class ErrorBody(dict):
    """A complete error body; the renderer writes it as is instead of wrapping it in `data`."""


class EnvelopeRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None  # JSON is UTF-8 by definition (RFC 8259); no charset parameter

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, ErrorBody):
            return jsonout.dumps(data)
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code == http_status.HTTP_204_NO_CONTENT:
            return b""
        return jsonout.dumps({"success": True, "data": data})
