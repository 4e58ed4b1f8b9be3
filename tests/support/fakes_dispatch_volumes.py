"""In-memory volume history of dispatch_svc (the store lives in `fakes_dispatch.DispatchStore`, so
it follows its transactions): the same observed/imported rule as dispatch.volume_days."""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from dispatch_svc.domain.forecasting import DailyVolume
from dispatch_svc.domain.volumes import ObservedPickup, RouteProfiles, StoredBacktest
from dispatch_svc.service_layer.repositories import AbstractVolumeRepository

DayKey = tuple[str, str, date]


@dataclass
class VolumeDay:
    observed_pickups: int = 0
    observed_packages: int = 0
    observed_weight_kg: float = 0.0
    imported: DailyVolume | None = None


@dataclass
class VolumeStore:
    days: dict[DayKey, VolumeDay] = field(default_factory=dict)
    observations: dict[str, ObservedPickup] = field(default_factory=dict)
    backtests: dict[tuple[str, str], StoredBacktest] = field(default_factory=dict)
    # What route_profiles answers per hub (tests set it; the SQL reads open_pickups and routes).
    profiles: dict[str, RouteProfiles] = field(default_factory=dict)

    def copy(self) -> VolumeStore:
        return copy.deepcopy(self)


class FakeVolumeRepository(AbstractVolumeRepository):
    def __init__(self, store: VolumeStore) -> None:
        self.store = store

    def observe(self, observations: Mapping[str, ObservedPickup | None], now: datetime) -> None:
        for pur_id, new in observations.items():
            old = self.store.observations.get(pur_id)
            if old == new:
                continue
            if old is not None:
                self._add(old, -1)
                del self.store.observations[pur_id]
            if new is not None:
                self._add(new, +1)
                self.store.observations[pur_id] = new

    def _add(self, observed: ObservedPickup, sign: int) -> None:
        day = self.store.days.setdefault((observed.hub_id, observed.route_id, observed.day), VolumeDay())
        day.observed_pickups += sign
        day.observed_packages += sign * observed.packages
        day.observed_weight_kg = max(0.0, day.observed_weight_kg + sign * observed.weight_kg)

    def import_days(self, hub_id: str, rows: Sequence[DailyVolume], now: datetime) -> int:
        replaced = 0
        for row in rows:
            day = self.store.days.setdefault((hub_id, row.route_id, row.day), VolumeDay())
            replaced += day.imported is not None
            day.imported = row
        return replaced

    def history(self, hub_id: str, since: date, until: date, route_id: str | None = None) -> list[DailyVolume]:
        found = []
        for (hub, route, day), volume in sorted(self.store.days.items()):
            if hub != hub_id or not since <= day <= until or route_id not in (None, route):
                continue
            if volume.imported is not None:
                found.append(volume.imported)
            elif volume.observed_pickups == 0:
                found.append(DailyVolume(day, route, 0, 0, 0.0))
            else:
                found.append(
                    DailyVolume(
                        day, route, volume.observed_pickups, volume.observed_packages, volume.observed_weight_kg
                    )
                )
        return found

    def backtests(self, hub_id: str, route_ids: Collection[str]) -> dict[str, StoredBacktest]:
        return {r: self.store.backtests[(hub_id, r)] for r in route_ids if (hub_id, r) in self.store.backtests}

    def save_backtest(self, hub_id: str, route_id: str, stored: StoredBacktest) -> None:
        self.store.backtests[(hub_id, route_id)] = stored

    def route_profiles(self, hub_id: str, since: date, until: date) -> RouteProfiles:
        return self.store.profiles.get(hub_id, RouteProfiles({}, {}, frozenset()))
