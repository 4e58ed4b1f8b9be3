"""Page tokens are opaque, bound to their filters, and refuse anything they did not issue."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest

from mesh.errors import InvalidArgument
from mesh.paging import decode_page_token, encode_page_token


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
    ["not-base64!", base64.urlsafe_b64encode(b"[1, 2]").decode(), base64.urlsafe_b64encode(b'{"p": {"a": 5}, "f": "x"}').decode()],
)
def test_garbage_is_invalid_argument(token):
    with pytest.raises(InvalidArgument, match="not a token this service issued"):
        decode_page_token(token, ("hub-1", False), lambda p: p["a"])


def test_a_position_the_parser_rejects_is_invalid_argument():
    token = encode_page_token({"c": "yesterday", "i": "x"}, ())
    with pytest.raises(InvalidArgument):
        decode_page_token(token, (), lambda p: datetime.fromisoformat(p["c"]))
