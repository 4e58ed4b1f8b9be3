"""What security costs per call: token verification, and a trivial RPC over plaintext vs mutual TLS.

Prints (no assertions about time):
- TokenVerifier.verify per second on one thread: a token's first call (Ed25519 signature + claim
  checks) and its later ones (remembered until it expires);
- sequential calls/s and p50/p99 of a no-op RPC on an in-process mesh GrpcServer, in four
  setups: plaintext without auth (grpc.health.v1.Health/Check, which is open), plaintext with a
  bearer token (an authenticated no-op), and the same two over mutual TLS on one kept-alive
  channel (the handshake is paid once, as real clients do).

    .cache/venv/bin/python -m bench.bench_auth [--calls N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from firstmile_client.channels import PLAINTEXT
from firstmile_client.tokens import local_secrets, mint_token
from mesh.access import AccessRule, Scope, current_caller
from mesh.auth import Role, TokenVerifier
from mesh.grpc_client import open_channel
from mesh.grpc_server import GrpcServer, ServiceRegistration
from mesh.tls import GrpcTransport

SERVICE = "bench.v1.NoopService"
HUB = "HUB-1"
Msg = health_pb2.HealthCheckRequest


def noop_handler(request: Msg, context: grpc.ServicerContext) -> Msg:
    current_caller().require_hub(HUB)  # the scope check every hub-scoped handler makes
    return request


def noop_registration() -> ServiceRegistration:
    handler = grpc.unary_unary_rpc_method_handler(
        noop_handler, request_deserializer=Msg.FromString, response_serializer=Msg.SerializeToString
    )
    return ServiceRegistration(
        SERVICE,
        lambda server: server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Noop": handler}),)
        ),
        {"Noop": AccessRule(frozenset({Role.TEAM_LEAD}), Scope.HUB)},
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

    secrets = local_secrets()
    verifier = TokenVerifier.from_file(secrets.jwt_public_key)
    token = mint_token(Role.TEAM_LEAD, hubs=[HUB], subject="bench")

    n = 2000
    tokens = [mint_token(Role.TEAM_LEAD, hubs=[HUB], subject=f"bench-{i}") for i in range(n)]
    for label, batch in (("first sight (signature checked)", tokens), ("seen before (remembered)", tokens)):
        started = time.perf_counter()
        for each in batch:
            verifier.verify(each)
        per_call = (time.perf_counter() - started) / n
        print(f"TokenVerifier.verify, {label}: {1 / per_call:,.0f}/s on one thread ({per_call * 1e6:.1f} µs each)")

    mtls = GrpcTransport("mtls", secrets.mesh_cert, secrets.mesh_key, secrets.ca_cert)
    print(f"Sequential unary calls on one channel ({args.calls} each, after a warm-up):")
    for name, transport in (("plaintext", PLAINTEXT), ("mutual TLS", mtls)):
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
                measure(f"{name}, no token (health Check)", lambda check=health: check(Msg(), timeout=5), args.calls)
            with open_channel(target, transport, lambda: token) as channel:
                health = health_pb2_grpc.HealthStub(channel).Check
                measure(
                    f"{name}, token sent, not checked (health)",
                    lambda check=health: check(Msg(), timeout=5),
                    args.calls,
                )
                noop = channel.unary_unary(
                    f"/{SERVICE}/Noop", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
                )
                measure(
                    f"{name}, bearer token verified (no-op RPC)", lambda call=noop: call(Msg(), timeout=5), args.calls
                )
        finally:
            server.drain_and_stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
