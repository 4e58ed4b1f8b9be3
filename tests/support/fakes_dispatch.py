"""dispatch_svc's repositories and unit of work in memory, for handler and servicer tests without
PostgreSQL. They implement the same abstract interfaces as the SQLAlchemy adapters, with the same
orders and uniqueness rules (one active dispatch per rider and per vehicle, one dispatch per hub
and request id).

A transaction works on a copy of the store: reads return copies, and only `commit()` makes the
writes (and the published events) the stored state, so a test can tell what a failed use case
left behind (nothing). Route locks are recorded.
"""

from __future__ import annotations

import builtins
import copy
import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Self

from dispatch_svc.domain.board import BoardChange
from dispatch_svc.domain.hubs import AttendanceChange, Hub
from dispatch_svc.domain.model import (
    Dispatch,
    DispatchStatus,
    DuplicateRequest,
    Load,
    Pickup,
    Rider,
    RiderBusy,
    RouteKey,
    Vehicle,
    VehicleBusy,
)
from dispatch_svc.domain.plans import Booking, DispatchPlan
from dispatch_svc.domain.ranking import ActiveDispatchRef, PastDispatch
from dispatch_svc.domain.routes import RouteMapChange, RouteSummary
from dispatch_svc.service_layer.repositories import (
    AbstractDispatchRepository,
    AbstractPickupRepository,
    AbstractRiderRepository,
    AbstractRouteRepository,
    AbstractVehicleRepository,
)
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from dispatch_svc.service_layer.views import DispatchCursor, DispatchFilter, OpenPickupRow, RouteGroupView
from tests.support.fakes_dispatch_hubs import FakeAttendanceRepository, FakeHubRepository
from tests.support.fakes_dispatch_plans import FakePlanRepository
from tests.support.fakes_dispatch_volumes import FakeVolumeRepository, VolumeStore


@dataclass
class DispatchStore:
    """What the `dispatch` schema would hold, and what left through the outbox."""

    riders: dict[str, Rider] = field(default_factory=dict)
    vehicles: dict[str, Vehicle] = field(default_factory=dict)
    pickups: dict[str, Pickup] = field(default_factory=dict)
    dispatches: dict[str, Dispatch] = field(default_factory=dict)
    positions: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    events: list[object] = field(default_factory=list)
    commits: int = 0
    # The route read model: (hub, route) -> (summary, map version, deleted).
    routes: dict[tuple[str, str], tuple[RouteSummary, int, bool]] = field(default_factory=dict)
    # The board changes each commit announced, in commit order.
    announced: list[set[BoardChange]] = field(default_factory=list)
    hubs: dict[str, Hub] = field(default_factory=dict)
    # The attendance read model: (rider, day) -> the last change applied.
    rider_days: dict[tuple[str, date], AttendanceChange] = field(default_factory=dict)
    plans: dict[str, DispatchPlan] = field(default_factory=dict)
    volumes: VolumeStore = field(default_factory=VolumeStore)

    def working_copy(self) -> DispatchStore:
        return DispatchStore(
            riders=copy.deepcopy(self.riders),
            vehicles=copy.deepcopy(self.vehicles),
            pickups=copy.deepcopy(self.pickups),
            dispatches=copy.deepcopy(self.dispatches),
            positions=self.positions,  # a sequence: never rolled back
            routes=dict(self.routes),
            hubs=dict(self.hubs),
            rider_days=dict(self.rider_days),
            plans=copy.deepcopy(self.plans),
            volumes=self.volumes.copy(),
        )

    def take(self, working: DispatchStore, events: list[object]) -> None:
        committed = working.working_copy()
        self.riders, self.vehicles = committed.riders, committed.vehicles
        self.pickups, self.dispatches = committed.pickups, committed.dispatches
        self.routes = committed.routes
        self.hubs, self.rider_days = committed.hubs, committed.rider_days
        self.plans = committed.plans
        self.volumes = committed.volumes
        self.events.extend(events)
        self.commits += 1


class FakeRiderRepository(AbstractRiderRepository):
    def __init__(self, store: DispatchStore) -> None:
        self.store = store

    def upsert(self, rider: Rider, now: datetime) -> bool:
        created = rider.id not in self.store.riders
        self.store.riders[rider.id] = rider
        return created

    def get(self, rider_id: str, *, lock: bool = False) -> Rider | None:
        return self.store.riders.get(rider_id)

    def of_hub(self, hub_id: str) -> list[Rider]:
        return [r for _, r in sorted(self.store.riders.items()) if r.hub_id == hub_id]


