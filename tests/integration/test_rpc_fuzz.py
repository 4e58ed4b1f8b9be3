"""Every RPC of the four services called with generated bad requests, on real mesh GrpcServers
over the real database.

Each RPC has a valid request and two sets of changes to one of its fields:
- invalid: values the contract refuses (overlong or control-character strings, malformed ids,
  NaN, infinite or out-of-range coordinates, unknown enum numbers, impossible dates, empty or
  oversized batches, negative page sizes, garbage page tokens, missing required fields). The
  answer must be INVALID_ARGUMENT, and its details must name the field.
- noisy: arbitrary values that may or may not be valid (any unicode, any float or int32, forged
  page tokens, far-off dates). The answer may be anything the RPC legitimately says, OK included,
  but never INTERNAL, UNKNOWN or UNAVAILABLE.
Every error has details, and a call answered INVALID_ARGUMENT wrote no row.

"No row" is counted by the servers' own engine (rows that committed INSERT, UPDATE and DELETE
statements touched): a count over the shared tables would scan millions of rows per call and see
whatever else writes to the database meanwhile. Noisy requests that happen to be valid write only
in a hub, under ids, of this module's own, which are removed after it.
"""

from __future__ import annotations

import base64
import json
import math
import re
import string
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_adapter.adapters import orm as attendance_orm
from attendance_adapter.entrypoints import grpc_api as attendance_api
from dispatch_svc.adapters import orm as dispatch_orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import GreatCircleTravelModel
from dispatch_svc.entrypoints import grpc_api as dispatch_api
from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from mesh.db import make_engine, make_session_factory
from mesh.paging import encode_page_token
from pur_svc.adapters import orm as pur_orm
from pur_svc.entrypoints import grpc_api as pur_api
from routing_svc.adapters import orm as routing_orm
from routing_svc.adapters.unit_of_work import SqlAlchemyRoutingUnitOfWork
from routing_svc.entrypoints import grpc_api as routing_api
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch_plans import FakeTripPlanner
from tests.support.fakes_forecaster import SeasonalNaiveForecaster
from tests.support.geometry import square
from tests.support.in_process_server import admin_channel
from tests.support.sql_servicers import (
    embedded_attendance_servicer,
    index_registry,
    pickup_servicer,
    require_attendance_schema,
)

pytestmark = pytest.mark.integration

Code = grpc.StatusCode
FUZZ = f"fuzz-{uuid.uuid4().hex[:8]}"
HUB = f"{FUZZ}-hub"
CLIENT = f"{FUZZ}-client"
RIDER = f"{FUZZ}-rider"
TODAY = datetime.now(UTC).date()
# A stream still open this long after the call was accepted: validation let it through.
WATCH_ACCEPTED_AFTER_SECONDS = 0.3


# -- the servers --------------------------------------------------------------------------------
# Each on a real mesh GrpcServer, called with an admin token: allowed everywhere, so scope checks
# never hide a validation.


class WriteLog:
    """Rows that INSERT, UPDATE and DELETE statements touched in committed transactions of one engine."""

    _WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)

    def __init__(self, engine: sa.Engine) -> None:
        self._lock = threading.Lock()
        # Kept here, not in conn.info: that needs a live connection, and a rollback may follow its loss.
        self._uncommitted: dict[sa.Connection, int] = {}
        self.rows = 0
        sa.event.listen(engine, "after_cursor_execute", self._executed)
        sa.event.listen(engine, "commit", self._committed)
        sa.event.listen(engine, "rollback", self._rolled_back)

    def _executed(self, conn: sa.Connection, cursor: Any, statement: str, *_: Any) -> None:
        if self._WRITE.match(statement):
            touched = cursor.rowcount if cursor.rowcount >= 0 else 1  # unknown: assume a row
            with self._lock:
                self._uncommitted[conn] = self._uncommitted.get(conn, 0) + touched

    def _committed(self, conn: sa.Connection) -> None:
        with self._lock:
            self.rows += self._uncommitted.pop(conn, 0)

    def _rolled_back(self, conn: sa.Connection) -> None:
        with self._lock:
            self._uncommitted.pop(conn, None)


@pytest.fixture(scope="module")
def servers_engine(database_url) -> Iterator[sa.Engine]:
    """The engine all servers of this module use, and nothing else."""
    engine = make_engine(database_url, pool_size=5, application_name="firstmile-fuzz")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def write_log(servers_engine) -> WriteLog:
    return WriteLog(servers_engine)


def delete_ours(conn: sa.Connection, table: sa.Table, owner: sa.Column, key: sa.Column, outbox: sa.Table) -> None:
    """This module's rows of `table` (in its hub, or with an `owner` of its own) and the outbox
    events keyed by their `key` column."""
    ours = sa.or_(table.c.hub_id == HUB, owner.startswith(FUZZ))
    keys = conn.execute(sa.select(key).where(ours)).scalars().all()
    conn.execute(sa.delete(outbox).where(outbox.c.key.in_([k.encode() for k in keys])))
    conn.execute(sa.delete(table).where(ours))


@pytest.fixture(scope="module")
def pickup_service(servers_engine, engine, kafka_bootstrap_servers) -> Iterator[pur_pb2_grpc.PickupServiceStub]:
    servicer = pickup_servicer(make_session_factory(servers_engine), kafka_bootstrap_servers)
    with engine.begin() as conn:
        conn.execute(sa.insert(pur_orm.hubs).values(hub_id=HUB, map_version=1, updated_at=datetime.now(UTC)))
    with admin_channel(pur_api.registration(servicer)) as channel:
        yield pur_pb2_grpc.PickupServiceStub(channel)
    pickups, history = pur_orm.pickup_requests, pur_orm.pickup_history
    with engine.begin() as conn:
        ours = sa.select(pickups.c.id).where(sa.or_(pickups.c.hub_id == HUB, pickups.c.client_id.startswith(FUZZ)))
        conn.execute(sa.delete(history).where(history.c.pur_id.in_(ours)))
        delete_ours(conn, pickups, pickups.c.client_id, pickups.c.id, pur_orm.outbox.table)
        conn.execute(sa.delete(pur_orm.hubs).where(pur_orm.hubs.c.hub_id == HUB))


