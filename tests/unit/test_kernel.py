"""The shared kernel: one rule each for ids, dates, bounded text and coordinates."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh.errors import InvalidArgument
from mesh.kernel import (
    ID_RULE,
    check_coordinates,
    check_id,
    check_text,
    has_control_characters,
    is_id,
    new_id,
    parse_date,
    quoted,
)


@pytest.mark.parametrize("value", ["a", "BLR-KORAMANGALA", "pur_0f", "R.1:2-3_x", "x" * 64, "-leading"])
def test_ids_of_the_rule(value):
    assert is_id(value)
    assert check_id("hub_id", value) == value


@pytest.mark.parametrize("value", ["x" * 65, "a b", "a\n", "a/b", "é", "١٢", 7])
def test_everything_else_is_not_an_id(value):
    assert not is_id(value)
    with pytest.raises(InvalidArgument, match=r"hub_id must be 1-64 characters"):
        check_id("hub_id", value)


def test_an_empty_id_is_required_unless_said_otherwise():
    with pytest.raises(InvalidArgument, match="route_id is required"):
        check_id("route_id", "")
    assert check_id("route_id", "", required=False) == ""


def test_new_ids_fit_the_rule_and_differ():
    first, second = new_id("pur"), new_id("pur")
    assert is_id(first) and first.startswith("pur_") and first != second


@given(st.text(max_size=80))
def test_the_id_rule_is_what_the_message_says(value):
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
    assert is_id(value) == (1 <= len(value) <= 64 and set(value) <= allowed)
    assert "1-64" in ID_RULE


def test_dates_are_strict_and_real():
    assert parse_date("pickup_date", "2026-12-06") == date(2026, 12, 6)
    for bad in ["2026-2-6", "2026-12-06T00:00", " 2026-12-06", "2026-12-06\n", "２０２６-12-06", 20261206]:
        with pytest.raises(InvalidArgument, match='pickup_date must be a date as "YYYY-MM-DD"'):
            parse_date("pickup_date", bad)
    with pytest.raises(InvalidArgument, match="is not a real date"):
        parse_date("pickup_date", "2026-02-30")


def test_text_is_bounded_and_free_of_control_characters():
    assert check_text("reason", "rider sick\n", 20) == "rider sick\n"
    with pytest.raises(InvalidArgument, match="at most 5 characters, got 6"):
        check_text("reason", "abcdef", 5)
    with pytest.raises(InvalidArgument, match="control characters"):
        check_text("reason", "a\x00", 5)
    with pytest.raises(InvalidArgument, match="reason is required"):
        check_text("reason", "  ", 5, required=True)
    with pytest.raises(InvalidArgument, match="must be text"):
        check_text("reason", 3, 5)


def test_coordinates_are_finite_and_in_range():
    assert check_coordinates("location", 12.9, 77.6) == (12.9, 77.6)
    assert check_coordinates("location", -90, 180) == (-90.0, 180.0)
    for lat, lng, name in [(90.1, 0, "lat"), (math.nan, 0, "lat"), (0, -180.5, "lng"), (0, math.inf, "lng")]:
        with pytest.raises(InvalidArgument, match=rf"location\.{name} must be a finite number"):
            check_coordinates("location", lat, lng)
    with pytest.raises(InvalidArgument):
        check_coordinates("location", True, 0)


@pytest.mark.parametrize("text", ["a\x00", "\x1b[31m", "a\rb", "\x0b"])
def test_control_characters_are_found(text):
    assert has_control_characters(text)


@pytest.mark.parametrize("text", ["", "MG Road\n2nd floor", "a\tb", "नमस्ते", "emoji 🚚"])
def test_tab_newline_and_any_printable_text_are_fine(text):
    assert not has_control_characters(text)


def test_quoted_keeps_short_values_whole_and_cuts_long_ones():
    assert quoted("R-17") == "'R-17'"
    assert quoted("x" * 100_000) == f"'{'x' * 39}... (100000 characters)"


def test_statuses_map_to_the_contracts_enums_by_name():
    from firstmile.common.v1 import common_pb2
    from firstmile.pur.v1 import pur_pb2
    from mesh.kernel import PickupStatus, RouteMatch
    from mesh.protobuf import enum_to_proto, inverse

    to_proto = enum_to_proto(PickupStatus, pur_pb2.PickupStatus, "PICKUP_STATUS_")
    assert to_proto[PickupStatus.PICKED_UP] == pur_pb2.PICKUP_STATUS_PICKED_UP
    assert inverse(to_proto)[pur_pb2.PICKUP_STATUS_ROUTED] is PickupStatus.ROUTED
    assert (
        enum_to_proto(RouteMatch, common_pb2.RouteMatch, "ROUTE_MATCH_")[RouteMatch.NONE] == common_pb2.ROUTE_MATCH_NONE
    )
    with pytest.raises(ValueError):
        enum_to_proto(PickupStatus, common_pb2.RouteMatch, "ROUTE_MATCH_")


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.none() | st.timezones()
    )
)
def test_timestamps_are_what_protobuf_makes_of_the_datetime(moment):
    from google.protobuf.timestamp_pb2 import Timestamp

    from mesh.protobuf import timestamp

    expected = Timestamp()
    expected.FromDatetime(moment)
    assert timestamp(moment) == expected
    assert timestamp(None) is None