class FakeVehicleRepository(AbstractVehicleRepository):
    def __init__(self, store: DispatchStore) -> None:
        self.store = store

    def upsert(self, vehicle: Vehicle, now: datetime) -> bool:
        created = vehicle.id not in self.store.vehicles
        self.store.vehicles[vehicle.id] = vehicle
        return created

    def get(self, vehicle_id: str, *, lock: bool = False) -> Vehicle | None:
        return self.store.vehicles.get(vehicle_id)

    def of_hub(self, hub_id: str) -> list[Vehicle]:
        return [v for _, v in sorted(self.store.vehicles.items()) if v.hub_id == hub_id]


def _open_row(p: Pickup) -> OpenPickupRow:
    return OpenPickupRow(
        p.pur_id,
        p.client_id,
        p.warehouse_name,
        p.lat,
        p.lng,
        p.packages,
        p.weight_kg,
        p.status.value,
        p.dispatch_id or None,
        p.route_match.value if p.route_match else None,
    )


class FakePickupRepository(AbstractPickupRepository):
    def __init__(self, store: DispatchStore) -> None:
        self.store = store

    def _listed(self, hub_id: str, pickup_date: date, route_id: str = "") -> list[Pickup]:
        found = [
            p
            for p in self.store.pickups.values()
            if p.listed and p.hub_id == hub_id and p.pickup_date == pickup_date and route_id in ("", p.route_id)
        ]
        return sorted(found, key=lambda p: (p.route_id, bool(p.dispatch_id), p.position or 0))

    def _queued(self, hub_id: str, route_id: str, pickup_date: date) -> list[Pickup]:
        return [p for p in self._listed(hub_id, pickup_date, route_id) if not p.dispatch_id]

    def _write(self, pickups: Sequence[Pickup]) -> None:
        for pickup in pickups:
            if pickup.position is None:
                pickup.position = next(self.store.positions)
            self.store.pickups[pickup.pur_id] = copy.deepcopy(pickup)

    def get_many(self, pur_ids: Iterable[str], *, for_update: bool = False) -> dict[str, Pickup]:
        return {i: copy.deepcopy(self.store.pickups[i]) for i in sorted(set(pur_ids)) if i in self.store.pickups}

    def route_keys(self, pur_ids: Iterable[str]) -> dict[str, RouteKey]:
        return {i: self.store.pickups[i].route_key() for i in set(pur_ids) if i in self.store.pickups}

    def add(self, pickups: Sequence[Pickup], now: datetime) -> None:
        assert not any(p.pur_id in self.store.pickups for p in pickups), "pickup inserted twice"
        self._write(pickups)

    def update(self, pickups: Sequence[Pickup], now: datetime) -> None:
        assert all(p.pur_id in self.store.pickups for p in pickups), "update of a pickup never inserted"
        self._write(pickups)

    def queue(
        self, hub_id: str, route_id: str, pickup_date: date, *, for_update: bool = False, limit: int | None = None
    ) -> list[Pickup]:
        return copy.deepcopy(self._queued(hub_id, route_id, pickup_date)[:limit])

    def queue_load(self, hub_id: str, route_id: str, pickup_date: date) -> tuple[int, Load]:
        queued = self._queued(hub_id, route_id, pickup_date)
        return len(queued), Load.total(p.load for p in queued)

    def queue_counts(self, hub_id: str, pickup_date: date) -> dict[str, int]:
        return dict(Counter(p.route_id for p in self._listed(hub_id, pickup_date) if not p.dispatch_id))

    def default_rider_ids(self, hub_id: str, route_id: str, pickup_date: date) -> list[str]:
        counts = Counter(p.default_rider_id for p in self._listed(hub_id, pickup_date, route_id) if p.default_rider_id)
        return [rider for rider, _ in counts.most_common()]

    def open_groups(
        self,
        hub_id: str,
        pickup_date: date,
        route_id: str = "",
        per_route_limit: int = 0,
        *,
        route_ids: Collection[str] | None = None,
    ) -> list[RouteGroupView]:
        groups: dict[str, RouteGroupView] = {}
        for p in self._listed(hub_id, pickup_date, route_id):
            if route_ids is not None and p.route_id not in route_ids:
                continue
            group = groups.setdefault(p.route_id, RouteGroupView(p.route_id, 0, 0, 0.0, 0, []))
            group.pur_count += 1
            group.packages += p.packages
            group.weight_kg += p.weight_kg
            group.queued_count += not p.dispatch_id
            if not per_route_limit or len(group.pickups) < per_route_limit:
                group.pickups.append(_open_row(p))
        return list(groups.values())


