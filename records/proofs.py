"""PacSpace-compatible proof profile (spec: proofs.md §1–§3). Pure: no ORM, no settings.

Pieces, in the order a delta meets them:

* :func:`loads_exact` parses request JSON exactly (decimals stay :class:`~decimal.Decimal`,
  duplicate keys, NaN/Infinity and U+0000 are refused).
* :func:`canonical_item` + :func:`canonical_json` produce the hashed bytes of a delta (§2).
* :func:`content_hash`, :func:`proof_hash`, :func:`merkle_root` and :func:`customer_reference`
  are the keccak256 values a PacSpace client checks (§3).

Every hash input and output is raw ``bytes``; hex is only produced/consumed at the edges via
:func:`to_hex` / :func:`from_hex`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

ZERO_HASH: bytes = bytes(32)

ITEM_PREFIX = b"pacspace:item:v1:"
NODE_PREFIX = b"pacspace:node:v1:"
PROOF_PREFIX = b"pacspace:proof:v1:"
CUSTOMER_PREFIX = b"pacspace:customer:v1:"

_KECCAK_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


# --------------------------------------------------------------------------- keccak256


def _pick_keccak() -> tuple[str, Callable[[bytes], bytes]]:
    # safe-pysha3 is ~4x faster than pycryptodome (spec §1) and ingest hashes every delta at
    # least twice, so prefer it; pycryptodome is the portable fallback.
    try:
        import sha3  # type: ignore[import-untyped]

        new = sha3.keccak_256
        return "safe-pysha3", lambda data: new(data).digest()
    except ImportError:
        from Crypto.Hash import keccak

        return "pycryptodome", lambda data: keccak.new(digest_bits=256, data=data).digest()


KECCAK_BACKEND, _keccak = _pick_keccak()


def keccak256(data: bytes) -> bytes:
    """Original Keccak-256 (Ethereum padding 0x01), never NIST SHA3-256. Returns 32 bytes."""
    return _keccak(data)


# A backend that silently computed SHA3-256 would corrupt every hash; refuse to import instead.
if keccak256(b"") != _KECCAK_EMPTY:  # pragma: no cover - only on a broken backend
    raise RuntimeError(f"keccak backend {KECCAK_BACKEND} failed the empty-input check")


# --------------------------------------------------------------------------- exact JSON


class JSONError(ValueError):
    """Input is not acceptable exact JSON. ``message`` is short and safe to show to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise JSONError(f"{name} is not allowed")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONError(f"duplicate key {key[:64]!r}")  # bounded: it is echoed to clients
            seen.add(key)
    return result


def _number_parsers(max_len: int) -> tuple[Callable[[str], Decimal], Callable[[str], int]]:
    # Bounding the literal length caps the cost of int() and of normalize_decimal: an exponent
    # like 1e999999999 would otherwise expand to a gigabyte of zeros when canonicalized.
    def parse_decimal(text: str) -> Decimal:
        value = Decimal(text)
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # finite: json never hands NaN to parse_float
        if len(digits) + abs(exponent) > max_len:
            raise JSONError("number too long")
        return value

    def parse_int(text: str) -> int:
        if len(text) > max_len:
            raise JSONError("number too long")
        return int(text)

    return parse_decimal, parse_int


