"""Routes as dispatching knows them: a read model of routing_svc's map, kept from
routing.map-changes.v1, for the names on the board (never a call to routing_svc per request).

routing_svc numbers a hub's map changes (`map_version`); a change of many routes arrives in
several parts of the same version. Each part is applied on its own: a route's summary replaces
the stored one unless the stored one is of a newer version, so parts, redeliveries and replays
in any order leave the newest summary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RouteSummary:
    """What dispatching keeps of a route."""

    route_id: str
    name: str
    default_rider_id: str = ""
    active: bool = True
    priority: int = 0


@dataclass(frozen=True)
class RouteMapChange:
    """One part of a hub's map change: the routes it created or replaced, and those it deleted."""

    hub_id: str
    map_version: int
    routes: tuple[RouteSummary, ...] = ()
    deleted_route_ids: tuple[str, ...] = ()
    part: int = 1
    parts: int = 1

    def route_ids(self) -> list[str]:
        """Every route this part names, created, replaced or deleted."""
        return [r.route_id for r in self.routes] + list(self.deleted_route_ids)
