"""Golden vectors of proofs.md §8.1–§8.4 and §8.7 plus properties of records.proofs (pure)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from records import proofs
from records.proofs import (
    ZERO_HASH,
    JSONError,
    MerkleRootBuilder,
    canonical_item,
    canonical_json,
    content_hash,
    customer_reference,
    format_timestamp,
    from_hex,
    keccak256,
    loads_exact,
    merkle_root,
    normalize_decimal,
    proof_hash,
    to_hex,
)

VENDOR = "cmw_k2m4q6s3u2w4y6a3c5e7"

D1_CANONICAL = (
    '{"adjusts":null,"createdAt":"2026-04-01T23:59:58.120Z","customerId":"acct-9001","delta":"-12.5",'
    '"metadata":{"note":"café","tags":["gpu",true,null],"tokens":1250000},'
    '"reason":"daily_usage_flush:2026-04-01","referenceId":"usage:acct-9001:2026-04-01",'
    '"vendorAccountId":"cmw_k2m4q6s3u2w4y6a3c5e7"}'
)
D2_CANONICAL = (
    '{"adjusts":null,"createdAt":"2026-04-02T23:59:59.004Z","customerId":"acct-9001","delta":"-7",'
    '"metadata":{},"reason":"daily_usage_flush:2026-04-02","referenceId":"usage:acct-9001:2026-04-02",'
    '"vendorAccountId":"cmw_k2m4q6s3u2w4y6a3c5e7"}'
)
D3_CANONICAL = (
    '{"adjusts":{"referenceId":"usage:acct-9001:2026-04-01"},"createdAt":"2026-04-03T08:15:00.000Z",'
    '"customerId":"acct-9001","delta":"2.5","metadata":{},"reason":"credit: duplicate flush",'
    '"referenceId":null,"vendorAccountId":"cmw_k2m4q6s3u2w4y6a3c5e7"}'
)
L1 = from_hex("0x64db74c7b75196b5e6b5d8b0bfaa50b2bab775179bc3ff8ccaa0dea8d9b22de3")
L2 = from_hex("0xfb1052c48bc67d1963d116d9abef99234ac75a55621f5939aaa417717b717d80")
L3 = from_hex("0x22fc0969e609e25346d01875f887b7433d19fe1d04eb9725414f80cf9e1e686a")
ROOT_123 = "0xd74988f15f00ae406f4a3f1e5ba69da1a071ce34afe4af71ac879ebeef2ac118"


def _d1_item() -> dict[str, Any]:
    # Built from the submitted request exactly as the API receives it (§8.2).
    body = loads_exact(
        b'{"delta": -12.50,'
        b' "metadata": {"tokens": 1.25E6, "note": "caf\xc3\xa9", "tags": ["gpu", true, null]}}'
    )
    return canonical_item(
        adjusts=None,
        created_at="2026-04-01T23:59:58.120Z",
        customer_id="acct-9001",
        delta=body["delta"],
        metadata=body["metadata"],
        reason="daily_usage_flush:2026-04-01",
        reference_id="usage:acct-9001:2026-04-01",
        vendor_account_id=VENDOR,
    )


def _d2_item() -> dict[str, Any]:
    return canonical_item(
        adjusts=None,
        created_at=format_timestamp(datetime(2026, 4, 2, 23, 59, 59, 4999, tzinfo=timezone.utc)),
        customer_id="acct-9001",
        delta=-7,
        metadata=None,
        reason="daily_usage_flush:2026-04-02",
        reference_id="usage:acct-9001:2026-04-02",
        vendor_account_id=VENDOR,
    )


def _d3_item() -> dict[str, Any]:
    return canonical_item(
        adjusts={"referenceId": "usage:acct-9001:2026-04-01"},
        created_at="2026-04-03T08:15:00.000Z",
        customer_id="acct-9001",
        delta=Decimal("2.50"),
        metadata={},
        reason="credit: duplicate flush",
        reference_id=None,
        vendor_account_id=VENDOR,
    )


# ----------------------------------------------------------------------------- §1 keccak


def test_keccak_is_original_keccak_not_sha3() -> None:
    assert to_hex(keccak256(b"")) == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"") != hashlib.sha3_256(b"").digest()


def test_both_keccak_backends_agree() -> None:
    sha3 = pytest.importorskip("sha3", reason="safe-pysha3 not installed")
    keccak = pytest.importorskip("Crypto.Hash.keccak", reason="pycryptodome not installed")
    for data in (b"", b"abc", bytes(range(256)) * 3):
        assert sha3.keccak_256(data).digest() == keccak.new(digest_bits=256, data=data).digest()
        assert keccak256(data) == sha3.keccak_256(data).digest()


def test_pycryptodome_fallback_is_chosen_without_pysha3(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("Crypto.Hash.keccak", reason="pycryptodome not installed")
    monkeypatch.setitem(sys.modules, "sha3", None)  # makes `import sha3` raise ImportError
    name, fallback = proofs._pick_keccak()
    assert name == "pycryptodome"
    assert fallback(b"") == keccak256(b"")
    assert fallback(D1_CANONICAL.encode()) == keccak256(D1_CANONICAL.encode())


# ----------------------------------------------------------------------------- §8.1 decimals

DECIMAL_TABLE = [
    ("5", "5"),
    ("-0", "0"),
    ("-5.0", "-5"),
    ("0.000", "0"),
    ("1.2300", "1.23"),
    ("+3.10", "3.1"),
    ("1e3", "1000"),
    ("1E+2", "100"),
    ("2.5E-3", "0.0025"),
    ("12.5e1", "125"),
    ("-0.50", "-0.5"),
    ("1000000000", "1000000000"),
    ("007", "7"),
    ("-999999999.999999999999999999", "-999999999.999999999999999999"),
]


@pytest.mark.parametrize(("text", "expected"), DECIMAL_TABLE)
def test_normalize_decimal_table(text: str, expected: str) -> None:
    assert normalize_decimal(Decimal(text)) == expected


JSON_NUMBER_ROWS = [row for row in DECIMAL_TABLE if row[0] not in ("+3.10", "007")]  # quoted in §8.1


@pytest.mark.parametrize(("text", "expected"), JSON_NUMBER_ROWS)
def test_normalize_decimal_of_parsed_json_numbers(text: str, expected: str) -> None:
    # The unquoted inputs of §8.1 are JSON numbers; they go through the exact parser first.
    assert canonical_json(loads_exact(text)) == expected.encode()


def test_normalize_decimal_refuses_non_finite_float_and_bool() -> None:
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(ValueError, match="not finite"):
            normalize_decimal(bad)
    for wrong in (1.5, True):
        with pytest.raises(TypeError):
            normalize_decimal(wrong)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- §8.2 items


def test_d1_canonical_bytes_and_content_hash() -> None:
    item = _d1_item()
    data = canonical_json(item)
    assert data == D1_CANONICAL.encode("utf-8")
    assert len(data) == 294
    d1_sha = "314cbe9c7d35bd30883cc99f2e0605a43844058a27f0490f6eb0672e32da902d"
    assert hashlib.sha256(data).hexdigest() == d1_sha
    assert content_hash(item) == L1


def test_d2_canonical_bytes_and_content_hash() -> None:
    item = _d2_item()
    assert canonical_json(item) == D2_CANONICAL.encode()
    assert content_hash(item) == L2


def test_d3_canonical_bytes_and_content_hash() -> None:
    item = _d3_item()
    assert canonical_json(item) == D3_CANONICAL.encode()
    assert content_hash(item) == L3


def test_canonical_item_has_exactly_the_eight_keys() -> None:
    assert list(_d2_item()) == [
        "adjusts", "createdAt", "customerId", "delta", "metadata", "reason", "referenceId", "vendorAccountId",
    ]  # fmt: skip


def test_canonical_text_reparses_to_the_same_bytes() -> None:
    # records.json ships `canonical`; verify.py re-serializes it and must hit the hashed bytes (§7.2).
    for text in (D1_CANONICAL, D2_CANONICAL, D3_CANONICAL):
        assert canonical_json(loads_exact(text.encode())) == text.encode()


def test_canonical_item_rejects_bad_timestamp() -> None:
    with pytest.raises(ValueError, match="created_at"):
        canonical_item(
            adjusts=None, created_at="2026-04-03T08:15:00Z", customer_id="c", delta=1,
            metadata=None, reason="r", reference_id=None, vendor_account_id=None,
        )  # fmt: skip


# ----------------------------------------------------------------------------- §8.3 / §8.4


def test_merkle_root_vectors() -> None:
    node = proofs._node
    assert to_hex(node(L1, L2)) == "0x0a2378b4fcf4505eeef912005096b69b4a0009f59b86b85d51c8a10248a14633"
    assert to_hex(node(L3, L3)) == "0xba8ad5029cdd9403a423ddd7a6dbdfdf7ad7402739bd177e876982537737c46e"
    assert to_hex(merkle_root([L1, L2, L3])) == ROOT_123
    assert to_hex(merkle_root([L1, L2, L3, L3])) == ROOT_123
    assert merkle_root([L1]) == L1
    assert merkle_root([]) == ZERO_HASH == bytes(32)
    assert to_hex(merkle_root([])) == "0x" + "0" * 64


def test_proof_hash_chain() -> None:
    p1 = proof_hash(ZERO_HASH, L1)
    p2 = proof_hash(p1, L2)
    p3 = proof_hash(p2, L3)
    assert to_hex(p1) == "0x6a5d82e30b50f4902ade47feb1adb7942ed547d61f448d4fc8f96bcb7b8fbd12"
    assert to_hex(p2) == "0xf96389e50f98e12e3c57cd894978adea525736a38aeadcaedf6ead7a15e5e32b"
    assert to_hex(p3) == "0x18bef795b260cac0c5221889af2f97d6f988fc46a36a6516653e094734c8d129"
    with pytest.raises(ValueError):
        proof_hash(b"\x00" * 31, L1)


def test_customer_reference_vectors() -> None:
    assert customer_reference("acct-9001", VENDOR) == "0xeb36daaa5010210b8d7f9db041ff95da3a366c33"
    assert customer_reference("acct-9001", None) == "0x1246ee4f60c6bd27d0beb5ab739156a6ec830a35"


def test_streaming_builder_matches_merkle_root_for_small_sizes() -> None:
    rng = random.Random(6962)  # noqa: S311 - reproducible test data
    leaves = [rng.randbytes(32) for _ in range(300)]
    builder = MerkleRootBuilder()
    assert builder.root() == merkle_root([])
    for n in range(1, 301):
        builder.add(leaves[n - 1])
        assert len(builder) == n
        assert builder.root() == merkle_root(leaves[:n]), n


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=600))
def test_streaming_builder_matches_merkle_root_property(leaves: list[bytes]) -> None:
    builder = MerkleRootBuilder()
    for leaf in leaves:
        builder.add(leaf)
    assert builder.root() == merkle_root(leaves)


# ----------------------------------------------------------------------------- hex, time


def test_hex_round_trip_and_validation() -> None:
    assert from_hex(ROOT_123.upper().replace("0X", "0x")) == from_hex(ROOT_123)
    assert to_hex(from_hex(ROOT_123)) == ROOT_123
    for bad in ("", ROOT_123[2:], ROOT_123 + "0", ROOT_123[:-1] + "g", ROOT_123 + "\n", " " + ROOT_123):
        with pytest.raises(ValueError):
            from_hex(bad)


def test_format_timestamp_truncates_and_converts_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    late = datetime(2026, 4, 2, 1, 59, 58, 120999, tzinfo=plus2)
    assert format_timestamp(late) == "2026-04-01T23:59:58.120Z"
    assert format_timestamp(datetime(2026, 4, 3, 8, 15, tzinfo=timezone.utc)) == "2026-04-03T08:15:00.000Z"
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 4, 3, 8, 15))  # noqa: DTZ001 - naive on purpose


# ----------------------------------------------------------------------------- exact parser


def test_loads_exact_keeps_decimals_exact() -> None:
    value = loads_exact(b'{"delta": -12.50, "n": 7, "big": 1.25E6}')
    assert value["delta"] == Decimal("-12.50") and str(value["delta"]) == "-12.50"
    assert isinstance(value["delta"], Decimal)
    assert value["n"] == 7 and type(value["n"]) is int
    assert isinstance(value["big"], Decimal)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b'{"x": {"a": 1, "b": 2, "a": 3}}', "duplicate key"),
        (b'{"a": NaN}', "NaN is not allowed"),
        (b"[Infinity]", "Infinity is not allowed"),
        (b"-Infinity", "-Infinity is not allowed"),
        (b'{"a\\u0000b": 1}', "U+0000"),
        (b'{"a": "x\\u0000"}', "U+0000"),
        (b'["\\u0000"]', "U+0000"),
        (b'"\\ud800"', "surrogates"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b'\xef\xbb\xbf{"a": 1}', "invalid JSON"),
        (b'{"a": 1,}', "invalid JSON"),
        (b"", "invalid JSON"),
        (b"1e999999999", "number too long"),
        (b"1" * 1001, "number too long"),
    ],
)
def test_loads_exact_rejects(raw: bytes, message: str) -> None:
    with pytest.raises(JSONError, match=re.escape(message)) as info:
        loads_exact(raw)
    assert info.value.message == str(info.value)


def test_loads_exact_depth_limit() -> None:
    assert loads_exact("[" * 64 + "]" * 64) is not None
    with pytest.raises(JSONError, match="nesting"):
        loads_exact("[" * 65 + "]" * 65)
    with pytest.raises(JSONError, match="nesting"):
        loads_exact('{"a":' * 5 + "1" + "}" * 5, max_depth=4)
    with pytest.raises(JSONError, match="nesting"):
        loads_exact("[" * 100_000 + "]" * 100_000)  # the C scanner's own recursion guard


# ----------------------------------------------------------------------------- canonical JSON


def test_canonical_json_escapes_exactly_the_listed_set() -> None:
    text = '"\\\b\f\n\r\t\x01\x1f\x7f/\u2028é😀'
    assert canonical_json(text) == '"\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/\u2028é😀"'.encode()
    assert canonical_json("\x0b\x1a") == b'"\\u000b\\u001a"'  # lowercase hex


def test_canonical_json_sorts_keys_by_code_point_at_every_depth() -> None:
    value = {"b": [{"z": 1, "a": None}], "a": True, "B": False, "é": "x", "\U0001f600": 0, "\uffff": 0}
    expected = '{"B":false,"a":true,"b":[{"a":null,"z":1}],"é":"x","\uffff":0,"\U0001f600":0}'
    assert canonical_json(value) == expected.encode()


def test_canonical_json_numbers_and_literals() -> None:
    assert canonical_json([True, False, None, 0, -0, Decimal("-0.0"), Decimal("1E+2"), 10]) == (
        b"[true,false,null,0,0,0,100,10]"
    )
    with pytest.raises(TypeError):
        canonical_json({"a": 1.5})
    with pytest.raises(TypeError):
        canonical_json({1: "a"})
    with pytest.raises(ValueError):
        canonical_json("\x00")
    with pytest.raises(ValueError):
        canonical_json(Decimal("NaN"))


def test_canonical_json_equals_json_dumps_without_numbers() -> None:
    value = {"k": ["a", None, True, {"x\x02": "\u00e9\n\u2028"}], "\t": "/\x7f"}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode()


_json_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_json_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.adjusted()) < 60 and len(d.as_tuple().digits) < 60
    ),
)
_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), _json_text, _json_numbers),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(_json_text, inner, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_canonical_json_is_a_fixed_point_of_exact_parsing(value: Any) -> None:
    once = canonical_json(value)
    again = canonical_json(loads_exact(once))
    assert again == once
    assert canonical_json(loads_exact(again.decode("utf-8"))) == once


def _reference_canonical(value: Any) -> bytes:
    """An independent §2.1 writer (the Python one canonical_json used before its C-encoder form)."""
    out: list[str] = []

    def write(node: Any) -> None:
        if node is None:
            out.append("null")
        elif node is True or node is False:
            out.append("true" if node else "false")
        elif isinstance(node, str):
            out.append(json.encoder.py_encode_basestring(node))
        elif isinstance(node, (Decimal, int)):
            out.append(normalize_decimal(node))
        elif isinstance(node, dict):
            out.append("{")
            for i, key in enumerate(sorted(node)):
                out.append("," if i else "")
                write(key)
                out.append(":")
                write(node[key])
            out.append("}")
        else:
            out.append("[")
            for i, element in enumerate(node):
                out.append("," if i else "")
                write(element)
            out.append("]")

    write(value)
    return "".join(out).encode("utf-8")


@settings(max_examples=500, deadline=None)
@given(_json_values)
def test_canonical_json_matches_an_independent_writer(value: Any) -> None:
    assert canonical_json(value) == _reference_canonical(value)


@pytest.mark.parametrize("bad, error", [
    (1.5, TypeError), ({"a": [1, 2.0]}, TypeError), ({1: "x"}, TypeError), ({"a": {"b": object()}}, TypeError),
    ({"a\x00": 1}, ValueError), (["\x00"], ValueError), ({"a": Decimal("Infinity")}, ValueError),
    ("\ud800", ValueError),
])  # fmt: skip
def test_canonical_json_refuses_what_has_no_canonical_form(bad: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        canonical_json(bad)
