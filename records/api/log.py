"""Transparency log routes (api.md §3)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db.models import Max, Min
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from pacspace.api import PublicAPIView, query_int, query_str
from pacspace.auth import ApiKeyAuthentication
from pacspace.errors import DomainError, validation_error
from records.api.base import BalanceView
from records.models import LogState, SignedTreeHead
from records.services.log import latest_head, log_consistency, log_inclusion, log_of, log_origin
from records.signing import log_signer
from records.tlog import NoteError


class LogCheckpointView(BalanceView):
    @extend_schema(operation_id="log_checkpoint", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        head = latest_head(self.tenant, self.environment)
        if head is None:
            raise DomainError("NOT_FOUND", "The log has no signed head yet")
        return Response({
            "origin": head.log.origin, "treeSize": head.tree_size, "rootHash": "0x" + bytes(head.root_hash).hex(),
            "note": head.note, "keyId": head.key_id, "signedAt": head.signed_at,
        })


class LogInclusionView(BalanceView):
    @extend_schema(
        operation_id="log_proof_inclusion",
        parameters=[OpenApiParameter("leafIndex", int, required=True), OpenApiParameter("treeSize", int)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        log = log_of(self.tenant, self.environment)
        size = log.tree_size if log else 0
        if query_str(request, "leafIndex") in (None, ""):
            raise validation_error({"leafIndex": ["is required"]})
        tree_size = query_int(request, "treeSize", default=size, minimum=1, maximum=max(size, 1))
        leaf_index = query_int(request, "leafIndex", default=0, minimum=0, maximum=max(tree_size - 1, 0))
        if size == 0:
            raise DomainError("NOT_FOUND", "The log is empty")
        return Response(log_inclusion(log, leaf_index, tree_size))


class LogConsistencyView(BalanceView):
    @extend_schema(
        operation_id="log_proof_consistency",
        parameters=[OpenApiParameter("first", int, required=True), OpenApiParameter("second", int, required=True)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        log = log_of(self.tenant, self.environment)
        size = log.tree_size if log else 0
        if size == 0:
            raise DomainError("NOT_FOUND", "The log is empty")
        for name in ("first", "second"):
            if query_str(request, name) in (None, ""):
                raise validation_error({name: ["is required"]})
        second = query_int(request, "second", default=size, minimum=1, maximum=size)
        first = query_int(request, "first", default=1, minimum=1, maximum=second)
        return Response(log_consistency(log, first, second))


def _pem(public_key_b64: str) -> str:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class LogKeyView(PublicAPIView):
    """Public: the deployment key and every key that ever signed; an origin adds its verifier key."""

    @extend_schema(operation_id="log_key", parameters=[OpenApiParameter("origin", str)], responses=OpenApiTypes.OBJECT,
                   auth=[])
    def get(self, request: Request) -> Response:
        signer = log_signer()
        current = signer.public_key_base64()
        used = {
            row["public_key"]: row
            for row in SignedTreeHead.objects.values("public_key").annotate(first=Min("signed_at"), last=Max("signed_at"))
        }
        keys = [{"publicKey": k, "firstUsedAt": v["first"], "lastUsedAt": v["last"]} for k, v in used.items()]
        if current not in used:
            keys.append({"publicKey": current, "firstUsedAt": None, "lastUsedAt": None})
        data = {"algorithm": "Ed25519", "publicKey": current, "publicKeyPem": _pem(current), "keys": keys}
        origin = query_str(request, "origin") or self._own_origin(request)
        if origin:
            try:
                verifier = signer.verifier_key(origin)
            except NoteError as exc:  # a C2SP key name has no whitespace and no "+"
                raise validation_error({"origin": ["is not a valid log origin"]}) from exc
            data.update({"origin": origin, "keyName": origin, "keyId": signer.key_id(origin).hex(),
                         "verifierKey": verifier})
        return Response(data)

    @staticmethod
    def _own_origin(request: Request) -> str | None:
        if not request.headers.get("X-Api-Key"):
            return None
        context, _key = ApiKeyAuthentication().authenticate(request)
        log = LogState.objects.filter(tenant=context.tenant, environment=context.environment).first()
        return log.origin if log is not None else log_origin(context.tenant.id, context.environment)


