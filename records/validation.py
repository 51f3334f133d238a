"""Field rules of a delta item (api.md §2.1), producing the exact values that get hashed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pacspace.errors import DomainError
from pacspace.ids import is_id
from records.proofs import canonical_json, normalize_decimal

CUSTOMER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
DELTA_STRING_PATTERN = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
MAX_ABS_DELTA = Decimal(1_000_000_000)
MAX_FRACTION_DIGITS = 18
MAX_METADATA_BYTES = 8192
MAX_METADATA_DEPTH = 32
MAX_REASON_LENGTH = 500
MAX_REFERENCE_ID_LENGTH = 256


class ItemInvalid(Exception):
    """One field of one item broke a rule; `fields` uses the dotted paths of api.md §1.2."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__(next(iter(fields.values()))[0])
        self.fields = fields

    def as_error(self) -> DomainError:
        path, messages = next(iter(self.fields.items()))
        return DomainError("VALIDATION_ERROR", f"{path}: {messages[0]}", details={"fields": self.fields})


@dataclass(frozen=True)
class DeltaItem:
    customer_id: str
    amount: Decimal
    delta_text: str
    reason: str
    reference_id: str | None
    metadata: dict[str, Any]
    metadata_json: str
    adjusts: dict[str, str] | None
    adjusts_json: str | None

    def content_key(self) -> tuple:
        """Everything hashed except createdAt and the vendor account (compared separately)."""
        return (self.customer_id, self.delta_text, self.reason, self.reference_id, self.metadata_json, self.adjusts_json)


def _fail(path: str, message: str) -> ItemInvalid:
    return ItemInvalid({path: [message]})


def parse_amount(value: Any, path: str = "delta") -> tuple[Decimal, str]:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _fail(path, "must be a number or a decimal string")
    if isinstance(value, str):
        if len(value) > 64 or not DELTA_STRING_PATTERN.fullmatch(value):
            raise _fail(path, "must be a decimal string like -12.5")
        value = Decimal(value)
    try:
        amount = Decimal(value)
        text = normalize_decimal(amount)
    except (InvalidOperation, ValueError) as exc:
        raise _fail(path, "must be finite") from exc
    if text == "0":
        raise _fail(path, "must be non-zero")
    if "." in text and len(text.split(".")[1]) > MAX_FRACTION_DIGITS:
        raise _fail(path, f"at most {MAX_FRACTION_DIGITS} fractional digits")
    normalized = Decimal(text)
    if abs(normalized) > MAX_ABS_DELTA:
        raise _fail(path, "absolute value must be at most 1000000000")
    return normalized, text


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _optional_text(raw: dict[str, Any], key: str, path: str, max_length: int) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise _fail(path, f"must be a string of 1–{max_length} characters")
    if CONTROL_CHARACTERS.search(value):
        raise _fail(path, "must not contain control characters")
    return value


def _metadata(raw: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    value = raw.get("metadata")
    if value is None:
        return {}, "{}"
    if not isinstance(value, dict):
        raise _fail(path, "must be a JSON object")
    if _depth(value) > MAX_METADATA_DEPTH:
        raise _fail(path, f"nesting deeper than {MAX_METADATA_DEPTH}")
    encoded = canonical_json(value)
    if len(encoded) > MAX_METADATA_BYTES:
        raise _fail(path, f"larger than {MAX_METADATA_BYTES} bytes as canonical JSON")
    return value, encoded.decode("utf-8")


def _adjusts(raw: dict[str, Any], path: str) -> tuple[dict[str, str] | None, str | None]:
    value = raw.get("adjusts")
    if value is None:
        return None, None
    if not isinstance(value, dict) or len(value) != 1 or not set(value) <= {"recordId", "referenceId"}:
        raise _fail(path, 'must be {"recordId": …} or {"referenceId": …}')
    (key, target), = value.items()
    if key == "recordId" and not is_id(target, "rec"):
        raise _fail(f"{path}.recordId", "must be a rec_ id")
    if key == "referenceId" and (not isinstance(target, str) or not 1 <= len(target) <= MAX_REFERENCE_ID_LENGTH):
        raise _fail(f"{path}.referenceId", "must be a string of 1–256 characters")
    return {key: target}, canonical_json({key: target}).decode("utf-8")


def parse_delta_item(raw: Any, prefix: str = "") -> DeltaItem:
    """Validate one submitted item; raises ItemInvalid naming the first broken field."""
    if not isinstance(raw, dict):
        raise _fail(prefix.rstrip(".") or "body", "must be a JSON object")
    customer_id = raw.get("customerId")
    if not isinstance(customer_id, str) or not CUSTOMER_ID_PATTERN.fullmatch(customer_id):
        raise _fail(f"{prefix}customerId", "must match ^[A-Za-z0-9_.:-]{1,128}$")
    if "delta" not in raw or raw["delta"] is None:
        raise _fail(f"{prefix}delta", "is required")
    amount, text = parse_amount(raw["delta"], f"{prefix}delta")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not 1 <= len(reason) <= MAX_REASON_LENGTH:
        raise _fail(f"{prefix}reason", f"must be a string of 1–{MAX_REASON_LENGTH} characters")
    reference_id = _optional_text(raw, "referenceId", f"{prefix}referenceId", MAX_REFERENCE_ID_LENGTH)
    metadata, metadata_json = _metadata(raw, f"{prefix}metadata")
    adjusts, adjusts_json = _adjusts(raw, f"{prefix}adjusts")
    return DeltaItem(customer_id, amount, text, reason, reference_id, metadata, metadata_json, adjusts, adjusts_json)


def parse_number(value: Any, path: str) -> Decimal:
    """A balance-like number: JSON number or decimal string, finite, zero allowed (compare, derive)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _fail(path, "must be a number")
    if isinstance(value, str) and (len(value) > 64 or not DELTA_STRING_PATTERN.fullmatch(value)):
        raise _fail(path, "must be a decimal number")
    try:
        number = Decimal(value)
        return Decimal(normalize_decimal(number))
    except (InvalidOperation, ValueError) as exc:
        raise _fail(path, "must be finite") from exc
