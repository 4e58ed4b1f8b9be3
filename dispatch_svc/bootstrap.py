"""Composition root of dispatch_svc: the one place that builds and wires its parts."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.attendance import GrpcAttendanceClient
from dispatch_svc.adapters.board_channel import BoardListener
from dispatch_svc.adapters.statsforecast_forecaster import StatsforecastForecaster
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.adapters.vroom_planner import VroomPlanner
from dispatch_svc.config import Settings
from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.planning import GreatCircleTravelModel, PlanningSettings
from dispatch_svc.entrypoints.auto_dispatch import AutoDispatcher
from dispatch_svc.entrypoints.board_watch import BoardFeed
from dispatch_svc.entrypoints.consumers import consumer_workers
from dispatch_svc.entrypoints.grpc_api import DispatchServicer, registration
from dispatch_svc.service_layer.planner import TripPlanner
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from mesh import tracing
from mesh.config import DatabaseSettings, MeshSettings
from mesh.db import make_engine, make_session_factory
from mesh.grpc_client import service_channel
from mesh.infrastructure import Infrastructure
from mesh.roles import Role, parse_role
from mesh.runtime import ServiceRuntime, Worker
from mesh.service import run_service

NAME = "dispatch_svc"


def auto_dispatch_policy(settings: Settings) -> AutoDispatchPolicy:
    return AutoDispatchPolicy(
        hubs=settings.auto_dispatch_hub_ids,
        queue_threshold=settings.auto_dispatch_queue_threshold,
        cutoff=settings.auto_dispatch_cutoff_time,
        timezone=ZoneInfo(settings.auto_dispatch_timezone),
    )


def build_runtime(mesh: MeshSettings, settings: Settings, role: Role = Role.ALL) -> ServiceRuntime:
    stop_tracing = tracing.configure(mesh, service=NAME)
    infra = Infrastructure.connect(mesh, service=NAME)
    # round_robin spreads calls over the adapter's pods when the address is a headless
    # service (dns:///...); for a single address it is the same as pick_first.
    channel = service_channel(settings.attendance_address, mesh, options=[("grpc.lb_policy_name", "round_robin")])
    attendance = GrpcAttendanceClient(channel, settings.attendance_timeout_seconds)

    def uow() -> SqlAlchemyDispatchUnitOfWork:
        return SqlAlchemyDispatchUnitOfWork(infra.session_factory)

    travel = GreatCircleTravelModel(settings.planning_circuity_factor, settings.planning_speeds_kmh)
    planner = VroomPlanner(travel)
    forecaster = StatsforecastForecaster(settings.forecast_settings)
    # One LISTEN connection per process feeds every WatchOpenPickupsByRoute stream it serves.
    board = BoardFeed(uow, lambda: BoardListener(infra.engine))
    consumers = consumer_workers(infra, uow, planning_settings=settings.planning_settings) if role.runs_workers else []
    workers: list[Worker] = [board.worker()] if role.serves_api else []
    if role.runs_workers:
        workers += [infra.outbox_relay(orm.outbox), *consumers]
    policy = auto_dispatch_policy(settings)
    if policy.hubs and role.runs_workers:
        workers.append(
            AutoDispatcher(
                policy, uow, planner, settings.auto_dispatch_interval_seconds, settings.planning_settings
            ).worker()
        )
    return ServiceRuntime(
        name=NAME,
        settings=mesh,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        health_port=settings.health_port,
        registrations=[
            registration(
                DispatchServicer(
                    uow, attendance, board, planner, settings.planning_settings, forecaster=forecaster, travel=travel
                )
            )
        ]
        if role.serves_api
        else [],
        workers=workers,
        closers=[attendance.close, infra.close, stop_tracing],
    )


@dataclass(frozen=True)
class PlanningTools:
    """What the planning command (dispatch_svc.commands.plan) works with: the service's database, its
    planner and its planning settings, so a plan made there is the plan PlanDispatches would make."""

    uow: Callable[[], AbstractDispatchUnitOfWork]
    planner: TripPlanner
    settings: PlanningSettings
    close: Callable[[], None]


def build_planning_tools(database: DatabaseSettings, settings: Settings) -> PlanningTools:
    # The database only: a plan is read and stored there; nothing is published until a commit.
    engine = make_engine(database.database_url, pool_size=2, application_name=f"{NAME}-plan")
    session_factory = make_session_factory(engine)
    return PlanningTools(
        uow=lambda: SqlAlchemyDispatchUnitOfWork(session_factory),
        planner=VroomPlanner(GreatCircleTravelModel(settings.planning_circuity_factor, settings.planning_speeds_kmh)),
        settings=settings.planning_settings,
        close=engine.dispose,
    )


def main(argv: Sequence[str] | None = None) -> int:
    role = parse_role(NAME, sys.argv[1:] if argv is None else argv)
    return run_service(NAME, Settings, lambda mesh, settings: build_runtime(mesh, settings, role))
