"""Volume history in `dispatch.volume_days` / `volume_observations` and stored backtests in
`dispatch.volume_backtests` (migration dispatch_0007)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import SCHEMA, open_pickups, routes, volume_backtests, volume_days, volume_observations
from dispatch_svc.domain.forecasting import Backtest, DailyVolume
from dispatch_svc.domain.planning import Point
from dispatch_svc.domain.volumes import ObservedPickup, RouteProfiles, StoredBacktest
from dispatch_svc.service_layer.repositories import AbstractVolumeRepository
from mesh.arrays import array_literal, insert_from_arrays, update_from_arrays

DayKey = tuple[str, str, date]
POINTS_PER_ROUTE = 500


class SqlAlchemyVolumeRepository(AbstractVolumeRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def observe(self, observations: Mapping[str, ObservedPickup | None], now: datetime) -> None:
        if not observations:
            return
        stored = self._observations(sorted(observations))
        deltas: dict[DayKey, list[float]] = defaultdict(lambda: [0, 0, 0.0])
        upserts: list[ObservedPickup] = []
        gone: list[str] = []
        for pur_id, new in observations.items():
            old = stored.get(pur_id)
            if old == new:
                continue  # already counted where it counts now: a replay changes nothing
            if old is not None:
                _add(deltas, old, -1)
            if new is None:
                gone.append(pur_id)
            else:
                _add(deltas, new, +1)
                upserts.append(new)
        self._write_observations(upserts, gone, now)
        self._apply_deltas(deltas, now)

    def _observations(self, pur_ids: list[str]) -> dict[str, ObservedPickup]:
        rows = self.session.execute(
            sa.select(volume_observations)
            .where(volume_observations.c.pur_id.in_(pur_ids))
            .order_by(volume_observations.c.pur_id)
            .with_for_update()
        )
        return {
            row.pur_id: ObservedPickup(row.pur_id, row.hub_id, row.route_id, row.day, row.packages, row.weight_kg)
            for row in rows
        }

    def _write_observations(self, upserts: list[ObservedPickup], gone: list[str], now: datetime) -> None:
        if gone:
            self.session.execute(sa.delete(volume_observations).where(volume_observations.c.pur_id.in_(gone)))
        if upserts:
            rows = sorted(upserts, key=lambda o: o.pur_id)
            self.session.execute(
                _UPSERT_OBSERVATIONS,
                {
                    "pur_id": array_literal([o.pur_id for o in rows]),
                    "hub_id": array_literal([o.hub_id for o in rows]),
                    "route_id": array_literal([o.route_id for o in rows]),
                    "day": array_literal([o.day for o in rows]),
                    "packages": array_literal([o.packages for o in rows]),
                    "weight_kg": array_literal([o.weight_kg for o in rows]),
                    "now": now,
                },
            )

    def _apply_deltas(self, deltas: Mapping[DayKey, list[float]], now: datetime) -> None:
        changed = sorted(key for key, delta in deltas.items() if any(delta))
        if not changed:
            return
        keys = {
            "hub_id": array_literal([h for h, _, _ in changed]),
            "route_id": array_literal([r for _, r, _ in changed]),
            "day": array_literal([d for _, _, d in changed]),
            "now": now,
        }
        # Rows first, created or locked in key order (as every writer of these rows), then the sums:
        # an INSERT's check constraints would see a negative delta before ON CONFLICT could add it.
        self.session.execute(_LOCK_DAYS, keys)
        self.session.execute(
            _ADD_DELTAS,
            keys
            | {
                "observed_pickups": [int(deltas[key][0]) for key in changed],
                "observed_packages": [int(deltas[key][1]) for key in changed],
                "observed_weight_kg": [float(deltas[key][2]) for key in changed],
            },
        )

    def import_days(self, hub_id: str, rows: Sequence[DailyVolume], now: datetime) -> int:
        if not rows:
            return 0
        ordered = sorted(rows, key=lambda r: (r.route_id, r.day))
        # The keys as two arrays joined with unnest: a 10,000-row tuple IN list is too deep for the parser.
        replaced = self.session.execute(
            sa.text(
                f"SELECT count(*) FROM {SCHEMA}.volume_days v"
                " JOIN unnest(CAST(:routes AS text[]), CAST(:days AS date[])) AS k(route_id, day)"
                " ON v.route_id = k.route_id AND v.day = k.day"
                " WHERE v.hub_id = :hub_id AND v.imported_at IS NOT NULL"
            ),
            {"hub_id": hub_id, "routes": [r.route_id for r in ordered], "days": [r.day for r in ordered]},
        ).scalar_one()
        statement = insert(volume_days)
        imported = ("imported_pickups", "imported_packages", "imported_weight_kg", "imported_at", "updated_at")
        # executemany: SQLAlchemy sends it in pages of many VALUES rows (insertmanyvalues), in key order.
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[volume_days.c.hub_id, volume_days.c.route_id, volume_days.c.day],
                set_={name: statement.excluded[name] for name in imported},
            ),
            [
                {
                    "hub_id": hub_id,
                    "route_id": row.route_id,
                    "day": row.day,
                    "imported_pickups": row.pickups,
                    "imported_packages": row.packages,
                    "imported_weight_kg": row.weight_kg,
                    "imported_at": now,
                    "updated_at": now,
                }
                for row in ordered
            ],
        )
        return int(replaced)

    def history(self, hub_id: str, since: date, until: date, route_id: str | None = None) -> list[DailyVolume]:
        c = volume_days.c
        imported = c.imported_at.is_not(None)
        one_route = [c.route_id == route_id] if route_id is not None else []
        rows = self.session.execute(
            sa.select(
                c.route_id,
                c.day,
                sa.case((imported, c.imported_pickups), else_=c.observed_pickups).label("pickups"),
                sa.case((imported, c.imported_packages), else_=c.observed_packages).label("packages"),
                sa.case((imported, c.imported_weight_kg), else_=c.observed_weight_kg).label("weight_kg"),
            )
            .where(c.hub_id == hub_id, c.day >= since, c.day <= until, *one_route)
            .order_by(c.route_id, c.day)
        )
        return [_volume(row.route_id, row.day, row.pickups, row.packages, row.weight_kg) for row in rows]

    def backtests(self, hub_id: str, route_ids: Collection[str]) -> dict[str, StoredBacktest]:
        b = volume_backtests.c
        rows = self.session.execute(
            sa.select(volume_backtests).where(b.hub_id == hub_id, b.route_id.in_(sorted(set(route_ids))))
        )
        return {
            row.route_id: StoredBacktest(
                Backtest(
                    model=row.model,
                    mase=math.nan if row.mase is None else row.mase,
                    coverage_80=math.nan if row.coverage is None else row.coverage,
                    origins=row.origins,
                    horizon=row.horizon,
                ),
                row.fingerprint,
                row.computed_at,
            )
            for row in rows
        }

    def save_backtest(self, hub_id: str, route_id: str, stored: StoredBacktest) -> None:
        b = stored.backtest
        values = {
            "fingerprint": stored.fingerprint,
            "model": b.model,
            "mase": b.mase if math.isfinite(b.mase) else None,
            "coverage": b.coverage_80 if math.isfinite(b.coverage_80) else None,
            "origins": b.origins,
            "horizon": b.horizon,
            "computed_at": stored.computed_at,
        }
        statement = insert(volume_backtests).values(hub_id=hub_id, route_id=route_id, **values)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[volume_backtests.c.hub_id, volume_backtests.c.route_id],
                set_={name: statement.excluded[name] for name in values},
            )
        )

    def route_profiles(self, hub_id: str, since: date, until: date) -> RouteProfiles:
        p = open_pickups.c
        newest = (
            sa.select(
                p.route_id,
                p.lat,
                p.lng,
                p.default_rider_id,
                sa.func.row_number().over(partition_by=p.route_id, order_by=p.pickup_date.desc()).label("n"),
            )
            .where(p.hub_id == hub_id, p.pickup_date >= since, p.pickup_date <= until)
            .subquery()
        )
        points: dict[str, list[Point]] = defaultdict(list)
        named: dict[str, Counter[str]] = defaultdict(Counter)
        for row in self.session.execute(sa.select(newest).where(newest.c.n <= POINTS_PER_ROUTE)):
            points[row.route_id].append(Point(row.lat, row.lng))
            if row.default_rider_id:
                named[row.route_id][row.default_rider_id] += 1
        defaults = {route_id: counts.most_common(1)[0][0] for route_id, counts in sorted(named.items())}
        deleted = set()
        for row in self.session.execute(
            sa.select(routes.c.route_id, routes.c.default_rider_id, routes.c.deleted).where(routes.c.hub_id == hub_id)
        ):
            if row.deleted:
                deleted.add(row.route_id)
            elif row.default_rider_id:
                defaults[row.route_id] = row.default_rider_id
        return RouteProfiles(dict(points), defaults, frozenset(deleted))


_OBSERVED = ("hub_id", "route_id", "day", "packages", "weight_kg")
_UPSERT_OBSERVATIONS = insert_from_arrays(
    volume_observations,
    ("pur_id", *_OBSERVED),
    "ON CONFLICT (pur_id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in _OBSERVED)
    + ", updated_at = EXCLUDED.updated_at",
    same={"updated_at": ":now"},
)
_DAY_KEY = ("hub_id", "route_id", "day")
_LOCK_DAYS = insert_from_arrays(
    volume_days,
    _DAY_KEY,
    "ON CONFLICT (hub_id, route_id, day) DO UPDATE SET updated_at = EXCLUDED.updated_at",
    same={"updated_at": ":now"},
)
_ADD_DELTAS = update_from_arrays(
    volume_days,
    _DAY_KEY,
    ("observed_pickups", "observed_packages", "observed_weight_kg"),
    {
        "observed_pickups": "t.observed_pickups + v.observed_pickups",
        "observed_packages": "t.observed_packages + v.observed_packages",
        "observed_weight_kg": "greatest(0.0, t.observed_weight_kg + v.observed_weight_kg)",
        "updated_at": ":now",
    },
)


def _add(deltas: dict[DayKey, list[float]], observed: ObservedPickup, sign: int) -> None:
    delta = deltas[(observed.hub_id, observed.route_id, observed.day)]
    delta[0] += sign
    delta[1] += sign * observed.packages
    delta[2] += sign * observed.weight_kg


def _volume(route_id: str, day: date, pickups: int, packages: int, weight_kg: float) -> DailyVolume:
    # A day all of whose PURs left may keep float noise in its running kg sum: it had nothing.
    if pickups == 0:
        packages, weight_kg = 0, 0.0
    return DailyVolume(day, route_id, int(pickups), int(packages), max(0.0, float(weight_kg)))
