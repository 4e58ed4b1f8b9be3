"""Rider and vehicle recommendations for a route's next dispatch. Pure: inputs in, ranked lists out.

Riders (score = sum of the parts; see docs/dispatch.md):
- history on this route: each completed dispatch weighs 0.5 ** (age_days / 14) (half-life 14
  days); the weights' sum W gives HISTORY_POINTS * W / (W + HISTORY_SATURATION), so recent
  regulars lead but a long record cannot outweigh everything else;
- the route's default rider (the rider routing assigned to the route's pickups): DEFAULT_POINTS;
- present today per attendance: PRESENT_POINTS. Riders known NOT to be present are dropped, never
  ranked. When attendance is unknown (the attendance service is unreachable) nobody counts as
  present: riders are listed with present = False and a reason saying attendance is unknown;
- on another active dispatch: BUSY_PENALTY (listed last, with the dispatch in the reasons).

Vehicles: a vehicle that carries the queued load gets FIT_POINTS plus up to TIGHT_POINTS for
how full the load makes it (the smallest adequate vehicle first); one that does not gets up to
PARTIAL_POINTS for the share it could carry. Past use on the route adds up to HISTORY_POINTS_VEHICLE
(same decay). A vehicle on an active dispatch gets BUSY_PENALTY. Ties go to the smaller vehicle.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from dispatch_svc.domain.model import Load, Rider, Vehicle

HALF_LIFE_DAYS = 14.0
HISTORY_WINDOW_DAYS = 180
HISTORY_POINTS = 40.0
HISTORY_SATURATION = 2.0
DEFAULT_POINTS = 15.0
PRESENT_POINTS = 20.0
BUSY_PENALTY = -100.0
FIT_POINTS = 100.0
TIGHT_POINTS = 30.0
PARTIAL_POINTS = 50.0
HISTORY_POINTS_VEHICLE = 20.0
DEFAULT_LIMIT = 5
MAX_LIMIT = 50


class AttendanceSource(enum.Enum):
    UNKNOWN = "UNKNOWN"  # the attendance service could not answer
    LIVE = "LIVE"
    CACHED = "CACHED"
    STALE = "STALE"
    EMBEDDED = "EMBEDDED"


@dataclass(frozen=True)
class AttendanceView:
    """Who is present at a hub on a day, and how much to trust it.

    `known` is False when the attendance service could not answer at all: then `present` is empty
    and nobody may be treated as present. Stale data (served by the adapter from its last known
    answer while the upstream is down) is known, flagged `stale`, and said so in the reasons.
    """

    known: bool
    present: Mapping[str, datetime | None] = field(default_factory=dict)  # rider id -> check-in time
    source: AttendanceSource = AttendanceSource.UNKNOWN
    stale: bool = False
    fetched_at: datetime | None = None
    age_seconds: float = 0.0
    reason: str = ""  # why it is stale or unknown

    @classmethod
    def unknown(cls, reason: str) -> AttendanceView:
        return cls(known=False, source=AttendanceSource.UNKNOWN, stale=True, reason=reason)

    def is_present(self, rider_id: str) -> bool:
        return self.known and rider_id in self.present


@dataclass(frozen=True)
class PastDispatch:
    """A completed dispatch on the route: who rode, with what, for which day."""

    rider_id: str
    vehicle_id: str
    pickup_date: date


@dataclass(frozen=True)
class ActiveDispatchRef:
    dispatch_id: str
    route_id: str
    status: str


@dataclass(frozen=True)
class RiderScore:
    rider: Rider
    score: float
    reasons: tuple[str, ...]
    present: bool
    on_active_dispatch: bool
    past_dispatches: int
    default_rider: bool

    @property
    def eligible(self) -> bool:
        """May be dispatched right now: present per attendance and free."""
        return self.present and not self.on_active_dispatch


@dataclass(frozen=True)
class VehicleScore:
    vehicle: Vehicle
    score: float
    reasons: tuple[str, ...]
    past_dispatches: int
    fits_load: bool
    on_active_dispatch: bool


def history_start(day: date) -> date:
    """The first day of the history window ending on `day` (never before 0001-01-01)."""
    return date.fromordinal(max(1, day.toordinal() - HISTORY_WINDOW_DAYS))


def recency_weight(age_days: float) -> float:
    """Exponential decay: a dispatch 14 days ago counts half as much as one today."""
    return 0.5 ** (max(age_days, 0.0) / HALF_LIFE_DAYS)


@dataclass(frozen=True)
class _History:
    count: int
    weight: float
    last: date | None


def _history(dates: Iterable[date], today: date) -> _History:
    count, weight, last = 0, 0.0, None
    for day in dates:
        if day > today:
            continue
        count += 1
        weight += recency_weight((today - day).days)
        last = day if last is None or day > last else last
    return _History(count, weight, last)


def _saturating(points: float, weight: float) -> float:
    return points * weight / (weight + HISTORY_SATURATION)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "es" if word.endswith("h") else "s")


def _ago(today: date, last: date | None) -> str:
    if last is None:
        return "never"
    days = (today - last).days
    return "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"


def _attendance_reason(view: AttendanceView, rider_id: str) -> str:
    if not view.known:
        return f"attendance unknown ({view.reason or 'attendance service unavailable'}); not counted as present"
    check_in = view.present.get(rider_id)
    text = "present today"
    if check_in is not None:
        text += f" (checked in {check_in.strftime('%H:%M')} UTC)"
    if view.stale:
        minutes = int(view.age_seconds // 60)
        text += f" per last known attendance, {minutes} min old ({view.reason or 'attendance is stale'})"
    return text


def rank_riders(
    riders: Sequence[Rider],
    attendance: AttendanceView,
    history: Sequence[PastDispatch],
    busy: Mapping[str, ActiveDispatchRef],
    default_rider_ids: Iterable[str],
    today: date,
) -> list[RiderScore]:
    """Active riders, best first. Riders known not to be present are left out."""
    defaults = set(default_rider_ids)
    dates_by_rider: dict[str, list[date]] = {}
    for past in history:
        dates_by_rider.setdefault(past.rider_id, []).append(past.pickup_date)
    scored = []
    for rider in riders:
        if not rider.active:
            continue
        if attendance.known and rider.id not in attendance.present:
            continue  # absent, on leave, checked out or not checked in: never recommended
        h = _history(dates_by_rider.get(rider.id, ()), today)
        score = _saturating(HISTORY_POINTS, h.weight)
        reasons = []
        active = busy.get(rider.id)
        if active is not None:
            score += BUSY_PENALTY
            reasons.append(
                f"on active dispatch {active.dispatch_id} (route {active.route_id}, {active.status}); "
                "cannot be dispatched until it ends"
            )
        reasons.append(
            f"{_plural(h.count, 'past dispatch')} on this route (last {_ago(today, h.last)})"
            if h.count
            else "no past dispatches on this route"
        )
        is_default = rider.id in defaults
        if is_default:
            score += DEFAULT_POINTS
            reasons.append("the route's default rider")
        present = attendance.is_present(rider.id)
        if present:
            score += PRESENT_POINTS
        reasons.append(_attendance_reason(attendance, rider.id))
        scored.append(
            RiderScore(
                rider=rider,
                score=round(score, 3),
                reasons=tuple(reasons),
                present=present,
                on_active_dispatch=active is not None,
                past_dispatches=h.count,
                default_rider=is_default,
            )
        )
    scored.sort(key=lambda s: (s.on_active_dispatch, -s.score, s.rider.id))
    return scored


def _fit(load: Load, capacity: Load) -> tuple[float, str]:
    """Points and reason for how a vehicle of `capacity` carries `load`: a fit scores more the
    fuller it is; a vehicle too small scores by the share it could carry."""
    if load.fits_in(capacity):
        utilisation = max(load.packages / capacity.packages, load.weight_kg / capacity.weight_kg)
        points = FIT_POINTS + TIGHT_POINTS * utilisation
        if load.empty:
            return points, f"nothing queued; carries {capacity.packages} packages / {capacity.weight_kg:.1f} kg"
        return points, f"fits the queued {load.describe()} (uses {utilisation:.0%} of its capacity)"
    share = min(
        capacity.packages / load.packages if load.packages else 1.0,
        capacity.weight_kg / load.weight_kg if load.weight_kg > 0 else 1.0,
    )
    return PARTIAL_POINTS * share, (
        f"too small for the queued {load.describe()}: carries {capacity.packages} packages / "
        f"{capacity.weight_kg:.1f} kg ({share:.0%} of it)"
    )


def rank_vehicles(
    vehicles: Sequence[Vehicle],
    load: Load,
    history: Sequence[PastDispatch],
    busy: Mapping[str, ActiveDispatchRef],
    today: date,
) -> list[VehicleScore]:
    """Active vehicles, best first: those that carry `load` (smallest adequate first), then the
    rest by how much of it they could carry; past use on the route breaks near-ties."""
    dates_by_vehicle: dict[str, list[date]] = {}
    for past in history:
        dates_by_vehicle.setdefault(past.vehicle_id, []).append(past.pickup_date)
    scored = []
    for vehicle in vehicles:
        if not vehicle.active:
            continue
        fits = load.fits_in(vehicle.capacity)
        reasons = []
        active = busy.get(vehicle.id)
        score = 0.0
        if active is not None:
            score += BUSY_PENALTY
            reasons.append(f"on active dispatch {active.dispatch_id} (route {active.route_id}, {active.status})")
        fit_points, fit_reason = _fit(load, vehicle.capacity)
        score += fit_points
        reasons.append(fit_reason)
        h = _history(dates_by_vehicle.get(vehicle.id, ()), today)
        score += _saturating(HISTORY_POINTS_VEHICLE, h.weight)
        reasons.append(
            f"used on {_plural(h.count, 'past dispatch')} on this route (last {_ago(today, h.last)})"
            if h.count
            else "not used on this route before"
        )
        scored.append(
            VehicleScore(
                vehicle=vehicle,
                score=round(score, 3),
                reasons=tuple(reasons),
                past_dispatches=h.count,
                fits_load=fits,
                on_active_dispatch=active is not None,
            )
        )
    scored.sort(
        key=lambda s: (s.on_active_dispatch, -s.score, s.vehicle.capacity_packages, s.vehicle.capacity_kg, s.vehicle.id)
    )
    return scored
