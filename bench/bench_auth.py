"""What security costs per call: token verification, and a trivial RPC over plaintext vs mutual TLS.

Prints (no assertions about time):
- TokenVerifier.verify per second on one thread: a token's first call (Ed25519 signature + claim
  checks) and its later ones (remembered until it expires);
- sequential calls/s and p50/p99 of a no-op RPC on an in-process mesh GrpcServer, in four
  setups: plaintext without auth (grpc.health.v1.Health/Check, which is open), plaintext with a
  bearer token (an authenticated no-op), and the same two over mutual TLS on one kept-alive
  channel (the handshake is paid once, as real clients do).

    .cache/venv/bin/python bench/bench_auth.py [--calls N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "gen")]

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from mesh import devsecrets  # noqa: E402
from mesh.auth import EVERY_ROLE, Role, TokenVerifier  # noqa: E402
from mesh.grpc_client import open_channel  # noqa: E402
from mesh.grpc_server import GrpcServer, ServiceRegistration  # noqa: E402
from mesh.tls import GrpcTransport  # noqa: E402

SERVICE = "bench.v1.NoopService"
Msg = health_pb2.HealthCheckRequest


def noop_registration() -> ServiceRegistration:
    handler = grpc.unary_unary_rpc_method_handler(
        lambda request, context: request, request_deserializer=Msg.FromString, response_serializer=Msg.SerializeToString
    )
    return ServiceRegistration(
        SERVICE,
        lambda server: server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Noop": handler}),)
        ),
        {"Noop": EVERY_ROLE},
    )


def measure(label: str, call: Callable[[], object], calls: int) -> None:
    for _ in range(min(200, calls)):
        call()
    latencies = []
    started = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"  {label:<44} {calls / elapsed:8,.0f} calls/s   p50 {statistics.median(latencies) * 1e3:6.3f} ms   p99 {p99 * 1e3:6.3f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()

    secrets = devsecrets.ensure()
    verifier = TokenVerifier.from_file(secrets.jwt_public_key)
    token = secrets.issuer().issue("bench", Role.TEAM_LEAD, hubs=["HUB-1"])

    n = 2000
    tokens = [secrets.issuer().issue(f"bench-{i}", Role.TEAM_LEAD, hubs=["HUB-1"]) for i in range(n)]
    for label, batch in (("first sight (signature checked)", tokens), ("seen before (remembered)", tokens)):
        started = time.perf_counter()
        for each in batch:
            verifier.verify(each)
        per_call = (time.perf_counter() - started) / n
        print(f"TokenVerifier.verify, {label}: {1 / per_call:,.0f}/s on one thread ({per_call * 1e6:.1f} µs each)")

    mtls = GrpcTransport("mtls", secrets.mesh_cert, secrets.mesh_key, secrets.ca_cert)
    print(f"Sequential unary calls on one channel ({args.calls} each, after a warm-up):")
    for name, transport in (("plaintext", GrpcTransport("plaintext")), ("mutual TLS", mtls)):
        server = GrpcServer(
            port=0,
            registrations=[noop_registration()],
            verifier=verifier,
            credentials=transport.server_credentials(),
            host="localhost",
            drain_seconds=0,
            grace_seconds=1,
        )
        server.start()
        server.set_serving()
        try:
            target = f"localhost:{server.port}"
            with open_channel(target, transport, None) as channel:
                health = health_pb2_grpc.HealthStub(channel).Check
                measure(f"{name}, no token (health Check)", lambda: health(Msg(), timeout=5), args.calls)
            with open_channel(target, transport, lambda: token) as channel:
                health = health_pb2_grpc.HealthStub(channel).Check
                measure(f"{name}, token sent, not checked (health)", lambda: health(Msg(), timeout=5), args.calls)
                noop = channel.unary_unary(
                    f"/{SERVICE}/Noop", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
                )
                measure(f"{name}, bearer token verified (no-op RPC)", lambda: noop(Msg(), timeout=5), args.calls)
        finally:
            server.drain_and_stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