def _check_tree(value: Any, max_depth: int) -> None:
    """Walk the parsed value (iteratively) enforcing depth and string rules."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_string(node)
        elif isinstance(node, (dict, list)):
            if depth >= max_depth:
                raise JSONError(f"nesting deeper than {max_depth}")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str):
                    _check_string(key)
                stack.append((child, depth + 1))


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise JSONError("strings must not contain U+0000")
    # "\ud800" escapes decode to lone surrogates, which cannot be written back as UTF-8.
    if _SURROGATE.search(text):
        raise JSONError("strings must not contain unpaired surrogates")


def loads_exact(raw: bytes | str, *, max_depth: int = 64, max_number_length: int = 1000) -> Any:
    """Parse JSON exactly, raising :class:`JSONError` for anything §2.1 refuses.

    Numbers with a fraction or exponent come back as ``Decimal``; plain integers as ``int``
    (both normalize identically in :func:`canonical_json`; callers wanting an amount convert
    with ``Decimal(value)``). ``max_depth`` counts nested objects/arrays (a flat object is
    depth 1). ``bytes`` must be UTF-8 (no BOM).
    """
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONError("body is not valid UTF-8") from None
    else:
        text = raw
    parse_decimal, parse_int = _number_parsers(max_number_length)
    try:
        value = json.loads(
            text,
            parse_float=parse_decimal,
            parse_int=parse_int,
            parse_constant=_reject_constant,
            object_pairs_hook=_reject_duplicates,
        )
    except JSONError:
        raise
    except json.JSONDecodeError as exc:
        raise JSONError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise JSONError(f"nesting deeper than {max_depth}") from None
    except (ValueError, ArithmeticError):
        raise JSONError("invalid number") from None
    _check_tree(value, max_depth)
    return value


# --------------------------------------------------------------------------- canonical JSON


def normalize_decimal(d: Decimal | int) -> str:
    """§2.2 text: no exponent, no ``+``, no leading/trailing zeros, zero is ``0``.

    Raises ``ValueError`` for NaN/Infinity and ``TypeError`` for float/bool (floats are not
    exact, and a bool here is always a bug).
    """
    if isinstance(d, bool) or not isinstance(d, (Decimal, int)):
        raise TypeError(f"expected Decimal or int, got {type(d).__name__}")
    if isinstance(d, int):
        return str(d)  # an int's str() already is the normalized form (and -0 does not exist)
    if not d.is_finite():
        raise ValueError("not finite")
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    n = int("".join(map(str, digits)) or "0")
    if n == 0:
        return "0"
    while n % 10 == 0:
        n //= 10
        exp += 1
    s = str(n)
    if exp >= 0:
        body = s + "0" * exp
    else:
        k = -exp
        body = s[:-k] + "." + s[-k:] if len(s) > k else "0." + "0" * (k - len(s)) + s
    return ("-" if sign else "") + body


# json's C encoder with ensure_ascii off escapes exactly the §2.1 set: ", backslash, the five short escapes
# and \u00xx (lowercase) for the other C0 controls; DEL, "/" and U+2028 stay literal. With sort_keys
# it orders keys by code point at every depth. So the C encoder writes canonical JSON, once the value
# is known to hold only what §2.1 allows and each Decimal is handed over as its §2.2 text: a string
# wrapped in U+0000 markers (no accepted string contains U+0000) that one regex unquotes. Ints need
# nothing: their repr is their normalized text. Much faster than a Python writer (ingest and the seal
# worker canonicalize every delta); tests/records/test_proofs.py checks it against one.
_MARK = "\x00"
_MARKED_NUMBER = re.compile(r'"\\u0000(-?[0-9]+(?:\.[0-9]+)?)\\u0000"')


def _marked_decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{_MARK}{normalize_decimal(value)}{_MARK}"
    raise TypeError(f"cannot canonicalize {type(value).__name__}")


_CANONICAL_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False, check_circular=False,
    default=_marked_decimal,
)


def _check_canonical(value: Any) -> None:
    """Refuse what §2.1 has no form for (the encoder would write floats, coerce non-str keys)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                raise ValueError("strings must not contain U+0000")
        elif node is None or isinstance(node, (bool, int)):
            continue
        elif isinstance(node, Decimal):
            if not node.is_finite():
                raise ValueError("not finite")
        elif isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise TypeError(f"object keys must be str, got {type(key).__name__}")
                if "\x00" in key:
                    raise ValueError("strings must not contain U+0000")
                stack.append(child)
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        else:
            raise TypeError(f"cannot canonicalize {type(node).__name__}")


def canonical_json(value: Any) -> bytes:
    """§2.1 canonical UTF-8 bytes of a JSON value built from dict/list/tuple/str/Decimal/int/
    bool/None. Floats raise ``TypeError``; U+0000 and unpaired surrogates raise ``ValueError``.
    """
    _check_canonical(value)
    text = _CANONICAL_ENCODER.encode(value)
    return _MARKED_NUMBER.sub(r"\1", text).encode("utf-8")  # UnicodeEncodeError (a ValueError) on lone surrogates


# --------------------------------------------------------------------------- items and hashes

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def format_timestamp(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, truncated (not rounded) to milliseconds.

    Naive datetimes raise ``ValueError``: their zone is unknown and a guess would change hashes.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    u = dt.astimezone(timezone.utc)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond // 1000:03d}Z"
    )