@pytest.fixture(scope="module")
def routing_service(servers_engine, engine, redis_client) -> Iterator[routing_pb2_grpc.RoutingServiceStub]:
    factory = make_session_factory(servers_engine)
    uow_factory = lambda: SqlAlchemyRoutingUnitOfWork(factory)  # noqa: E731
    servicer = routing_api.RoutingServicer(uow_factory, index_registry(uow_factory, redis_client, max_nearest_m=2000.0))
    with admin_channel(routing_api.registration(servicer)) as channel:
        yield routing_pb2_grpc.RoutingServiceStub(channel)
    outbox = routing_orm.outbox.table
    with engine.begin() as conn:
        conn.execute(sa.delete(routing_orm.routes).where(routing_orm.routes.c.hub_id == HUB))
        conn.execute(sa.delete(routing_orm.hub_maps).where(routing_orm.hub_maps.c.hub_id == HUB))
        conn.execute(sa.delete(outbox).where(outbox.c.key == HUB.encode()))
    for key in redis_client.scan_iter(f"routing:index:{HUB}:*"):
        redis_client.delete(key)


@pytest.fixture(scope="module")
def dispatch_service(servers_engine, engine) -> Iterator[dispatch_pb2_grpc.DispatchServiceStub]:
    factory = make_session_factory(servers_engine)
    # Attendance answers with nobody at work: dispatching refuses rather than guesses.
    servicer = dispatch_api.DispatchServicer(
        lambda: SqlAlchemyDispatchUnitOfWork(factory),
        FakeAttendance(),
        planner=FakeTripPlanner.placing_nothing(),
        forecaster=SeasonalNaiveForecaster(),
        travel=GreatCircleTravelModel(1.35, dict.fromkeys(VehicleType, 20.0)),
    )
    with admin_channel(dispatch_api.registration(servicer)) as channel:
        yield dispatch_pb2_grpc.DispatchServiceStub(channel)
    with engine.begin() as conn:
        for table in (dispatch_orm.riders, dispatch_orm.vehicles):
            conn.execute(sa.delete(table).where(sa.or_(table.c.hub_id == HUB, table.c.id.startswith(FUZZ))))
        conn.execute(sa.delete(dispatch_orm.plans).where(dispatch_orm.plans.c.hub_id == HUB))
        for table in (dispatch_orm.volume_days, dispatch_orm.volume_backtests):
            conn.execute(sa.delete(table).where(table.c.hub_id == HUB))


@pytest.fixture(scope="module")
def attendance_service(servers_engine, engine) -> Iterator[attendance_pb2_grpc.AttendanceServiceStub]:
    require_attendance_schema(engine)
    servicer = embedded_attendance_servicer(make_session_factory(servers_engine))
    with admin_channel(attendance_api.registration(servicer)) as channel:
        yield attendance_pb2_grpc.AttendanceServiceStub(channel)
    records = attendance_orm.attendance_records
    with engine.begin() as conn:
        delete_ours(conn, records, records.c.rider_id, records.c.rider_id, attendance_orm.outbox.table)


@pytest.fixture(scope="module")
def stubs(pickup_service, routing_service, dispatch_service, attendance_service) -> dict[str, Any]:
    return {
        pur_api.SERVICE_NAME: pickup_service,
        routing_api.SERVICE_NAME: routing_service,
        dispatch_api.SERVICE_NAME: dispatch_service,
        attendance_api.SERVICE_NAME: attendance_service,
    }


SERVICES = [
    pur_pb2.DESCRIPTOR.services_by_name["PickupService"],
    routing_pb2.DESCRIPTOR.services_by_name["RoutingService"],
    dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"],
    attendance_pb2.DESCRIPTOR.services_by_name["AttendanceService"],
]


# -- bad values -----------------------------------------------------------------------------------

ID_CHARS = string.ascii_letters + string.digits + "._:-"
CONTROL_CHARS = "\x00\x01\x08\x0b\x0c\r\x1b\x1f"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def oversized(limit: int, chars: str = "aé日\x00") -> st.SearchStrategy[str]:
    """Strings past `limit`: just past it, far past it, and so far that a status echoing them in
    full would exceed gRPC's header limit."""
    extras = st.sampled_from([1, 1_000, 100_000])
    return st.builds(lambda char, extra: char * (limit + extra), st.sampled_from(chars), extras)


def fuzz_ids() -> st.SearchStrategy[str]:
    """Valid ids in this module's namespace."""
    return st.text(ID_CHARS, min_size=1, max_size=64 - len(FUZZ) - 1).map(lambda tail: f"{FUZZ}-{tail}")


with_control_character = st.builds(
    lambda head, control, tail: head + control + tail,
    st.text(max_size=20),
    st.sampled_from(CONTROL_CHARS),
    st.text(max_size=20),
)
malformed_ids = st.one_of(
    st.builds(
        lambda head, odd, tail: head + odd + tail,
        st.text(ID_CHARS, max_size=20),
        st.characters(codec="utf-8", exclude_characters=ID_CHARS),
        st.text(ID_CHARS, max_size=20),
    ),
    st.sampled_from(["a\n", "a\r\n", "\x00", " a", "a b", "../a", "a\u202e", "ａ", "٣"]),
    oversized(64, chars="a1"),
)
required_ids = st.one_of(st.just(""), malformed_ids)


def bad_text(limit: int) -> st.SearchStrategy[str]:
    return st.one_of(oversized(limit), with_control_character)


not_dates = st.one_of(
    st.sampled_from(
        ["2026-02-30", "2026-13-01", "2026-00-10", "2025-02-29", "2026-04-31", "2026-01-32", "0000-01-01"]  # impossible
        + ["yesterday", "2026-1-1", "2026/01/01", "01-01-2026", "20260101", "2026-01-01T00:00:00", " 2026-01-01"]
        + ["2026-01-01\n", "२०२६-०१-०१", "+2026-01-01", "2026-W01-1"]
    ),
    st.text(min_size=1, max_size=30).filter(lambda text: not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, re.ASCII)),
    oversized(10),
)
required_dates = st.one_of(st.just(""), not_dates)
FAR_OFF_DATES = ["0001-01-01", "0001-01-02", "1900-03-01", "2199-12-31", "9999-12-30", "9999-12-31"]
any_dates = st.one_of(st.dates().map(date.isoformat), st.sampled_from(FAR_OFF_DATES), st.text(max_size=12))


