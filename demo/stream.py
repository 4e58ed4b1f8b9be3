"""Streams a day of pickup requests into pur_svc and follows each until it is routed.

A watcher thread holds `WatchPickupRequests` open for the hub from before the first create and
records when each of this run's PURs becomes ROUTED or UNROUTABLE. The watch is best effort (a
slow or reconnecting watcher may miss updates), so whatever it has not seen is read back with
`ListPickupRequests` when progress stalls and at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc
from tqdm import tqdm

from demo.workload import PlannedPickup
from firstmile.pur.v1 import pur_pb2
from firstmile_client.channels import ToolError, explain
from firstmile_client.stubs import MeshClients

SETTLED = (pur_pb2.PICKUP_STATUS_ROUTED, pur_pb2.PICKUP_STATUS_UNROUTABLE)
HUB_WAIT_S = 30.0
CREATE_TIMEOUT_S = 30.0
LIST_PAGE_SIZE = 1000
STALL_S = 2.0
WATCH_WARMUP_S = 0.5


@dataclass(frozen=True)
class Observation:
    """The routing outcome of one PUR and when this client learned it."""

    pickup: pur_pb2.PickupRequest
    seen_at: float
    """time.monotonic() when the update arrived (or when a listing found it)."""
    via_watch: bool


@dataclass
class DayResult:
    """What happened to the day's pickups, with the client-side clock readings."""

    planned: Sequence[PlannedPickup]
    rate: float
    """The requested create rate, PURs per second."""
    created_at: dict[str, float] = field(default_factory=dict)
    """request_id -> time.monotonic() when the BatchCreatePickupRequests call holding it returned."""
    observations: dict[str, Observation] = field(default_factory=dict)
    first_sent: float = 0.0
    creates_done: float = 0.0
    finished: float = 0.0
    hub_wait_s: float = 0.0
    watch_interruptions: int = 0

    @property
    def pending(self) -> list[str]:
        return [p.request_id for p in self.planned if p.request_id not in self.observations]


class RoutingWatch:
    """Follows WatchPickupRequests for a hub in a daemon thread; reconnects when the stream ends."""

    def __init__(self, clients: MeshClients, hub_id: str, request_id_prefix: str) -> None:
        self._clients = clients
        self._request = pur_pb2.WatchPickupRequestsRequest(hub_id=hub_id, statuses=list(SETTLED))
        self._prefix = request_id_prefix
        self._seen: dict[str, Observation] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._call: grpc.Future | None = None
        self._thread = threading.Thread(target=self._run, name="routing-watch", daemon=True)
        self.interruptions = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        call = self._call
        if call is not None:
            call.cancel()
        self._thread.join(timeout=5)

    def seen(self) -> dict[str, Observation]:
        with self._lock:
            return dict(self._seen)

    def seen_count(self) -> int:
        with self._lock:
            return len(self._seen)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._call = self._clients.pur.WatchPickupRequests(self._request)
            try:
                for update in self._call:
                    self._record(update.pickup_request)
            except grpc.RpcError:
                pass
            if self._stopping.is_set():
                return
            self.interruptions += 1
            self._stopping.wait(0.5)

    def _record(self, pickup: pur_pb2.PickupRequest) -> None:
        if pickup.status not in SETTLED or not pickup.request_id.startswith(self._prefix):
            return
        now = time.monotonic()
        with self._lock:
            self._seen.setdefault(pickup.request_id, Observation(pickup, now, via_watch=True))


def stream_day(
    clients: MeshClients,
    hub_id: str,
    pickups: Sequence[PlannedPickup],
    *,
    run_id: str,
    pickup_date: str,
    rate: float,
    batch_size: int,
    settle_timeout_s: float,
) -> DayResult:
    """Creates the pickups in batches at `rate` per second and waits until all are routed (or the
    timeout passes), showing progress."""
    watch = RoutingWatch(clients, hub_id, run_id)
    watch.start()
    time.sleep(WATCH_WARMUP_S)
    day = DayStream(clients, hub_id, pickup_date, watch, DayResult(planned=pickups, rate=rate))
    try:
        day.create_all(rate, batch_size)
        day.wait_until_settled(settle_timeout_s)
    finally:
        watch.stop()
        day.close()
    day.result.watch_interruptions = watch.interruptions
    return day.result