def canonical_item(
    *,
    adjusts: Mapping[str, Any] | None,
    created_at: str,
    customer_id: str,
    delta: Decimal | int,
    metadata: Mapping[str, Any] | None,
    reason: str,
    reference_id: str | None,
    vendor_account_id: str | None,
) -> dict[str, Any]:
    """The eight-key §2.3 item. ``delta`` becomes its normalized string; ``metadata`` is ``{}``
    when None and keeps its numbers as Decimal/int so :func:`canonical_json` normalizes them.
    ``created_at`` must already be in :func:`format_timestamp` form.
    """
    if not _TIMESTAMP.fullmatch(created_at):
        raise ValueError("created_at must be YYYY-MM-DDTHH:MM:SS.mmmZ")
    return {
        "adjusts": None if adjusts is None else dict(adjusts),
        "createdAt": created_at,
        "customerId": customer_id,
        "delta": normalize_decimal(delta),
        "metadata": {} if metadata is None else dict(metadata),
        "reason": reason,
        "referenceId": reference_id,
        "vendorAccountId": vendor_account_id,
    }


def content_hash(item: Mapping[str, Any]) -> bytes:
    """§3.1: keccak256(b"pacspace:item:v1:" ‖ canonical_json(item)); the item's Merkle leaf."""
    return keccak256(ITEM_PREFIX + canonical_json(item))


def _require_hash(value: bytes, name: str) -> None:
    if len(value) != 32:
        raise ValueError(f"{name} must be 32 bytes, got {len(value)}")


def proof_hash(previous: bytes, content: bytes) -> bytes:
    """§3.2 chain link; ``previous`` is :data:`ZERO_HASH` for chainIndex 0."""
    _require_hash(previous, "previous")
    _require_hash(content, "content")
    return keccak256(PROOF_PREFIX + previous + content)


def customer_reference(customer_id: str, vendor_account_id: str | None) -> str:
    """§3.5: ``0x`` + the last 20 bytes (40 hex digits) of the prefixed keccak."""
    body = canonical_json({"customerId": customer_id, "vendorAccountId": vendor_account_id})
    return "0x" + keccak256(CUSTOMER_PREFIX + body)[-20:].hex()


# --------------------------------------------------------------------------- Merkle root


def _node(left: bytes, right: bytes) -> bytes:
    return _keccak(NODE_PREFIX + left + right)


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """§3.3 root: [] → ZERO_HASH, [x] → x, else pair neighbours level by level, an odd last
    value paired with itself. Only meaningful together with ``len(hashes)`` (see §3.3).
    """
    level = list(hashes)
    if not level:
        return ZERO_HASH
    node = _node
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class MerkleRootBuilder:
    """Streams leaves into the §3.3 root with O(log n) memory; ``root()`` equals
    ``merkle_root(all leaves added so far)`` and may be called at any time.
    """

    def __init__(self) -> None:
        # _pending[L] holds the unpaired level-L node; it exists exactly when bit L of
        # _count is set (a binary counter), so the level sizes never need storing.
        self._pending: list[bytes | None] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, h: bytes) -> None:
        """Append one 32-byte leaf."""
        level = 0
        while level < len(self._pending) and self._pending[level] is not None:
            left = self._pending[level]
            assert left is not None
            h = _node(left, h)
            self._pending[level] = None
            level += 1
        if level == len(self._pending):
            self._pending.append(None)
        self._pending[level] = h
        self._count += 1

    def root(self) -> bytes:
        """Fold the pending nodes as the level-by-level definition would, duplicating the last
        node of every odd level that is not the top one."""
        if self._count == 0:
            return ZERO_HASH
        carry: bytes | None = None  # the last node of this level, built from partial pairs below
        level = 0
        while True:
            complete = self._count >> level  # nodes at this level made only of complete pairs
            size = complete + (carry is not None)
            pending = self._pending[level] if complete & 1 else None
            if size == 1:
                result = carry if carry is not None else pending
                assert result is not None
                return result
            if carry is not None:
                carry = _node(pending, carry) if pending is not None else _node(carry, carry)
            elif pending is not None:
                carry = _node(pending, pending)
            level += 1


# --------------------------------------------------------------------------- hex

_HEX32 = re.compile(r"0[xX][0-9a-fA-F]{64}")


def to_hex(b: bytes) -> str:
    """``0x`` + lowercase hex."""
    return "0x" + b.hex()


def from_hex(s: str) -> bytes:
    """Parse ``0x`` + 64 hex digits (any case) into 32 bytes; anything else is ``ValueError``."""
    if not isinstance(s, str) or not _HEX32.fullmatch(s):
        raise ValueError("expected 0x followed by 64 hex digits")
    return bytes.fromhex(s[2:])