def days_from_today(*offsets: int) -> list[str]:
    return [(TODAY + timedelta(days=offset)).isoformat() for offset in offsets]


def outside(low: float, high: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([math.nan, math.inf, -math.inf]),
        st.floats(min_value=high, exclude_min=True),
        st.floats(max_value=low, exclude_max=True),
    )


int32s = st.integers(INT32_MIN, INT32_MAX)
negative_int32s = st.integers(INT32_MIN, -1)


def outside_int32(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(INT32_MIN, low - 1), st.integers(high + 1, INT32_MAX))


def unknown_enum_numbers(enum_type: Any, *, unspecified_is_valid: bool) -> st.SearchStrategy[int]:
    """Numbers the enum does not define (and UNSPECIFIED where the field is required)."""
    valid = set(enum_type.values()) - (set() if unspecified_is_valid else {0})
    return st.one_of(st.sampled_from([0, -1, max(valid) + 1, 999]), int32s).filter(lambda n: n not in valid)


garbage_page_tokens = st.one_of(
    st.text(min_size=1, max_size=80),
    st.binary(min_size=1, max_size=60).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    st.sampled_from(["not-a-token!", "e30=", base64.urlsafe_b64encode(b'{"p": [], "f": 1}').decode()]),
    # Well-formed, but issued for other filters.
    st.dictionaries(st.sampled_from("aci"), st.text(max_size=30), max_size=2).map(
        lambda position: encode_page_token(position, ("other", "filters"))
    ),
)


def forged_page_tokens(keys: str, filters: object) -> st.SearchStrategy[str]:
    """Tokens as the service issues them for `filters`, around arbitrary positions."""
    times = ["2026-01-01T00:00:00+00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"]
    values = st.one_of(st.text(max_size=40), st.sampled_from(times))
    positions = st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))
    return positions.map(lambda position: encode_page_token(position, filters))


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


bad_timestamps = st.one_of(
    st.builds(Timestamp, seconds=st.sampled_from([253402300800, -62135596801, 2**62])),
    st.builds(Timestamp, seconds=st.just(1_700_000_000), nanos=st.sampled_from([-1, 1_000_000_000, INT32_MAX])),
    # Real instants, far from the record's day.
    st.sampled_from([stamp(datetime(2001, 1, 1, tzinfo=UTC)), stamp(datetime.now(UTC) + timedelta(days=5))]),
)