class FakeDispatchRepository(AbstractDispatchRepository):
    def __init__(self, store: DispatchStore) -> None:
        self.store = store

    def _where(self, **fields: object) -> builtins.list[Dispatch]:
        found = [d for d in self.store.dispatches.values() if all(getattr(d, k) == v for k, v in fields.items())]
        return sorted(found, key=lambda d: (d.created_at, d.id))

    def get(self, dispatch_id: str, *, for_update: bool = False) -> Dispatch | None:
        return copy.deepcopy(self.store.dispatches.get(dispatch_id))

    def get_many(self, dispatch_ids: Iterable[str], *, for_update: bool = False) -> dict[str, Dispatch]:
        found = {i: self.store.dispatches[i] for i in sorted(set(dispatch_ids)) if i in self.store.dispatches}
        return copy.deepcopy(found)

    def by_request_id(self, hub_id: str, request_id: str) -> Dispatch | None:
        found = self._where(hub_id=hub_id, request_id=request_id)
        return copy.deepcopy(found[0]) if found else None

    def open_for_routes(
        self, keys: Collection[RouteKey], *, for_update: bool = False
    ) -> dict[RouteKey, builtins.list[Dispatch]]:
        found: dict[RouteKey, builtins.list[Dispatch]] = {}
        for key in sorted(set(keys)):
            hub_id, route_id, pickup_date = key
            open_ = self._where(hub_id=hub_id, route_id=route_id, pickup_date=pickup_date, status=DispatchStatus.OPEN)
            if open_:
                found[key] = copy.deepcopy(open_)
        return found

    def oldest_open_by_route(
        self, hub_id: str, pickup_date: date, route_id: str = "", *, route_ids: Collection[str] | None = None
    ) -> dict[str, Dispatch]:
        oldest: dict[str, Dispatch] = {}
        for d in self._where(hub_id=hub_id, pickup_date=pickup_date, status=DispatchStatus.OPEN):
            if route_id in ("", d.route_id) and (route_ids is None or d.route_id in route_ids):
                oldest.setdefault(d.route_id, copy.deepcopy(d))
        return dict(sorted(oldest.items()))

    def add(self, dispatch: Dispatch) -> None:
        if self._where(hub_id=dispatch.hub_id, request_id=dispatch.request_id):
            raise DuplicateRequest(f"request_id {dispatch.request_id!r} was used meanwhile for another dispatch")
        self._check_free(dispatch)
        self.store.dispatches[dispatch.id] = copy.deepcopy(dispatch)

    def _check_free(self, dispatch: Dispatch) -> None:
        """A rider or vehicle holds active dispatches one at a time (planned ones: windows apart)."""
        others = [d for i, d in self.store.dispatches.items() if i != dispatch.id and d.active]
        clashing = [d for d in others if dispatch.holds_at_once(d)]
        if any(d.rider_id == dispatch.rider_id for d in clashing):
            raise RiderBusy("the rider got another active dispatch meanwhile; choose another rider")
        if any(d.vehicle_id == dispatch.vehicle_id for d in clashing):
            raise VehicleBusy("the vehicle got another active dispatch meanwhile; choose another vehicle")

    def update(self, dispatch: Dispatch) -> None:
        assert dispatch.id in self.store.dispatches, "update of a dispatch never inserted"
        if dispatch.active:
            self._check_free(dispatch)
        self.store.dispatches[dispatch.id] = copy.deepcopy(dispatch)

    def active_for(
        self, *, rider_ids: Iterable[str] = (), vehicle_ids: Iterable[str] = ()
    ) -> tuple[dict[str, ActiveDispatchRef], dict[str, ActiveDispatchRef]]:
        riders, vehicles = set(rider_ids), set(vehicle_ids)
        by_rider: dict[str, ActiveDispatchRef] = {}
        by_vehicle: dict[str, ActiveDispatchRef] = {}
        for d in self.store.dispatches.values():
            if not d.active:
                continue
            ref = ActiveDispatchRef(d.id, d.route_id, d.status.value)
            if d.rider_id in riders:
                by_rider[d.rider_id] = ref
            if d.vehicle_id in vehicles:
                by_vehicle[d.vehicle_id] = ref
        return by_rider, by_vehicle

    def bookings(
        self, *, rider_ids: Iterable[str] = (), vehicle_ids: Iterable[str] = ()
    ) -> tuple[dict[str, builtins.list[Booking]], dict[str, builtins.list[Booking]]]:
        riders, vehicles = set(rider_ids), set(vehicle_ids)
        by_rider: dict[str, builtins.list[Booking]] = {}
        by_vehicle: dict[str, builtins.list[Booking]] = {}
        for d in sorted(self.store.dispatches.values(), key=lambda d: d.id):
            if not d.active:
                continue
            booking = Booking(d.id, d.status, d.planned_start, d.planned_end)
            if d.rider_id in riders:
                by_rider.setdefault(d.rider_id, []).append(booking)
            if d.vehicle_id in vehicles:
                by_vehicle.setdefault(d.vehicle_id, []).append(booking)
        return by_rider, by_vehicle

    def history(self, hub_id: str, route_id: str, since: date, until: date) -> builtins.list[PastDispatch]:
        return [
            PastDispatch(d.rider_id, d.vehicle_id, d.pickup_date)
            for d in self._where(hub_id=hub_id, route_id=route_id, status=DispatchStatus.COMPLETED)
            if since <= d.pickup_date <= until
        ]

    def list(self, where: DispatchFilter, page_size: int, after: DispatchCursor | None) -> builtins.list[Dispatch]:
        def matches(d: Dispatch) -> bool:
            return (
                d.hub_id == where.hub_id
                and where.route_id in ("", d.route_id)
                and where.pickup_date in (None, d.pickup_date)
                and where.rider_id in ("", d.rider_id)
                and where.status in (None, d.status)
                and (after is None or (d.created_at, d.id) < (after.created_at, after.id))
            )

        newest_first = sorted(self.store.dispatches.values(), key=lambda d: (d.created_at, d.id), reverse=True)
        return copy.deepcopy([d for d in newest_first if matches(d)][:page_size])