class DayStream:
    """The create loop and the wait for routing, with their progress bars."""

    def __init__(
        self, clients: MeshClients, hub_id: str, pickup_date: str, watch: RoutingWatch, result: DayResult
    ) -> None:
        self.clients = clients
        self.hub_id = hub_id
        self.pickup_date = pickup_date
        self.watch = watch
        self.result = result
        total = len(result.planned)
        self.created_bar = tqdm(total=total, desc="created", unit="PUR", position=0, dynamic_ncols=True)
        self.routed_bar = tqdm(total=total, desc="routed ", unit="PUR", position=1, dynamic_ncols=True)

    def close(self) -> None:
        self.created_bar.close()
        self.routed_bar.close()

    # -- creating

    def create_all(self, rate: float, batch_size: int) -> None:
        """Sends the batches on a fixed schedule (batch k at k * batch_size / rate seconds)."""
        schedule_start: float | None = None
        for number, batch in enumerate(_chunks(self.result.planned, batch_size)):
            request = pur_pb2.BatchCreatePickupRequestsRequest(
                requests=[pickup.request(self.hub_id, self.pickup_date) for pickup in batch]
            )
            if schedule_start is None:
                schedule_start = self.result.first_sent = self._create_first_batch(request)
            else:
                self._sleep_until(schedule_start + number * batch_size / rate)
                self._create_batch(request)
            returned = time.monotonic()
            for pickup in batch:
                self.result.created_at[pickup.request_id] = returned
            self.created_bar.update(len(batch))
            self._show_settled(self.watch.seen_count())
        self.result.creates_done = time.monotonic()

    def _create_first_batch(self, request: pur_pb2.BatchCreatePickupRequestsRequest) -> float:
        """Sends the first batch, retrying while pur_svc does not know the hub yet (it learns hubs
        from routing.map-changes.v1 a moment after an import). Returns when the call that
        succeeded was sent."""
        waited_from = time.monotonic()
        told = False
        while True:
            sent = time.monotonic()
            try:
                self.clients.pur.BatchCreatePickupRequests(request, timeout=CREATE_TIMEOUT_S)
                self.result.hub_wait_s = sent - waited_from
                return sent
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise explain(exc, self.clients.pur_endpoint, "BatchCreatePickupRequests") from None
                if time.monotonic() - waited_from > HUB_WAIT_S:
                    raise ToolError(
                        f"pur_svc still does not know the hub after {HUB_WAIT_S:.0f} s ({exc.details()}). It learns "
                        "hubs from routing.map-changes.v1: see .cache/logs/routing_svc.log and .cache/logs/pur_svc.log"
                    ) from None
                if not told:
                    tqdm.write("waiting for pur_svc to learn the hub's map (from routing.map-changes.v1) ...")
                    told = True
                time.sleep(0.25)

    def _create_batch(self, request: pur_pb2.BatchCreatePickupRequestsRequest) -> None:
        try:
            self.clients.pur.BatchCreatePickupRequests(request, timeout=CREATE_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise explain(exc, self.clients.pur_endpoint, "BatchCreatePickupRequests") from None

    # -- waiting for routing

    def wait_until_settled(self, timeout_s: float) -> None:
        """Waits for the watch to report every PUR; when it stalls, reads the missing ones back."""
        result = self.result
        deadline = time.monotonic() + timeout_s
        progress_at, progress = time.monotonic(), -1
        while True:
            result.observations.update(self.watch.seen())
            settled = len(result.observations)
            self._show_settled(settled)
            now = time.monotonic()
            if settled == len(result.planned) or now > deadline:
                break
            if settled != progress:
                progress_at, progress = now, settled
            elif now - progress_at > STALL_S:
                self._read_back_missing()
                progress_at = time.monotonic()
            time.sleep(0.05)
        if result.pending:
            self._read_back_missing()
            self._show_settled(len(result.observations))
        result.finished = max((o.seen_at for o in result.observations.values()), default=time.monotonic())

    def _read_back_missing(self) -> None:
        """Pages ListPickupRequests for the hub's day and records this run's settled PURs that the
        watch missed."""
        missing = set(self.result.pending)
        now = time.monotonic()
        for pickup in self._list_day():
            if pickup.request_id in missing and pickup.status in SETTLED:
                self.result.observations[pickup.request_id] = Observation(pickup, now, via_watch=False)

    def _list_day(self) -> Iterator[pur_pb2.PickupRequest]:
        token = ""
        while True:
            request = pur_pb2.ListPickupRequestsRequest(
                hub_id=self.hub_id, pickup_date=self.pickup_date, page_size=LIST_PAGE_SIZE, page_token=token
            )
            try:
                page = self.clients.pur.ListPickupRequests(request, timeout=CREATE_TIMEOUT_S)
            except grpc.RpcError as exc:
                raise explain(exc, self.clients.pur_endpoint, "ListPickupRequests") from None
            yield from page.pickup_requests
            token = page.next_page_token
            if not token:
                return

    # -- progress

    def _sleep_until(self, moment: float) -> None:
        while (left := moment - time.monotonic()) > 0:
            self._show_settled(self.watch.seen_count())
            time.sleep(min(left, 0.05))

    def _show_settled(self, settled: int) -> None:
        if settled > self.routed_bar.n:
            self.routed_bar.update(settled - self.routed_bar.n)


def _chunks(items: Sequence[PlannedPickup], size: int) -> Iterator[Sequence[PlannedPickup]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
