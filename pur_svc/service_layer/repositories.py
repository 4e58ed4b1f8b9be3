"""What the use cases need from storage: the PUR repository's interface and its query types.

The PostgreSQL repository (`pur_svc.adapters.repository`) and the tests' in-memory fake both
implement it. Reads `for_update` lock what they return until the unit of work ends, so concurrent
writers of one PUR serialize.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pur_svc.domain.history import HistoryEntry
from pur_svc.domain.model import KnownRoute, PickupRequest, PickupStatus, ReviewReason


@dataclass(frozen=True)
class PageCursor:
    """Position after the last row of a page: rows are ordered by (created_at, id)."""

    created_at: datetime
    id: str


@dataclass(frozen=True)
class PickupFilter:
    hub_id: str = ""
    status: PickupStatus | None = None
    route_id: str = ""
    pickup_date: date | None = None
    client_id: str = ""


@dataclass(frozen=True)
class ReroutePosition:
    """Where the re-routing of a hub's map version goes on: after the PUR `pur_id` of
    `pickup_date` (candidates are taken in (pickup_date, id) order)."""

    pickup_date: date
    pur_id: str


@dataclass(frozen=True)
class ManualQueueFilter:
    """One hub's manual queue (`hub_id` empty: the queue of PURs without a hub)."""

    hub_id: str
    pickup_date: date | None = None
    review: ReviewReason | None = None


class AbstractPickupRepository(abc.ABC):
    @abc.abstractmethod
    def insert_new(self, purs: Sequence[PickupRequest]) -> set[str]:
        """Insert the PURs whose (client_id, request_id) is not taken yet, with their pending
        history entries; returns the ids inserted. One that lost to an existing (or concurrent)
        insert of its key is left out."""

    @abc.abstractmethod
    def by_request_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PickupRequest]:
        """The stored PURs of these (client_id, request_id) keys."""

    @abc.abstractmethod
    def get(self, pur_id: str, *, for_update: bool = False) -> PickupRequest | None: ...

    @abc.abstractmethod
    def get_many_for_update(self, pur_ids: Iterable[str]) -> dict[str, PickupRequest]:
        """Lock and load PURs in id order (a fixed order, so concurrent batches cannot deadlock)."""

    @abc.abstractmethod
    def update(self, purs: Sequence[PickupRequest]) -> None:
        """Store the PURs' changes and their pending history entries (`take_history`)."""

    @abc.abstractmethod
    def history(self, pur_id: str) -> list[HistoryEntry]:
        """Every stored history entry of the PUR, oldest first."""

    @abc.abstractmethod
    def list_page(self, where: PickupFilter, page_size: int, after: PageCursor | None) -> list[PickupRequest]:
        """Up to `page_size` PURs matching `where`, in (created_at, id) order after `after`."""

    @abc.abstractmethod
    def reroute_position(self, hub_id: str, map_version: int) -> ReroutePosition | None:
        """Lock the hub's map row until the unit of work ends and say where the re-routing of
        `map_version` goes on; None when it is done, or a newer map superseded it."""

    @abc.abstractmethod
    def record_reroute_position(self, hub_id: str, position: ReroutePosition | None) -> None:
        """Remember how far the re-routing of the hub's current map got (None: done)."""

    @abc.abstractmethod
    def reroute_candidates(
        self, hub_id: str, map_version: int, after: ReroutePosition, today: date, limit: int
    ) -> list[PickupRequest]:
        """Up to `limit` PURs a new map `map_version` of the hub may re-route, in (pickup_date, id)
        order after `after`: undispatched PURs of the hub for `today` or later routed against an
        older map, except those a team lead routed by hand; and PURs for `today` or later without
        a hub that no map could place (a new map of any hub may route them)."""

    @abc.abstractmethod
    def list_manual_queue(
        self, where: ManualQueueFilter, page_size: int, after: PageCursor | None
    ) -> list[PickupRequest]:
        """Up to `page_size` PURs with a review reason matching `where`, in (created_at, id)
        order after `after`."""

    @abc.abstractmethod
    def manual_on_routes(self, route_ids: Iterable[str]) -> list[PickupRequest]:
        """Lock and load the undispatched PURs a team lead routed to one of these routes, in id
        order."""

    @abc.abstractmethod
    def hub_map_versions(self, hub_ids: Iterable[str]) -> dict[str, int]:
        """The newest map version recorded for each of these hubs that has one."""

    @abc.abstractmethod
    def known_hubs(self, hub_ids: Iterable[str]) -> set[str]:
        """Those of `hub_ids` a route map has been published for."""

    @abc.abstractmethod
    def record_hub_map(self, hub_id: str, map_version: int, now: datetime) -> bool:
        """Remember the hub's newest map version, its re-routing to be done from the start (of
        `now`'s date); returns False when `map_version` is not newer."""


class AbstractRouteRepository(abc.ABC):
    """pur_svc's read model of routing's routes, kept from routing.map-changes.v1. Each route
    row remembers the map version that last wrote it, so a replayed older event changes nothing;
    a deleted route stays as a tombstone for the same reason."""

    @abc.abstractmethod
    def upsert(self, routes: Sequence[KnownRoute], map_version: int, now: datetime) -> None:
        """Store these routes as of `map_version` (a route written by a newer version is kept)."""

    @abc.abstractmethod
    def delete(self, hub_id: str, route_ids: Sequence[str], map_version: int, now: datetime) -> list[str]:
        """Mark these routes of the hub deleted as of `map_version`; returns those this call
        deleted (not those already deleted, or written by a newer version), sorted."""

    @abc.abstractmethod
    def get_many(self, route_ids: Iterable[str]) -> dict[str, KnownRoute]:
        """The existing (not deleted) routes among these ids, locked against a concurrent
        deletion until the unit of work ends (so a PUR is never routed by hand to a route whose
        deletion is being applied)."""
