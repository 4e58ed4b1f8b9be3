"""Pickup requests to create and the client that creates them through faults.

A create is retried with the SAME request_id until it is answered: pur_svc is idempotent on it,
so a retry after a lost answer returns the PUR the first attempt created. A create counts as
acknowledged only when a response reached the client.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
import numpy as np
import shapely
from shapely.geometry import Point, shape

from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from firstmile_client.requests import create_pickup_request

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
CLIENTS = ("fault-client-a", "fault-client-b", "fault-client-c")
GIVE_UP_S = 300.0


@dataclass(frozen=True)
class PlannedPickup:
    request_id: str
    client_id: str
    lat: float
    lng: float
    kind: str
    packages: int


def plan_pickups(rng: np.random.Generator, collection: dict, count: int, run_id: str) -> list[PlannedPickup]:
    """Points of every kind routing must get right: anywhere over the map (inside routes, in its
    holes and gaps, overlaps), exactly on route vertices (shared by neighbours: the overlap
    rule decides), a hair off an edge, outside the map (NEAREST, or beyond the limit) and far."""
    geometries = [shape(f["geometry"]) for f in collection["features"]]
    outline = shapely.union_all(geometries)
    minx, miny, maxx, maxy = outline.bounds
    vertices = np.concatenate([shapely.get_coordinates(g) for g in geometries])
    rings = [
        c for g in geometries for c in (shapely.get_coordinates(r) for r in shapely.get_parts(shapely.boundary(g)))
    ]
    centre = outline.centroid
    kinds = rng.choice(["anywhere", "vertex", "edge", "outside", "far"], size=count, p=[0.62, 0.12, 0.08, 0.13, 0.05])
    pickups = []
    for n, kind in enumerate(kinds):
        if kind == "anywhere":
            lng, lat = rng.uniform(minx - 0.005, maxx + 0.005), rng.uniform(miny - 0.005, maxy + 0.005)
        elif kind == "vertex":
            lng, lat = vertices[rng.integers(len(vertices))]
        elif kind == "edge":
            ring = rings[rng.integers(len(rings))]
            k = rng.integers(len(ring) - 1)
            t = rng.uniform(0.0, 1.0)
            lng, lat = ring[k] + t * (ring[k + 1] - ring[k])
        elif kind == "outside":
            # Pushed away from the centre from a point of the map's edge: 50 m to 3.5 km out.
            edge = outline.exterior.interpolate(rng.uniform(0, outline.exterior.length))
            direction = np.array([edge.x - centre.x, edge.y - centre.y])
            push_deg = rng.uniform(50, 3500) / 110_000.0
            lng, lat = np.array([edge.x, edge.y]) + direction / np.linalg.norm(direction) * push_deg
            if outline.covers(Point(lng, lat)):
                kind = "anywhere"
        else:
            angle = rng.uniform(0, 2 * np.pi)
            lng, lat = centre.x + 0.5 * np.cos(angle), centre.y + 0.5 * np.sin(angle)
        pickups.append(
            PlannedPickup(
                request_id=f"{run_id}-{n:05d}",
                client_id=CLIENTS[int(rng.integers(len(CLIENTS)))],
                lat=float(lat),
                lng=float(lng),
                kind=str(kind),
                packages=int(rng.integers(1, 6)),
            )
        )
    return pickups


def create_request(pickup: PlannedPickup, hub_id: str, pickup_date: str) -> pur_pb2.CreatePickupRequestRequest:
    return create_pickup_request(
        request_id=pickup.request_id,
        client_id=pickup.client_id,
        hub_id=hub_id,
        pickup_date=pickup_date,
        lat=pickup.lat,
        lng=pickup.lng,
        packages=pickup.packages,
        weight_kg=pickup.packages * 0.5,
        warehouse_id=f"WH-{pickup.request_id[-5:]}",
        warehouse_name=f"Warehouse {pickup.request_id[-5:]}",
    )


@dataclass
class LoadResult:
    acked: dict[str, str] = field(default_factory=dict)  # request_id -> PUR id
    failed: list[str] = field(default_factory=list)  # request ids never acknowledged
    errors: Counter = field(default_factory=Counter)  # status code name -> attempts answered with it
    unexpected: list[str] = field(default_factory=list)  # answers a client must never get
    calls: Counter = field(default_factory=Counter)  # "batch" / "single" -> acknowledged calls
    seconds: float = 0.0


class LoadClient:
    """Creates `pickups` over about `seconds`, from `workers` threads: most in batches of 20-100
    (BatchCreatePickupRequests), about one in ten alone (CreatePickupRequest)."""

    def __init__(
        self,
        stub: pur_pb2_grpc.PickupServiceStub,
        pickups: list[PlannedPickup],
        *,
        hub_id: str,
        pickup_date: str,
        seconds: float,
        rng: np.random.Generator,
        workers: int = 6,
    ) -> None:
        self._stub = stub
        self._hub_id = hub_id
        self._date = pickup_date
        self._workers = workers
        self._chunks: list[list[PlannedPickup]] = []
        position = 0
        while position < len(pickups):
            size = 1 if rng.random() < 0.87 else int(rng.integers(20, 101))
            self._chunks.append(pickups[position : position + size])
            position += size
        self._release: list[float] = []
        sent = 0
        for chunk in self._chunks:
            self._release.append(seconds * sent / len(pickups))
            sent += len(chunk)
        self._next = 0
        self._lock = threading.Lock()
        self.result = LoadResult()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._work, name=f"load-{i}", daemon=True) for i in range(self._workers)
        ]
        for thread in self._threads:
            thread.start()

    def join(self) -> LoadResult:
        for thread in self._threads:
            thread.join()
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def _work(self) -> None:
        while True:
            with self._lock:
                if self._next >= len(self._chunks):
                    return
                index = self._next
                self._next += 1
            wait = self._started + self._release[index] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._send(self._chunks[index])

    def _send(self, chunk: list[PlannedPickup]) -> None:
        requests = [create_request(p, self._hub_id, self._date) for p in chunk]
        give_up = time.monotonic() + GIVE_UP_S
        backoff = 0.2
        while True:
            try:
                if len(requests) == 1:
                    answer = self._stub.CreatePickupRequest(requests[0], timeout=20, wait_for_ready=True)
                    purs = [answer.pickup_request]
                else:
                    answer = self._stub.BatchCreatePickupRequests(
                        pur_pb2.BatchCreatePickupRequestsRequest(requests=requests), timeout=30, wait_for_ready=True
                    )
                    purs = list(answer.pickup_requests)
            except grpc.RpcError as err:
                code = err.code()
                with self._lock:
                    self.result.errors[code.name] += 1
                    if code not in RETRYABLE:
                        self.result.unexpected.append(f"{code.name}: {err.details()}")
                if time.monotonic() > give_up:
                    with self._lock:
                        self.result.failed.extend(r.request_id for r in requests)
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, 3.0)
                continue
            with self._lock:
                self.result.calls["single" if len(requests) == 1 else "batch"] += 1
                for request, pur in zip(requests, purs, strict=True):
                    if pur.request_id != request.request_id or pur.client_id != request.client_id:
                        self.result.unexpected.append(
                            f"answer for {request.request_id} is PUR {pur.id} of {pur.request_id}"
                        )
                    self.result.acked[request.request_id] = pur.id
            return