class FakeRouteRepository(AbstractRouteRepository):
    def __init__(self, store: DispatchStore) -> None:
        self.store = store

    def _newer_stored(self, hub_id: str, route_id: str, map_version: int) -> bool:
        stored = self.store.routes.get((hub_id, route_id))
        return stored is not None and stored[1] > map_version

    def apply(self, change: RouteMapChange, now: datetime) -> None:
        for summary in change.routes:
            if not self._newer_stored(change.hub_id, summary.route_id, change.map_version):
                self.store.routes[(change.hub_id, summary.route_id)] = (summary, change.map_version, False)
        for route_id in change.deleted_route_ids:
            if not self._newer_stored(change.hub_id, route_id, change.map_version):
                known = self.store.routes.get((change.hub_id, route_id))
                summary = known[0] if known else RouteSummary(route_id, "")
                self.store.routes[(change.hub_id, route_id)] = (summary, change.map_version, True)

    def names(self, hub_id: str, route_ids: Collection[str] | None = None) -> dict[str, str]:
        return {
            route_id: summary.name
            for (hub, route_id), (summary, _, _) in self.store.routes.items()
            if hub == hub_id and (route_ids is None or route_id in route_ids)
        }


class FakeDispatchUnitOfWork(AbstractDispatchUnitOfWork):
    def __init__(self, store: DispatchStore | None = None) -> None:
        self.store = store if store is not None else DispatchStore()
        self.locked_routes: list[RouteKey] = []

    def __enter__(self) -> Self:
        self._working = self.store.working_copy()
        self.riders = FakeRiderRepository(self._working)
        self.vehicles = FakeVehicleRepository(self._working)
        self.pickups = FakePickupRepository(self._working)
        self.dispatches = FakeDispatchRepository(self._working)
        self.routes = FakeRouteRepository(self._working)
        self.hubs = FakeHubRepository(self._working.hubs)
        self.attendance = FakeAttendanceRepository(self._working.rider_days)
        self.plans = FakePlanRepository(self._working.plans)
        self.volumes = FakeVolumeRepository(self._working.volumes)
        return super().__enter__()

    def _commit(self, events: list[object]) -> None:
        self.store.take(self._working, events)
        self.store.announced.append(set(self.board_changes))

    def _rollback(self) -> None:
        pass

    def lock_routes(self, keys: Iterable[RouteKey]) -> None:
        locked = sorted(set(keys))
        self.locked_routes.extend(locked)
        self.announce(BoardChange(*key) for key in locked)
