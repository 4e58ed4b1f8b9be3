"""Inputs of routing_svc's use cases, already validated by the entrypoint that built them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoutePickup:
    """Route one pickup request (from a PickupRequested event).

    `hub_id` "" routes against every hub's map. `min_map_version` > 0 means the answer must come
    from at least that version of the hub's map (a re-route after a map change).
    """

    pur_id: str
    hub_id: str
    lat: float
    lng: float
    min_map_version: int = 0
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class LookupQuery:
    """Which route covers (lat, lng)? In `hub_id`'s map, or in every hub's map when it is ""."""

    lat: float
    lng: float
    hub_id: str = ""


@dataclass(frozen=True, slots=True)
class LoadHubMap:
    """Have the hub's map at `map_version` or newer here (a replica committed that version)."""

    hub_id: str
    map_version: int