# -- requests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    """A request with one field changed; `invalid` when the contract refuses the value, and then
    the error must contain `mention` (None: any details)."""

    request: Message
    field: str
    invalid: bool
    mention: str | None

    def __repr__(self) -> str:
        text = str(self.request)
        shown = text if len(text) <= 500 else f"{text[:500]}... ({len(text)} characters)"
        return f"Generated({'invalid' if self.invalid else 'noisy'} {self.field}: {shown})"


def set_field(message: Message, path: str, value: Any) -> None:
    """Set a dotted path such as "requests[1].warehouse.location.lat". None clears the field and a
    list replaces a repeated field."""
    *parents, leaf = path.split(".")
    for part in parents:
        name, _, index = part.partition("[")
        message = getattr(message, name)
        if index:
            message = message[int(index.rstrip("]"))]
    if value is None:
        message.ClearField(leaf)
    elif isinstance(value, list):
        del getattr(message, leaf)[:]
        getattr(message, leaf).extend(value)
    elif isinstance(value, Message):
        getattr(message, leaf).CopyFrom(value)
    else:
        setattr(message, leaf, value)


@dataclass(frozen=True)
class Rpc:
    """How to call one RPC badly.

    `invalid` maps a field path to values the contract refuses: a strategy, whose error must name
    the field, or (strategy, text the error must contain or None). `noisy` maps a field path to
    arbitrary values; `outcomes` are the codes the RPC may answer those with.
    """

    base: Callable[[], Message]
    invalid: dict[str, Any]
    noisy: dict[str, st.SearchStrategy]
    outcomes: frozenset[grpc.StatusCode]

    def requests(self) -> st.SearchStrategy[Generated]:
        changes = []
        for path, values in self.invalid.items():
            field_name = path.rsplit(".", 1)[-1].partition("[")[0]
            values, mention = values if isinstance(values, tuple) else (values, field_name)
            changes.append(values.map(lambda value, p=path, m=mention: self._change(p, value, invalid=True, mention=m)))
        for path, values in self.noisy.items():
            changes.append(values.map(lambda value, p=path: self._change(p, value, invalid=False, mention=None)))
        return st.one_of(changes)

    def _change(self, path: str, value: Any, *, invalid: bool, mention: str | None) -> Generated:
        request = self.base()
        set_field(request, path, value)
        return Generated(request, path, invalid, mention)


def may_answer(*codes: grpc.StatusCode) -> frozenset[grpc.StatusCode]:
    """The codes besides refusing the input (INVALID_ARGUMENT) or the caller (PERMISSION_DENIED)."""
    return frozenset({Code.INVALID_ARGUMENT, Code.PERMISSION_DENIED, *codes})


LISTS = may_answer(Code.OK)
READS = may_answer(Code.OK, Code.NOT_FOUND)
CHANGES = may_answer(Code.OK, Code.NOT_FOUND, Code.FAILED_PRECONDITION)


def required(message: str) -> tuple[st.SearchStrategy[None], str]:
    """Clearing a required message field, and what the error says."""
    return st.none(), message


def location(lat: float = 12.97, lng: float = 77.59) -> common_pb2.LatLng:
    return common_pb2.LatLng(lat=lat, lng=lng)


# -- PickupService ---


def new_pickup(request_id: str = f"{FUZZ}-r1") -> pur_pb2.CreatePickupRequestRequest:
    warehouse = common_pb2.Warehouse(
        id="wh-1", name="Fuzz Traders", address="1 Test Road", pincode="560001", location=location()
    )
    return pur_pb2.CreatePickupRequestRequest(
        request_id=request_id,
        client_id=CLIENT,
        hub_id=HUB,
        warehouse=warehouse,
        pickup_date=TODAY.isoformat(),
        expected_packages=3,
        expected_weight_kg=1.5,
    )


def new_pickups() -> pur_pb2.BatchCreatePickupRequestsRequest:
    return pur_pb2.BatchCreatePickupRequestsRequest(requests=[new_pickup(f"{FUZZ}-b{i}") for i in range(3)])


INVALID_NEW_PICKUP = {
    "request_id": required_ids,
    "client_id": required_ids,
    "hub_id": malformed_ids,
    "warehouse": required("warehouse is required"),
    "warehouse.id": malformed_ids,
    "warehouse.name": bad_text(200),
    "warehouse.address": bad_text(500),
    "warehouse.pincode": st.one_of(
        st.sampled_from(["12", "1234567890123", "560001\n", "५६०००१", "#560001"]), with_control_character
    ),
    "warehouse.location": required("location is required"),
    "warehouse.location.lat": outside(-90.0, 90.0),
    "warehouse.location.lng": outside(-180.0, 180.0),
    "pickup_date": st.one_of(required_dates, st.sampled_from(days_from_today(-30, 400) + FAR_OFF_DATES)),
    "expected_packages": outside_int32(1, 100_000),
    "expected_weight_kg": outside(0.0, 100_000.0),
}
NOISY_NEW_PICKUP = {
    "request_id": fuzz_ids(),
    "hub_id": st.one_of(st.just(""), st.text(max_size=70)),
    "warehouse.id": st.text(max_size=70),
    "warehouse.name": st.text(max_size=250),
    "warehouse.address": st.text(max_size=600),
    "warehouse.pincode": st.text(max_size=14),
    "warehouse.location.lat": st.floats(),
    "warehouse.location.lng": st.floats(),
    "pickup_date": any_dates,
    "expected_packages": int32s,
    "expected_weight_kg": st.floats(),
}
CREATES = may_answer(Code.OK, Code.NOT_FOUND, Code.ALREADY_EXISTS)


def assign_route(pur_id: str = f"{FUZZ}-missing") -> pur_pb2.AssignPickupRouteRequest:
    return pur_pb2.AssignPickupRouteRequest(id=pur_id, route_id=f"{FUZZ}-r1", reason="seller on this lane")


INVALID_ASSIGNMENT = {
    "id": required_ids,
    "route_id": required_ids,
    "reason": st.one_of(st.sampled_from(["", " \t"]), bad_text(500)),
}
NOISY_ASSIGNMENT = {"id": st.text(max_size=70), "route_id": st.text(max_size=70), "reason": st.text(max_size=600)}

PICKUP_RPCS = {
    "CreatePickupRequest": Rpc(new_pickup, INVALID_NEW_PICKUP, NOISY_NEW_PICKUP, CREATES),
    "BatchCreatePickupRequests": Rpc(
        new_pickups,
        {"requests": st.sampled_from([[], [new_pickup()] * 1001])}
        | {f"requests[1].{path}": values for path, values in INVALID_NEW_PICKUP.items()},
        {f"requests[2].{path}": values for path, values in NOISY_NEW_PICKUP.items()},
        CREATES,
    ),
    "GetPickupRequest": Rpc(pur_pb2.GetPickupRequestRequest, {"id": required_ids}, {"id": st.text(max_size=70)}, READS),
    "ListPickupHistory": Rpc(
        pur_pb2.ListPickupHistoryRequest, {"id": required_ids}, {"id": st.text(max_size=70)}, READS
    ),
    "ListPickupRequests": Rpc(
        pur_pb2.ListPickupRequestsRequest,
        {
            "hub_id": malformed_ids,
            "route_id": malformed_ids,
            "client_id": malformed_ids,
            "status": unknown_enum_numbers(pur_pb2.PickupStatus, unspecified_is_valid=True),
            "pickup_date": not_dates,
            "page_size": negative_int32s,
            "page_token": garbage_page_tokens,
        },
        {
            "hub_id": st.text(max_size=70),
            "pickup_date": any_dates,
            "page_size": int32s,
            "page_token": forged_page_tokens("ci", ("", None, "", None, "")),
        },
        LISTS,
    ),
    "CancelPickupRequest": Rpc(
        lambda: pur_pb2.CancelPickupRequestRequest(id=f"{FUZZ}-missing", reason="closed"),
        {"id": required_ids, "reason": bad_text(500)},
        {"id": st.text(max_size=70), "reason": st.text(max_size=600)},
        CHANGES,
    ),
    "ListManualQueue": Rpc(
        lambda: pur_pb2.ListManualQueueRequest(hub_id=HUB),
        {
            "hub_id": required_ids,
            "hubless": (st.just(True), "hub_id must be empty when hubless is set"),
            "pickup_date": not_dates,
            "review": unknown_enum_numbers(pur_pb2.ReviewReason, unspecified_is_valid=True),
            "page_size": negative_int32s,
            "page_token": garbage_page_tokens,
        },
        {
            "pickup_date": any_dates,
            "review": st.integers(0, 3),
            "page_size": int32s,
            "page_token": forged_page_tokens("ci", (HUB, None, None)),
        },
        LISTS,
    ),
    "AssignPickupRoute": Rpc(assign_route, INVALID_ASSIGNMENT, NOISY_ASSIGNMENT, CHANGES),
    "BatchAssignPickupRoutes": Rpc(
        lambda: pur_pb2.BatchAssignPickupRoutesRequest(assignments=[assign_route(f"{FUZZ}-m{i}") for i in range(3)]),
        {"assignments": st.sampled_from([[], [assign_route()] * 1001])}
        | {f"assignments[1].{path}": values for path, values in INVALID_ASSIGNMENT.items()},
        {f"assignments[2].{path}": values for path, values in NOISY_ASSIGNMENT.items()},
        CHANGES,
    ),
    "WatchPickupRequests": Rpc(
        lambda: pur_pb2.WatchPickupRequestsRequest(hub_id=HUB),
        {
            "hub_id": required_ids,
            "statuses": st.one_of(
                st.lists(
                    unknown_enum_numbers(pur_pb2.PickupStatus, unspecified_is_valid=False), min_size=1, max_size=3
                ),
                st.sampled_from([[999] * 100_000, [1] * 7]),  # more than one per status
            ),
        },
        {"statuses": st.lists(st.integers(1, 6), max_size=6)},
        LISTS,
    ),
}


# -- RoutingService ---


NOT_GEOJSON = ["", "not json", "{}", "[]", "null", "[" * 100_000 + "]" * 100_000, "x" * (1024 * 1024 + 1)]
NOT_ROUTE_GEOMETRIES = [
    json.dumps(geometry)
    for geometry in [
        {"type": "Point", "coordinates": [77.5, 12.9]},
        {"type": "Polygon"},
        {"type": "Polygon", "coordinates": []},
        {"type": "MultiPolygon", "coordinates": []},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},  # too few positions
        {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.011]]]},  # not closed
        {
            "type": "Polygon",
            "coordinates": [[[77.5, 12.9], [77.51, 12.91], [77.51, 12.9], [77.5, 12.91], [77.5, 12.9]]],
        },
        {"type": "Polygon", "coordinates": [[[0, 0]] * 100_001]},
        {"type": "Polygon", "coordinates": [[["0", "0"], [1, 0], [1, 1], ["0", "0"]]]},
        {"type": "Polygon", "coordinates": [[[True, False], [1, 0], [1, 1], [True, False]]]},
        {"type": "Feature", "geometry": None},
        square(size=2.0),  # larger than any route
        square(lng=179.999),
        square(lat=89.999),
    ]
] + [
    f'{{"type": "Polygon", "coordinates": [[[{number}, 0], [1, 0], [1, 1], [{number}, 0]]]}}'
    for number in ["NaN", "Infinity", "1e400", "1" + "0" * 400]
]


def upsert_route() -> routing_pb2.UpsertRouteRequest:
    route = routing_pb2.Route(id=f"{FUZZ}-r1", hub_id=HUB, name="Fuzz route", geometry_geojson=json.dumps(square()))
    return routing_pb2.UpsertRouteRequest(route=route)


def feature(route_id: Any = f"{FUZZ}-i1", geometry: Any = None, **properties: Any) -> dict:
    geometry = square(lng=-29.9) if geometry is None else geometry
    return {"type": "Feature", "properties": {"id": route_id, **properties}, "geometry": geometry}


def collection(*features: Any) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def with_geometry_text(geometry: str) -> str:
    """A collection of one feature whose geometry is `geometry`, spliced in as it is."""
    return collection(feature(geometry={})).replace('"geometry": {}', f'"geometry": {geometry}')


def import_routes() -> routing_pb2.ImportRoutesRequest:
    both = collection(feature(), feature(f"{FUZZ}-i2", square(lng=-29.8)))
    return routing_pb2.ImportRoutesRequest(hub_id=HUB, feature_collection_geojson=both)


def feature_with(**properties: st.SearchStrategy) -> st.SearchStrategy[str]:
    [(name, values)] = properties.items()
    return values.map(lambda value: collection(feature(**{name: value})))


NOT_ROUTE_COLLECTIONS = st.one_of(
    st.sampled_from(NOT_GEOJSON[:5]),
    st.sampled_from(
        [
            json.dumps(square()),
            json.dumps({"type": "FeatureCollection"}),
            json.dumps({"type": "FeatureCollection", "features": {}}),
            collection(*[feature(f"{FUZZ}-x{i}") for i in range(20_001)]),
            collection(feature(), feature()),  # the same id twice
            collection({"type": "Feature"}),
            collection("feature"),
            collection({"type": "Feature", "properties": [], "geometry": square()}),
        ]
    ),
    st.sampled_from(NOT_ROUTE_GEOMETRIES).map(with_geometry_text),
    st.one_of(st.none(), st.integers(), oversized(64), with_control_character, malformed_ids).map(
        lambda route_id: collection(feature(route_id))
    ),
    feature_with(name=st.one_of(oversized(200), with_control_character, st.integers())),
    feature_with(default_rider_id=st.one_of(malformed_ids, st.integers(), st.just(["r"]))),
    feature_with(
        priority=st.one_of(st.text(), st.floats(), st.integers(min_value=2**31), st.just(True), oversized(100))
    ),
    feature_with(active=st.one_of(st.text(min_size=1), st.integers(), oversized(100))),
)


def lookup() -> routing_pb2.LookupRouteRequest:
    return routing_pb2.LookupRouteRequest(location=location(), hub_id=HUB)


INVALID_LOOKUP = {
    "location": required("location is required"),
    "location.lat": (outside(-90.0, 90.0), "location"),
    "location.lng": (outside(-180.0, 180.0), "location"),
    "hub_id": malformed_ids,
}

ROUTING_RPCS = {
    "UpsertRoute": Rpc(
        upsert_route,
        {
            "route": required("route is required"),
            "route.id": required_ids,
            "route.hub_id": required_ids,
            "route.name": bad_text(200),
            "route.default_rider_id": malformed_ids,
            "route.geometry_geojson": (st.sampled_from(NOT_GEOJSON + NOT_ROUTE_GEOMETRIES), None),
        },
        {
            "route.id": fuzz_ids(),
            "route.name": st.text(max_size=250),
            "route.priority": int32s,
            "route.default_rider_id": st.text(max_size=70),
        },
        may_answer(Code.OK, Code.ALREADY_EXISTS),
    ),
    "ImportRoutes": Rpc(
        import_routes,
        {"hub_id": required_ids, "feature_collection_geojson": (NOT_ROUTE_COLLECTIONS, None)},
        {
            "replace_existing": st.booleans(),
            "feature_collection_geojson": st.builds(
                lambda name, priority: collection(feature(name=name, priority=priority)), st.text(max_size=250), int32s
            ),
        },
        may_answer(Code.OK, Code.ALREADY_EXISTS),
    ),
    "GetRoute": Rpc(routing_pb2.GetRouteRequest, {"id": required_ids}, {"id": st.text(max_size=70)}, READS),
    "ListRoutes": Rpc(
        lambda: routing_pb2.ListRoutesRequest(hub_id=HUB),
        {"hub_id": required_ids, "page_size": negative_int32s, "page_token": garbage_page_tokens},
        {"hub_id": st.text(max_size=70), "page_size": int32s, "page_token": forged_page_tokens("a", (HUB, False))},
        READS,
    ),
    # Noise names only this module's routes: a valid id of another would delete it.
    "DeleteRoute": Rpc(routing_pb2.DeleteRouteRequest, {"id": required_ids}, {"id": fuzz_ids()}, READS),
    "LookupRoute": Rpc(
        lookup,
        INVALID_LOOKUP,
        {"location.lat": st.floats(-90, 90), "location.lng": st.floats(-180, 180), "hub_id": st.text(max_size=70)},
        READS,
    ),
    "BatchLookupRoutes": Rpc(
        lambda: routing_pb2.BatchLookupRoutesRequest(lookups=[lookup(), lookup(), lookup()]),
        {"lookups": st.sampled_from([[], [lookup()] * 10_001])}
        | {f"lookups[2].{path}": values for path, values in INVALID_LOOKUP.items()},
        {"lookups[1].hub_id": st.text(max_size=70), "lookups[0].location.lat": st.floats(-90, 90)},
        READS,
    ),
    "GetRouteMap": Rpc(
        lambda: routing_pb2.GetRouteMapRequest(hub_id=HUB),
        {"hub_id": required_ids},
        {"hub_id": st.text(max_size=70)},
        READS,
    ),
}


# -- DispatchService ---

DAY = TODAY.isoformat()
DISPATCH = f"{FUZZ}-missing"
some_pur_ids = st.lists(st.text(max_size=70), max_size=3)


def bad_pur_ids(*, empty_is_valid: bool) -> st.SearchStrategy[list[str]]:
    lists = [required_ids.map(lambda bad: ["pur-1", bad]), st.just(["pur-1"] * 1001)]
    return st.one_of(lists if empty_is_valid else [*lists, st.just([])])


def upsert_rider() -> dispatch_pb2.UpsertRiderRequest:
    rider = dispatch_pb2.Rider(id=RIDER, hub_id=HUB, name="Fuzz Rider", phone="+91 98450 00000")
    return dispatch_pb2.UpsertRiderRequest(rider=rider)


def upsert_vehicle() -> dispatch_pb2.UpsertVehicleRequest:
    vehicle = dispatch_pb2.Vehicle(
        id=f"{FUZZ}-bike",
        hub_id=HUB,
        type=dispatch_pb2.VEHICLE_TYPE_BIKE,
        capacity_packages=10,
        capacity_kg=20.0,
        registration="KA01AB1234",
    )
    return dispatch_pb2.UpsertVehicleRequest(vehicle=vehicle)


def upsert_hub() -> dispatch_pb2.UpsertHubRequest:
    hub = dispatch_pb2.Hub(id=HUB, name="Fuzz Depot", location=location(), timezone="Asia/Kolkata")
    return dispatch_pb2.UpsertHubRequest(hub=hub)


def trip_changes(*changes: dict[str, Any]) -> list[dispatch_pb2.TripChange]:
    return [dispatch_pb2.TripChange(**change) for change in changes]


bad_trip_changes = st.one_of(
    required_ids.map(lambda trip_id: trip_changes({"trip_id": trip_id, "drop": True})),
    malformed_ids.map(lambda rider_id: trip_changes({"trip_id": "t1", "rider_id": rider_id})),
    malformed_ids.map(lambda vehicle_id: trip_changes({"trip_id": "t1", "vehicle_id": vehicle_id})),
    st.just(trip_changes({"trip_id": "t1", "drop": True, "rider_id": RIDER})),
    st.just(trip_changes({"trip_id": "t1", "drop": True}, {"trip_id": "t1", "vehicle_id": "van"})),
    st.just(trip_changes(*[{"trip_id": f"t{i}", "drop": True} for i in range(1001)])),
)


def volume_rows() -> list[dispatch_pb2.VolumeHistoryRow]:
    day = (TODAY - timedelta(days=1)).isoformat()
    return [dispatch_pb2.VolumeHistoryRow(date=day, route_id="R1", pickups=5, packages=9, weight_kg=7.5)]


bad_kilograms = st.one_of(st.floats(max_value=-1e-9, allow_nan=False), st.sampled_from([math.nan, math.inf]))
bad_events = st.one_of(
    st.just([dispatch_pb2.VolumeEvent(date=DAY, multiplier=2.0)] * 101),
    st.one_of(not_dates, st.just("")).map(lambda day: [dispatch_pb2.VolumeEvent(date=day, multiplier=2.0)]),
    st.one_of(outside(0.0, 100.0), st.just(0.0)).map(lambda m: [dispatch_pb2.VolumeEvent(date=DAY, multiplier=m)]),
)


def create_dispatch() -> dispatch_pb2.CreateDispatchRequest:
    return dispatch_pb2.CreateDispatchRequest(request_id=f"{FUZZ}-d1", hub_id=HUB, route_id="R1", pickup_date=DAY)


DISPATCH_RPCS = {
    "UpsertRider": Rpc(
        upsert_rider,
        {
            "rider": required("rider is required"),
            "rider.id": required_ids,
            "rider.hub_id": required_ids,
            "rider.name": bad_text(200),
            "rider.phone": st.one_of(
                st.sampled_from(["abc", "12", "+", "9" * 25, "98450 00000\n", "+91 98450 ००००"]), with_control_character
            ),
        },
        {"rider.id": fuzz_ids(), "rider.name": st.text(max_size=250), "rider.phone": st.text(max_size=25)},
        LISTS,
    ),
    "UpsertVehicle": Rpc(
        upsert_vehicle,
        {
            "vehicle": required("vehicle is required"),
            "vehicle.id": required_ids,
            "vehicle.hub_id": required_ids,
            "vehicle.type": unknown_enum_numbers(dispatch_pb2.VehicleType, unspecified_is_valid=False),
            "vehicle.capacity_packages": outside_int32(1, 100_000),
            "vehicle.capacity_kg": st.one_of(outside(0.0, 100_000.0), st.just(0.0)),
            "vehicle.registration": bad_text(32),
        },
        {
            "vehicle.id": fuzz_ids(),
            "vehicle.capacity_kg": st.floats(),
            "vehicle.capacity_packages": int32s,
            "vehicle.registration": st.text(max_size=40),
        },
        LISTS,
    ),
    "UpsertHub": Rpc(
        upsert_hub,
        {
            "hub": required("hub is required"),
            "hub.id": required_ids,
            "hub.name": bad_text(200),
            "hub.location": required("hub.location is required"),
            "hub.location.lat": outside(-90.0, 90.0),
            "hub.location.lng": outside(-180.0, 180.0),
            "hub.timezone": st.one_of(
                st.just(""),
                st.sampled_from(["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Asia/Kolkata\n", "utc "]),
                oversized(64),
                with_control_character,
            ),
        },
        {"hub.name": st.text(max_size=250), "hub.timezone": st.text(max_size=70), "hub.location.lat": st.floats()},
        LISTS,
    ),
    "ListOpenPickupsByRoute": Rpc(
        lambda: dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=HUB, pickup_date=DAY),
        {
            "hub_id": required_ids,
            "pickup_date": required_dates,
            "route_id": malformed_ids,
            "pickups_per_route_limit": outside_int32(0, 100_000),
        },
        {"pickup_date": any_dates, "route_id": st.text(max_size=70), "pickups_per_route_limit": int32s},
        LISTS,
    ),
    "WatchOpenPickupsByRoute": Rpc(
        lambda: dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=HUB, pickup_date=DAY),
        {"hub_id": required_ids, "pickup_date": required_dates},
        {"hub_id": st.text(max_size=70), "pickup_date": any_dates},
        LISTS,
    ),
    "RecommendDispatch": Rpc(
        lambda: dispatch_pb2.RecommendDispatchRequest(hub_id=HUB, route_id="R1", pickup_date=DAY),
        {
            "hub_id": required_ids,
            "route_id": required_ids,
            "pickup_date": required_dates,
            "limit": outside_int32(0, 50),
        },
        {"pickup_date": any_dates, "limit": int32s, "route_id": st.text(max_size=70)},
        READS,
    ),
    "CreateDispatch": Rpc(
        create_dispatch,
        {
            "request_id": required_ids,
            "hub_id": required_ids,
            "route_id": required_ids,
            "pickup_date": required_dates,
            "rider_id": malformed_ids,
            "vehicle_id": malformed_ids,
            "pur_ids": bad_pur_ids(empty_is_valid=True),
        },
        {"pickup_date": any_dates, "rider_id": st.text(max_size=70), "pur_ids": some_pur_ids},
        may_answer(Code.OK, Code.NOT_FOUND, Code.ALREADY_EXISTS, Code.FAILED_PRECONDITION),
    ),
    "GetDispatch": Rpc(dispatch_pb2.GetDispatchRequest, {"id": required_ids}, {"id": st.text(max_size=70)}, READS),
    "ListDispatches": Rpc(
        lambda: dispatch_pb2.ListDispatchesRequest(hub_id=HUB),
        {
            "hub_id": required_ids,
            "route_id": malformed_ids,
            "rider_id": malformed_ids,
            "pickup_date": not_dates,
            "status": unknown_enum_numbers(dispatch_pb2.DispatchStatus, unspecified_is_valid=True),
            "page_size": negative_int32s,
            "page_token": garbage_page_tokens,
        },
        {
            "pickup_date": any_dates,
            "page_size": int32s,
            "page_token": forged_page_tokens("ci", (HUB, "", None, "", None)),
        },
        LISTS,
    ),
    "AddPickups": Rpc(
        lambda: dispatch_pb2.AddPickupsRequest(dispatch_id=DISPATCH, pur_ids=["pur-1"]),
        {"dispatch_id": required_ids, "pur_ids": bad_pur_ids(empty_is_valid=False)},
        {"pur_ids": some_pur_ids},
        CHANGES,
    ),
    "RemovePickups": Rpc(
        lambda: dispatch_pb2.RemovePickupsRequest(dispatch_id=DISPATCH, pur_ids=["pur-1"], reason="wrong route"),
        {"dispatch_id": required_ids, "pur_ids": bad_pur_ids(empty_is_valid=False), "reason": bad_text(500)},
        {"pur_ids": some_pur_ids, "reason": st.text(max_size=600)},
        CHANGES,
    ),
    "StartDispatch": Rpc(
        dispatch_pb2.StartDispatchRequest, {"id": required_ids}, {"id": st.text(max_size=70)}, CHANGES
    ),
    "CompleteDispatch": Rpc(
        dispatch_pb2.CompleteDispatchRequest, {"id": required_ids}, {"id": st.text(max_size=70)}, CHANGES
    ),
    "CancelDispatch": Rpc(
        lambda: dispatch_pb2.CancelDispatchRequest(id=DISPATCH, reason="rain"),
        {"id": required_ids, "reason": bad_text(500)},
        {"id": st.text(max_size=70), "reason": st.text(max_size=600)},
        CHANGES,
    ),
    "ReassignDispatch": Rpc(
        lambda: dispatch_pb2.ReassignDispatchRequest(id=DISPATCH, rider_id=RIDER, reason="rider ill"),
        {
            "id": required_ids,
            "rider_id": malformed_ids,
            "vehicle_id": malformed_ids,
            "reason": st.one_of(st.sampled_from(["", " \t"]), bad_text(500)),
        },
        {
            "id": st.text(max_size=70),
            "rider_id": st.text(max_size=70),
            "vehicle_id": st.text(max_size=70),
            "reason": st.text(max_size=600),
        },
        CHANGES,
    ),
    "PlanDispatches": Rpc(
        lambda: dispatch_pb2.PlanDispatchesRequest(hub_id=HUB, pickup_date=DAY),
        {
            "hub_id": required_ids,
            "pickup_date": required_dates,
            "route_ids": st.one_of(st.lists(malformed_ids, min_size=1, max_size=3), st.just(["R1"] * 1001)),
        },
        {"pickup_date": any_dates, "route_ids": st.lists(st.text(max_size=70), max_size=3)},
        CHANGES,
    ),
    "CommitDispatchPlan": Rpc(
        lambda: dispatch_pb2.CommitDispatchPlanRequest(plan_id=f"{FUZZ}-plan"),
        {"plan_id": required_ids, "changes": bad_trip_changes},
        {"plan_id": st.text(max_size=70), "only_valid_trips": st.booleans()},
        CHANGES,
    ),
    "ImportVolumeHistory": Rpc(
        lambda: dispatch_pb2.ImportVolumeHistoryRequest(hub_id=HUB, rows=volume_rows()),
        {
            "hub_id": required_ids,
            "rows": st.sampled_from([[], volume_rows() * 10_001]),
            "rows[0].date": st.one_of(required_dates, st.just("2999-01-01")),
            "rows[0].route_id": required_ids,
            "rows[0].pickups": negative_int32s,
            "rows[0].packages": negative_int32s,
            "rows[0].weight_kg": bad_kilograms,
        },
        {
            "rows[0].date": any_dates,
            "rows[0].pickups": int32s,
            "rows[0].weight_kg": st.floats(),
            "validate_only": st.booleans(),
        },
        READS,
    ),
    "ForecastPickupVolume": Rpc(
        lambda: dispatch_pb2.ForecastPickupVolumeRequest(hub_id=HUB, route_id="R1", start_date=DAY, days=7),
        {
            "hub_id": required_ids,
            "route_id": malformed_ids,
            "start_date": required_dates,
            "days": st.one_of(st.just(0), outside_int32(1, 28)),
            "events": (bad_events, "events"),
        },
        {"start_date": any_dates, "days": int32s, "route_id": st.text(max_size=70)},
        CHANGES,
    ),
    "ForecastFleetNeed": Rpc(
        lambda: dispatch_pb2.ForecastFleetNeedRequest(hub_id=HUB, date=DAY),
        {"hub_id": required_ids, "date": required_dates, "events": (bad_events, "events")},
        {"date": any_dates, "hub_id": st.text(max_size=70)},
        CHANGES,
    ),
    "MovePickups": Rpc(
        lambda: dispatch_pb2.MovePickupsRequest(
            from_dispatch_id=DISPATCH, to_dispatch_id=f"{DISPATCH}-2", pur_ids=["pur-1"], reason="balance"
        ),
        {
            "from_dispatch_id": required_ids,
            "to_dispatch_id": st.one_of(required_ids, st.just(DISPATCH)),
            "pur_ids": bad_pur_ids(empty_is_valid=False),
            "reason": st.one_of(st.just(""), bad_text(500)),
        },
        {"to_dispatch_id": st.text(max_size=70), "pur_ids": some_pur_ids, "reason": st.text(max_size=600)},
        CHANGES,
    ),
}


# -- AttendanceService ---


def record_attendance() -> attendance_pb2.RecordAttendanceRequest:
    check_in = datetime(TODAY.year, TODAY.month, TODAY.day, 5, 30, tzinfo=UTC)
    return attendance_pb2.RecordAttendanceRequest(
        rider_id=RIDER,
        hub_id=HUB,
        date=DAY,
        status=attendance_pb2.ATTENDANCE_STATUS_PRESENT,
        check_in_time=stamp(check_in),
        shift="MORNING",
    )


ATTENDANCE_RPCS = {
    "GetAttendance": Rpc(
        lambda: attendance_pb2.GetAttendanceRequest(rider_id=RIDER, date=DAY),
        {"rider_id": required_ids, "date": required_dates},
        {"rider_id": st.text(max_size=70), "date": any_dates},
        READS,
    ),
    "ListAvailableRiders": Rpc(
        lambda: attendance_pb2.ListAvailableRidersRequest(hub_id=HUB, date=DAY),
        {"hub_id": required_ids, "date": required_dates},
        {"hub_id": st.text(max_size=70), "date": any_dates},
        LISTS,
    ),
    "RecordAttendance": Rpc(
        record_attendance,
        {
            "rider_id": required_ids,
            "hub_id": required_ids,
            "date": st.one_of(required_dates, st.sampled_from(days_from_today(-400, 400) + FAR_OFF_DATES)),
            "status": unknown_enum_numbers(attendance_pb2.AttendanceStatus, unspecified_is_valid=False),
            "check_in_time": bad_timestamps,
            # A check-out makes a PRESENT record invalid.
            "check_out_time": st.one_of(bad_timestamps, st.just(stamp(datetime.now(UTC)))),
            "shift": st.one_of(oversized(64), with_control_character),
            # Alone (without shift_end) or not a real moment.
            "shift_start": st.one_of(bad_timestamps, st.just(stamp(datetime.now(UTC)))),
            "shift_end": bad_timestamps,
        },
        {"rider_id": fuzz_ids(), "date": any_dates, "status": int32s, "shift": st.text(max_size=70)},
        LISTS,
    ),
}

RPCS: dict[str, Rpc] = {
    f"{service}/{method}": rpc
    for service, rpcs in [
        (pur_api.SERVICE_NAME, PICKUP_RPCS),
        (routing_api.SERVICE_NAME, ROUTING_RPCS),
        (dispatch_api.SERVICE_NAME, DISPATCH_RPCS),
        (attendance_api.SERVICE_NAME, ATTENDANCE_RPCS),
    ]
    for method, rpc in rpcs.items()
}


# -- the tests ------------------------------------------------------------------------------------


def call(stub: Any, method: str, request: Message, *, streams: bool) -> tuple[grpc.StatusCode, str]:
    if not streams:
        try:
            getattr(stub, method)(request, timeout=30)
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
        return Code.OK, ""
    stream = getattr(stub, method)(request, timeout=30)
    ended = threading.Event()
    stream.add_done_callback(lambda _: ended.set())
    if not ended.wait(WATCH_ACCEPTED_AFTER_SECONDS):
        stream.cancel()
        return Code.OK, ""
    return stream.code(), stream.details() or ""


def test_every_rpc_has_bad_requests():
    served = {f"{service.full_name}/{method.name}" for service in SERVICES for method in service.methods}
    assert sorted(served - RPCS.keys()) == [], "RPCs nobody sends bad requests to"
    assert sorted(RPCS.keys() - served) == [], "bad requests for RPCs nobody serves"


@pytest.mark.parametrize("full_method", sorted(RPCS))
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_bad_requests_get_a_well_formed_status_and_write_nothing(full_method, stubs, write_log, data):
    service_name, method = full_method.split("/")
    streams = next(s for s in SERVICES if s.full_name == service_name).methods_by_name[method].server_streaming
    rpc = RPCS[full_method]
    generated = data.draw(rpc.requests(), label="request")

    rows_before = write_log.rows
    code, details = call(stubs[service_name], method, generated.request, streams=streams)

    said = f"{generated.field}: {code.name} {details[:300]!r}"
    if generated.invalid:
        assert code is Code.INVALID_ARGUMENT, said
        assert generated.mention is None or generated.mention in details, f"the error does not name the field. {said}"
    else:
        assert code in rpc.outcomes, said
    assert code is Code.OK or details.strip(), f"an error without details. {said}"
    if code is Code.INVALID_ARGUMENT:
        assert write_log.rows == rows_before, f"refused, yet rows were written. {said}"
