"""Public JSON routes without an API key: verify and receipts."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from pacspace.api import PublicAPIView, query_str
from records.verification import verify


class VerifyView(PublicAPIView):
    @extend_schema(
        operation_id="verify_proof_root",
        parameters=[OpenApiParameter("source", str, enum=["db", "chain", "both"])],
        responses=OpenApiTypes.OBJECT,
        auth=[],
    )
    def get(self, request: Request, proof_root: str) -> Response:
        return Response(verify(proof_root, source=query_str(request, "source") or "db"))
