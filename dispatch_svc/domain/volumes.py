"""Volume history as dispatch_svc keeps it (docs/dispatch.md, "Volume history and forecasts"):
what a PUR adds to its day's observed volume, imported rows checked as a whole, and stored
backtests. Pure domain.

Observed volume rule: a PUR counts once, on the route and day it is routed to now, from the first
time dispatch_svc sees it routed, with the packages and kg it was last routed with. A re-route
or a new pickup date moves it. It stops counting when it is cancelled before being picked up or
becomes unroutable (it needed no trip on any route); a PUR picked up keeps counting whatever
comes later. So a day's observed volume is the work the day really had, and forecasts are of that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from dispatch_svc.domain.forecasting import Backtest, DailyVolume, ForecastSettings, InvalidVolume, VolumeSeries
from dispatch_svc.domain.model import Pickup, PickupStatus
from dispatch_svc.domain.planning import Point
from mesh.errors import InvalidArgument
from mesh.kernel import check_id, parse_date

MAX_IMPORT_ROWS = 10_000
COUNTED = frozenset({PickupStatus.ROUTED, PickupStatus.DISPATCHED, PickupStatus.PICKED_UP})


class InvalidVolumeRow(InvalidArgument):
    """One row of an import is bad: the whole import is refused (the message names the row)."""


@dataclass(frozen=True)
class ObservedPickup:
    """What one PUR adds to the observed volume of its hub, route and day: one pickup, its load."""

    pur_id: str
    hub_id: str
    route_id: str
    day: date
    packages: int
    weight_kg: float


def observed_volume(pickup: Pickup) -> ObservedPickup | None:
    """Where `pickup` counts now, or None when it counts nowhere (the rule in the module's doc)."""
    if pickup.status not in COUNTED:
        return None
    return ObservedPickup(
        pickup.pur_id, pickup.hub_id, pickup.route_id, pickup.pickup_date, pickup.packages, pickup.weight_kg
    )


@dataclass(frozen=True)
class VolumeRowInput:
    """One import row as it arrives (ImportVolumeHistory's VolumeHistoryRow, a CSV line)."""

    date: str
    route_id: str
    pickups: int
    packages: int
    weight_kg: float


def import_rows(rows: Sequence[VolumeRowInput]) -> list[DailyVolume]:
    """The rows as daily volumes, all of them or none: the first bad row raises InvalidVolumeRow (or
    the kernel's InvalidArgument) naming its index and why. Bad: a malformed date, a bad route id,
    a volume negative, not finite or out of range, a route and day given twice. Dates after the
    hub's today are refused by `refuse_future`, which needs the hub."""
    if not rows:
        raise InvalidVolumeRow("rows must not be empty")
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidVolumeRow(f"rows holds {len(rows)} rows; the limit is {MAX_IMPORT_ROWS} per call")
    volumes: list[DailyVolume] = []
    seen: dict[tuple[str, date], int] = {}
    for index, row in enumerate(rows):
        volume = _row(index, row)
        first = seen.setdefault((volume.route_id, volume.day), index)
        if first != index:
            raise InvalidVolumeRow(
                f"rows[{index}]: route {volume.route_id} on {volume.day.isoformat()} is already in rows[{first}]"
            )
        volumes.append(volume)
    return volumes


def refuse_future(volumes: Sequence[DailyVolume], today: date) -> None:
    """InvalidVolumeRow naming the first row (in import order) dated after `today`, the hub's."""
    for index, volume in enumerate(volumes):
        if volume.day > today:
            raise InvalidVolumeRow(
                f"rows[{index}].date {volume.day.isoformat()} is in the future (today is {today.isoformat()})"
            )


def _row(index: int, row: VolumeRowInput) -> DailyVolume:
    where = f"rows[{index}]"
    day = parse_date(f"{where}.date", row.date)
    route_id = check_id(f"{where}.route_id", row.route_id)
    try:
        return DailyVolume(day, route_id, row.pickups, row.packages, row.weight_kg)
    except InvalidVolume as exc:
        raise InvalidVolumeRow(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class StoredBacktest:
    """A series' backtest as stored, with the fingerprint of the history and settings it judged."""

    backtest: Backtest
    fingerprint: str
    computed_at: datetime


def history_fingerprint(series: VolumeSeries, settings: ForecastSettings, extra: Iterable[str] = ()) -> str:
    """Changes whenever the pickups a backtest sees, the settings judging them or `extra` (the model
    family, known events) change; the same history gives the same fingerprint on every replica."""
    digest = hashlib.sha256()
    digest.update(repr(settings).encode())
    digest.update(f"|{series.route_id}|{series.start.isoformat()}|".encode())
    digest.update(",".join(map(str, series.pickups)).encode())
    for item in extra:
        digest.update(b"|" + item.encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class RouteProfiles:
    """What a hub's recent pickups and route read model say of its routes: where their pickups
    are (for their reach from the depot), each route's default rider, and the routes deleted from
    the map."""

    points: dict[str, list[Point]]
    default_riders: dict[str, str]
    deleted_routes: frozenset[str]
