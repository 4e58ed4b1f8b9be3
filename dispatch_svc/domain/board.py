"""The live board (WatchOpenPickupsByRoute): which parts of which boards changed, and what one
watcher still has to be sent.

A board is a hub's open pickups of one day, grouped by route. A transaction that changes a
route's queue or dispatches of a day changes that route's group on that day's board; a change
to the route itself (its name) changes its group on every day's board.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import NamedTuple


class BoardChange(NamedTuple):
    """A route group that may have changed: on the board of `pickup_date`, or of every day when
    `pickup_date` is None. Same field order as model.RouteKey, so `BoardChange(*route_key)`."""

    hub_id: str
    route_id: str
    pickup_date: date | None

    def concerns(self, hub_id: str, pickup_date: date) -> bool:
        return self.hub_id == hub_id and self.pickup_date in (None, pickup_date)


def routes_changed(changes: Iterable[BoardChange], hub_id: str, pickup_date: date) -> set[str]:
    """The routes of the board of (`hub_id`, `pickup_date`) that `changes` name."""
    return {c.route_id for c in changes if c.concerns(hub_id, pickup_date)}


class SentBoard:
    """What one watcher was last sent: a fingerprint of each route group on its board.

    A re-read of some routes gives each route's fingerprint, or None when the route has no group
    (nothing open, no open dispatch); `changed` tells which groups to send: those whose
    fingerprint differs from the one sent, and those that left the board since (sent once, empty).
    """

    def __init__(self) -> None:
        self._sent: dict[str, bytes] = {}

    def reset(self, groups: Mapping[str, bytes]) -> None:
        """A whole board was sent."""
        self._sent = dict(groups)

    def changed(self, reread: Mapping[str, bytes | None]) -> tuple[list[str], list[str]]:
        """(routes whose group changed, routes whose group left the board), each sorted; both
        are recorded as sent."""
        updated, left = [], []
        for route_id in sorted(reread):
            fingerprint = reread[route_id]
            if fingerprint is None:
                if self._sent.pop(route_id, None) is not None:
                    left.append(route_id)
            elif self._sent.get(route_id) != fingerprint:
                self._sent[route_id] = fingerprint
                updated.append(route_id)
        return updated, left

    @property
    def routes(self) -> frozenset[str]:
        return frozenset(self._sent)
