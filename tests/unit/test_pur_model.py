"""The PUR's rules, without any infrastructure."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh.errors import FailedPrecondition, InvalidArgument
from pur_svc.domain.events import status_changed
from pur_svc.domain.model import (
    DispatchChange,
    DispatchChangeKind,
    IllegalTransition,
    InvalidPickup,
    Location,
    NewPickup,
    PickupRequest,
    PickupStatus,
    RouteAssignment,
    RouteMatch,
    Warehouse,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def new(**changes) -> NewPickup:
    warehouse = Warehouse("w1", "Seller", "MG Road", "560001", Location(12.97, 77.59))
    return replace(NewPickup("r1", "c1", "h1", warehouse, NOW.date(), 3, 2.0), **changes)


def pur() -> PickupRequest:
    return PickupRequest.create("pur-1", new(), NOW)


def routed(version: int, route: str = "R1") -> RouteAssignment:
    return RouteAssignment("pur-1", "h1", route, f"rider-{route}", RouteMatch.EXACT, 0.0, "8a61892", version)


@pytest.mark.parametrize(
    ("lat", "lng"), [(math.nan, 1.0), (1.0, math.inf), (90.0001, 0.0), (0.0, -180.5), (-math.inf, 0.0)]
)
def test_locations_must_be_finite_and_in_range(lat, lng):
    with pytest.raises(InvalidArgument, match=r"^warehouse\.location\.l(at|ng) must be a finite number"):
        Location(lat, lng)


@pytest.mark.parametrize(
    "make",
    [
        lambda: new(request_id="r1\n"),
        lambda: new(client_id="c1\n"),
        lambda: new(hub_id="h1\n"),
        lambda: Warehouse("w1", "Seller", "MG Road", "560001\n", Location(12.97, 77.59)),
        lambda: Warehouse("w1", "Seller\x00", "MG Road", "560001", Location(12.97, 77.59)),
    ],
)
def test_nothing_may_follow_an_id_or_a_pincode_and_text_has_no_control_characters(make):
    with pytest.raises(InvalidArgument):
        make()


def test_pickup_errors_are_of_the_mesh_kinds():
    # The kind is what the gRPC interceptor turns into a status code and the consumers dead-letter.
    assert issubclass(InvalidPickup, InvalidArgument) and issubclass(IllegalTransition, FailedPrecondition)


def test_pickup_date_must_be_near_today():
    with pytest.raises(InvalidPickup, match="pickup_date"):
        PickupRequest.create("p", new(pickup_date=NOW.date() - timedelta(days=2)), NOW)
    assert PickupRequest.create("p", new(pickup_date=date(2027, 6, 1)), NOW).status is PickupStatus.PENDING_ROUTE


def test_the_fingerprint_tells_bodies_apart():
    assert new().fingerprint() == new().fingerprint()
    assert new().fingerprint() != new(expected_packages=4).fingerprint()


def stored_fingerprint(request: NewPickup) -> str:
    """The digest PURs were stored with from the start; a stored one must keep matching its retries."""
    body = asdict(request)
    body["pickup_date"] = request.pickup_date.isoformat()
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@given(
    text=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20),
    packages=st.integers(1, 1000),
    weight=st.floats(0, 1000, allow_nan=False),
    lat=st.floats(-90, 90, allow_nan=False),
)
def test_the_fingerprint_stays_the_digest_pickups_were_stored_with(text, packages, weight, lat):
    warehouse = Warehouse("w1", text, text + " Road", "560001", Location(lat, 77.59))
    request = replace(new(warehouse=warehouse, expected_packages=packages, expected_weight_kg=weight), request_id="r9")
    assert request.fingerprint() == stored_fingerprint(request)


def test_routing_applies_newer_maps_only():
    p = pur()
    assert p.apply_route_assignment(routed(2), NOW)
    assert (p.status, p.route_id, p.version) == (PickupStatus.ROUTED, "R1", 2)
    assert not p.apply_route_assignment(routed(2, "R9"), NOW)  # same version again
    assert not p.apply_route_assignment(routed(1, "R9"), NOW)  # older
    assert p.apply_route_assignment(routed(3, "R2"), NOW) and p.route_id == "R2"


def test_unroutable_records_the_reason():
    p = pur()
    none = RouteAssignment("pur-1", "h1", "", "", RouteMatch.NONE, 0.0, "", 1, "no route within 2000 m")
    assert p.apply_route_assignment(none, NOW)
    assert (p.status, p.unroutable_reason) == (PickupStatus.UNROUTABLE, "no route within 2000 m")


def test_cancel_rules():
    p = pur()
    assert p.cancel("closed", NOW) and p.status is PickupStatus.CANCELLED
    assert not p.cancel("again", NOW)
    assert not p.apply_route_assignment(routed(5), NOW)

    picked = pur()
    picked.apply_route_assignment(routed(1), NOW)
    picked.apply_dispatch_change(DispatchChange("pur-1", "d1", DispatchChangeKind.DISPATCHED, 1), NOW)
    picked.apply_dispatch_change(DispatchChange("pur-1", "d1", DispatchChangeKind.PICKED_UP, 2), NOW)
    with pytest.raises(IllegalTransition):
        picked.cancel("too late", NOW)


def test_a_status_change_keeps_the_pur_as_it_was_when_published():
    p = pur()
    p.apply_route_assignment(routed(1), NOW)
    event = status_changed(p, NOW, previous_route_id="")
    p.apply_route_assignment(routed(2, "R2"), NOW)
    assert (event.pickup.route_id, event.pickup.version, event.previous_status) == ("R1", 2, PickupStatus.PENDING_ROUTE)
    assert (p.route_id, p.version) == ("R2", 3)


def test_dispatch_changes_follow_versions():
    p = pur()
    p.apply_route_assignment(routed(1), NOW)
    assert p.apply_dispatch_change(DispatchChange("pur-1", "d1", DispatchChangeKind.DISPATCHED, 1), NOW)
    assert p.status is PickupStatus.DISPATCHED and not p.needs_reroute("h1", 9)
    assert not p.apply_dispatch_change(DispatchChange("pur-1", "d1", DispatchChangeKind.RELEASED, 1), NOW)
    assert p.apply_dispatch_change(DispatchChange("pur-1", "d1", DispatchChangeKind.RELEASED, 2), NOW)
    assert (p.status, p.dispatch_id) == (PickupStatus.ROUTED, "")
    # A release from another dispatch than the PUR's own changes its status not.
    p.apply_dispatch_change(DispatchChange("pur-1", "d2", DispatchChangeKind.DISPATCHED, 3), NOW)
    p.apply_dispatch_change(DispatchChange("pur-1", "d1", DispatchChangeKind.RELEASED, 4), NOW)
    assert (p.status, p.dispatch_id) == (PickupStatus.DISPATCHED, "d2")
