"""What the use cases need from storage: one repository interface per aggregate.

The PostgreSQL repositories (`dispatch_svc.adapters.repositories`) and the tests' in-memory fakes
implement them. Reads `for_update` lock what they return until the unit of work ends, in id
order, so concurrent batches cannot deadlock. Writes that break a uniqueness rule raise the
domain's error for it (see `AbstractDispatchRepository.add`), never a driver's.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime

from dispatch_svc.domain.forecasting import DailyVolume
from dispatch_svc.domain.hubs import AttendanceChange, Hub, RiderDay
from dispatch_svc.domain.model import Dispatch, Load, Pickup, Rider, RouteKey, Vehicle
from dispatch_svc.domain.plans import Booking, DispatchPlan
from dispatch_svc.domain.ranking import ActiveDispatchRef, PastDispatch
from dispatch_svc.domain.routes import RouteMapChange
from dispatch_svc.domain.volumes import ObservedPickup, RouteProfiles, StoredBacktest
from dispatch_svc.service_layer.views import DispatchCursor, DispatchFilter, RouteGroupView


class AbstractRiderRepository(abc.ABC):
    @abc.abstractmethod
    def upsert(self, rider: Rider, now: datetime) -> bool:
        """Create or replace the rider of this id; True when it was created."""

    @abc.abstractmethod
    def get(self, rider_id: str, *, lock: bool = False) -> Rider | None:
        """`lock`: hold the id (existing or not) until commit, for a read-check-write."""

    @abc.abstractmethod
    def of_hub(self, hub_id: str) -> list[Rider]:
        """The hub's riders in id order."""


class AbstractVehicleRepository(abc.ABC):
    @abc.abstractmethod
    def upsert(self, vehicle: Vehicle, now: datetime) -> bool:
        """Create or replace the vehicle of this id; True when it was created."""

    @abc.abstractmethod
    def get(self, vehicle_id: str, *, lock: bool = False) -> Vehicle | None:
        """`lock`: hold the id (existing or not) until commit, for a read-check-write."""

    @abc.abstractmethod
    def of_hub(self, hub_id: str) -> list[Vehicle]:
        """The hub's vehicles in id order."""


class AbstractPickupRepository(abc.ABC):
    @abc.abstractmethod
    def get_many(self, pur_ids: Iterable[str], *, for_update: bool = False) -> dict[str, Pickup]: ...

    @abc.abstractmethod
    def route_keys(self, pur_ids: Iterable[str]) -> dict[str, RouteKey]:
        """Where the known PURs are now (no lock): the routes a batch must lock."""

    @abc.abstractmethod
    def add(self, pickups: Sequence[Pickup], now: datetime) -> None:
        """Insert new pickups; those without a `position` get the next ones."""

    @abc.abstractmethod
    def update(self, pickups: Sequence[Pickup], now: datetime) -> None:
        """Write changed pickups; those without a `position` get the next ones."""

    @abc.abstractmethod
    def queue(
        self, hub_id: str, route_id: str, pickup_date: date, *, for_update: bool = False, limit: int | None = None
    ) -> list[Pickup]:
        """The route's queued pickups for the day, in arrival order; the first `limit` only if given."""

    @abc.abstractmethod
    def queue_load(self, hub_id: str, route_id: str, pickup_date: date) -> tuple[int, Load]:
        """How many pickups the route's queue holds for the day, and their load."""

    @abc.abstractmethod
    def queue_counts(self, hub_id: str, pickup_date: date) -> dict[str, int]:
        """Queued pickups per route of a hub for a day (auto-dispatch's scan)."""

    @abc.abstractmethod
    def default_rider_ids(self, hub_id: str, route_id: str, pickup_date: date) -> list[str]:
        """The riders routing gave the route's listed pickups of the day, the most common first."""

    @abc.abstractmethod
    def open_groups(
        self,
        hub_id: str,
        pickup_date: date,
        route_id: str = "",
        per_route_limit: int = 0,
        *,
        route_ids: Collection[str] | None = None,
    ) -> list[RouteGroupView]:
        """A hub's listed pickups of a day, grouped by route (ordered by route id), queued ones
        first, then those in an OPEN dispatch, each part in arrival order. Totals cover all of a
        route's pickups; at most `per_route_limit` (0 = all) pickups are returned per route.
        `route_id` or `route_ids` (when not None) narrow it to those routes."""


class AbstractDispatchRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, dispatch_id: str, *, for_update: bool = False) -> Dispatch | None: ...

    @abc.abstractmethod
    def get_many(self, dispatch_ids: Iterable[str], *, for_update: bool = False) -> dict[str, Dispatch]:
        """The dispatches of these ids that exist (locked in id order when `for_update`)."""

    @abc.abstractmethod
    def by_request_id(self, hub_id: str, request_id: str) -> Dispatch | None: ...

    @abc.abstractmethod
    def open_for_routes(
        self, keys: Collection[RouteKey], *, for_update: bool = False
    ) -> dict[RouteKey, list[Dispatch]]:
        """Per route and day of `keys` that has any, its OPEN dispatches, oldest first (the order
        pickups join them). Locked (`for_update`) in key order, then oldest first."""

    @abc.abstractmethod
    def oldest_open_by_route(
        self, hub_id: str, pickup_date: date, route_id: str = "", *, route_ids: Collection[str] | None = None
    ) -> dict[str, Dispatch]:
        """Per route of the hub and day (or only `route_id`, or `route_ids`), its oldest OPEN dispatch."""

    @abc.abstractmethod
    def add(self, dispatch: Dispatch) -> None:
        """Insert a new dispatch. DuplicateRequest, RiderBusy or VehicleBusy when a concurrent
        transaction took its request id, rider or vehicle first."""

    @abc.abstractmethod
    def update(self, dispatch: Dispatch) -> None:
        """Write a changed dispatch. RiderBusy or VehicleBusy when its new rider or vehicle got
        another active dispatch in a concurrent transaction first."""

    def update_many(self, dispatches: Sequence[Dispatch]) -> None:
        """Write changed dispatches, each as `update` would (the database's does it in one go)."""
        for dispatch in dispatches:
            self.update(dispatch)

    @abc.abstractmethod
    def active_for(
        self, *, rider_ids: Iterable[str] = (), vehicle_ids: Iterable[str] = ()
    ) -> tuple[dict[str, ActiveDispatchRef], dict[str, ActiveDispatchRef]]:
        """The active dispatches of the given riders, and of the given vehicles."""

    @abc.abstractmethod
    def bookings(
        self, *, rider_ids: Iterable[str] = (), vehicle_ids: Iterable[str] = ()
    ) -> tuple[dict[str, builtins.list[Booking]], dict[str, builtins.list[Booking]]]:
        """Every active dispatch of the given riders, and of the given vehicles, with its planned
        window (None for one made by hand)."""

    @abc.abstractmethod
    def history(self, hub_id: str, route_id: str, since: date, until: date) -> builtins.list[PastDispatch]:
        """The route's COMPLETED dispatches with a pickup date in [since, until]."""

    @abc.abstractmethod
    def list(self, where: DispatchFilter, page_size: int, after: DispatchCursor | None) -> builtins.list[Dispatch]:
        """Up to `page_size` dispatches matching `where`, newest (created_at, id) first, after `after`."""


class AbstractRouteRepository(abc.ABC):
    """The route read model (domain.routes), per hub."""

    @abc.abstractmethod
    def apply(self, change: RouteMapChange, now: datetime) -> None:
        """Store the part's summaries and mark its deleted routes, except where the stored route
        is of a newer map version."""

    @abc.abstractmethod
    def names(self, hub_id: str, route_ids: Collection[str] | None = None) -> dict[str, str]:
        """Route id -> name of the hub's known routes (deleted ones too: their pickups may still be
        on a board), or of only `route_ids`."""


class AbstractHubRepository(abc.ABC):
    """The hubs (UpsertHub): depot and time zone."""

    @abc.abstractmethod
    def upsert(self, hub: Hub, now: datetime) -> bool:
        """Create or replace the hub of this id; True when it was created."""

    @abc.abstractmethod
    def get(self, hub_id: str) -> Hub | None: ...


class AbstractAttendanceRepository(abc.ABC):
    """The attendance read model (from attendance.events.v1): one row per rider and day."""

    @abc.abstractmethod
    def apply(self, change: AttendanceChange, now: datetime) -> bool:
        """Store the change unless the stored one of that rider and day changed later (then
        False: a redelivered or reordered event changes nothing)."""

    @abc.abstractmethod
    def attendance_for(self, hub_id: str, day: date) -> dict[str, RiderDay]:
        """Rider id -> status and shift window of every rider the hub has a record of that day
        (a rider without one is unknown: the planner treats them as not present)."""


class AbstractPlanRepository(abc.ABC):
    """Stored dispatch plans (PlanDispatches), kept for review until they expire."""

    @abc.abstractmethod
    def add(self, plan: DispatchPlan) -> None: ...

    @abc.abstractmethod
    def get(self, plan_id: str, *, for_update: bool = False) -> DispatchPlan | None:
        """`for_update`: lock the plan until the unit of work ends (one commit of it at a time)."""

    @abc.abstractmethod
    def mark_committed(self, plan: DispatchPlan) -> None:
        """Store the dispatches a commit created and when."""

    @abc.abstractmethod
    def delete_expired(self, before: datetime) -> int:
        """Forget uncommitted plans that expired before `before`; how many."""


class AbstractVolumeRepository(abc.ABC):
    """Daily volume per hub, route and day (observed and imported) and stored backtests
    (domain.volumes)."""

    @abc.abstractmethod
    def observe(self, observations: Mapping[str, ObservedPickup | None], now: datetime) -> None:
        """Make each named PUR's share of the observed volume what `observations` says (None: it
        counts nowhere now): it is added where it now counts and taken from where it counted, so
        applying the same state again changes nothing."""

    @abc.abstractmethod
    def import_days(self, hub_id: str, rows: Sequence[DailyVolume], now: datetime) -> int:
        """Store the rows as the hub's imported volume of their route and day, replacing earlier
        imports of those days; how many replaced one."""

    @abc.abstractmethod
    def history(self, hub_id: str, since: date, until: date, route_id: str | None = None) -> builtins.list[DailyVolume]:
        """Per route (only `route_id` when given) and day in [since, until] with a row, the day's
        volume: the imported one if there is one, else the observed; ordered by route, then day."""

    @abc.abstractmethod
    def backtests(self, hub_id: str, route_ids: Collection[str]) -> dict[str, StoredBacktest]:
        """The stored backtests of those of the hub's series that have one (route_id "" = the
        hub's total), by route id."""

    @abc.abstractmethod
    def save_backtest(self, hub_id: str, route_id: str, stored: StoredBacktest) -> None:
        """Store (or replace) the series' backtest."""

    @abc.abstractmethod
    def route_profiles(self, hub_id: str, since: date, until: date) -> RouteProfiles:
        """The hub's routes as its pickups of [since, until] and the route read model show them:
        up to 500 recent pickup locations per route, the default rider of each route (the map's,
        else the one routing named most on those pickups) and the routes the map deleted."""
