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

from pur_svc.domain.model import PickupRequest, PickupStatus


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


class AbstractPickupRepository(abc.ABC):
    @abc.abstractmethod
    def insert_new(self, purs: Sequence[PickupRequest]) -> set[str]:
        """Insert the PURs whose (client_id, request_id) is not taken yet; returns the ids
        inserted. One that lost to an existing (or concurrent) insert of its key is left out."""

    @abc.abstractmethod
    def by_request_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PickupRequest]:
        """The stored PURs of these (client_id, request_id) keys."""

    @abc.abstractmethod
    def get(self, pur_id: str, *, for_update: bool = False) -> PickupRequest | None: ...

    @abc.abstractmethod
    def get_many_for_update(self, pur_ids: Iterable[str]) -> dict[str, PickupRequest]:
        """Lock and load PURs in id order (a fixed order, so concurrent batches cannot deadlock)."""

    @abc.abstractmethod
    def update(self, purs: Sequence[PickupRequest]) -> None: ...

    @abc.abstractmethod
    def list_page(self, where: PickupFilter, page_size: int, after: PageCursor | None) -> list[PickupRequest]:
        """Up to `page_size` PURs matching `where`, in (created_at, id) order after `after`."""

    @abc.abstractmethod
    def needing_reroute(self, hub_id: str, map_version: int) -> list[PickupRequest]:
        """Undispatched PURs of the hub routed against an older map, plus PURs without a hub that
        no map could route yet (a new map of any hub may route them)."""

    @abc.abstractmethod
    def known_hubs(self, hub_ids: Iterable[str]) -> set[str]:
        """Those of `hub_ids` a route map has been published for."""

    @abc.abstractmethod
    def record_hub_map(self, hub_id: str, map_version: int, now: datetime) -> bool:
        """Remember the hub's newest map version; returns False when `map_version` is not newer."""
