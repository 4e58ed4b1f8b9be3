"""The live board (WatchOpenPickupsByRoute, ListOpenPickupsByRoute): which parts of which boards
changed, and a board kept in memory from the changes.

A board is a hub's open pickups of one day, grouped by route. A transaction that changes a
route's queue or dispatches of a day changes that route's group on that day's board; a change
to the route itself (its name) changes its group on every day's board.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Generic, NamedTuple, TypeVar


class BoardChange(NamedTuple):
    """A route group that may have changed: on the board of `pickup_date`, or of every day when
    `pickup_date` is None. Same field order as model.RouteKey, so `BoardChange(*route_key)`."""

    hub_id: str
    route_id: str
    pickup_date: date | None

    def concerns(self, hub_id: str, pickup_date: date) -> bool:
        return self.hub_id == hub_id and self.pickup_date in (None, pickup_date)


class Heard(NamedTuple):
    """What a batch of notifications said: board changes, and the marks of readers waiting to know
    that every change committed before their mark was heard (adapters.board_channel)."""

    changes: list[BoardChange]
    marks: list[str]


def routes_changed(changes: Iterable[BoardChange], hub_id: str, pickup_date: date) -> set[str]:
    """The routes of the board of (`hub_id`, `pickup_date`) that `changes` name."""
    return {c.route_id for c in changes if c.concerns(hub_id, pickup_date)}


Group = TypeVar("Group")


class BoardModel(Generic[Group]):
    """One board kept in memory: each route's group as sent (None: the route has no group, nothing
    open and no open dispatch), with the number of the read it came from. Groups are compared with
    `==` to tell what changed.

    Reads are numbered before they start, so a read with a greater number saw at least every change
    committed before a read with a smaller one started. Each route keeps the group of the greatest
    number it was given: a read that finishes late (out of order) never replaces a newer one.
    `loaded` says the model holds the whole board: a missed change (the listener reconnected, a
    re-read failed) makes the owner `invalidate` it, and the next reader loads it again.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, Group | None]] = {}
        self.loaded = False

    def load(self, number: int, groups: Mapping[str, Group]) -> list[tuple[str, Group | None]]:
        """The whole board as read by read `number`; returns what changed, as `apply` does."""
        changed = self.apply(number, {route_id: groups.get(route_id) for route_id in {*self._entries, *groups}})
        self.loaded = True
        return changed

    def apply(self, number: int, groups: Mapping[str, Group | None]) -> list[tuple[str, Group | None]]:
        """Some routes as read by read `number`. Returns (route, group) for each group that changed,
        sorted by route; the group is None for a route whose group left the board."""
        changed: list[tuple[str, Group | None]] = []
        for route_id in sorted(groups):
            held = self._entries.get(route_id)
            if held is not None and held[0] > number:
                continue  # a later read already gave this route
            group = groups[route_id]
            self._entries[route_id] = (number, group)
            if group != (held[1] if held else None):
                changed.append((route_id, group))
        return changed

    def invalidate(self) -> None:
        self.loaded = False

    def groups(self) -> list[Group]:
        """Every group on the board, by route."""
        return [group for _, (_, group) in sorted(self._entries.items()) if group is not None]

    def group(self, route_id: str) -> Group | None:
        held = self._entries.get(route_id)
        return held[1] if held else None
