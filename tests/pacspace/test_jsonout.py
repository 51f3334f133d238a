import datetime as dt
from decimal import Decimal

from pacspace.jsonout import dumps


def test_decimals_are_exact_unquoted_numbers_and_order_is_kept():
    value = {"b": Decimal("-12.50"), "a": [Decimal("1E+3"), Decimal("0.0025"), Decimal("-0")], "c": "café"}
    assert dumps(value) == '{"b":-12.5,"a":[1000,0.0025,0],"c":"café"}'.encode()


def test_datetimes_bools_nulls_and_nesting():
    moment = dt.datetime(2026, 4, 1, 23, 59, 58, 120999, tzinfo=dt.UTC)
    assert dumps({"t": moment, "x": [True, None, 3, {"y": False}]}) == (
        b'{"t":"2026-04-01T23:59:58.120Z","x":[true,null,3,{"y":false}]}')


def test_text_that_looks_like_a_marker_stays_text():
    tricky = '\\u0000-1\\u0000'
    assert dumps({"s": tricky, "n": Decimal(1)}) == b'{"s":"\\\\u0000-1\\\\u0000","n":1}'
