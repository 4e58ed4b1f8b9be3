"""Page tokens are opaque, bound to their filters, and refuse anything they did not issue."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from mesh.errors import InvalidArgument
from mesh.paging import decode_page_token, encode_page_token, position_time


def test_round_trip_and_first_page():
    token = encode_page_token({"a": "R-17"}, ("hub-1", False))
    assert decode_page_token(token, ("hub-1", False), lambda p: p["a"]) == "R-17"
    assert decode_page_token("", ("hub-1", False), lambda p: p["a"]) is None


def test_a_token_for_other_filters_is_refused():
    token = encode_page_token({"a": "R-17"}, ("hub-1", False))
    with pytest.raises(InvalidArgument, match="different filters"):
        decode_page_token(token, ("hub-2", False), lambda p: p["a"])


@pytest.mark.parametrize(
    "token",
    [
        "not-base64!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"p": {"a": 5}, "f": "x"}').decode(),
    ],
)
def test_garbage_is_invalid_argument(token):
    with pytest.raises(InvalidArgument, match="not a token this service issued"):
        decode_page_token(token, ("hub-1", False), lambda p: p["a"])


def test_a_position_the_parser_rejects_is_invalid_argument():
    token = encode_page_token({"c": "yesterday", "i": "x"}, ())
    with pytest.raises(InvalidArgument):
        decode_page_token(token, (), lambda p: datetime.fromisoformat(p["c"]))


@pytest.mark.parametrize("value", ["x\x00", "x" * 101])
def test_a_forged_position_never_reaches_a_query(value):
    token = encode_page_token({"i": value}, ())
    with pytest.raises(InvalidArgument, match="not a token this service issued"):
        decode_page_token(token, (), lambda p: p["i"])


def test_position_times_are_utc_and_in_range():
    assert position_time("2026-01-01T05:30:00+05:30") == datetime(2026, 1, 1, tzinfo=UTC)
    # No offset, one PostgreSQL refuses (beyond ±15:59), and instants beyond year 1..9999 in UTC.
    for text in ["2026-01-01T00:00:00", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"]:
        with pytest.raises(ValueError):
            position_time(text)
