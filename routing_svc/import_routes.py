"""Import a hub's route map from a GeoJSON file, showing progress:

    python -m routing_svc.import_routes --hub BLR-KORAMANGALA demo/data/demo_hub.geojson [--replace]

Features are checked locally first (the same validation routing_svc applies), so a person sees
every bad feature with its index before anything is sent; then the whole map goes over in one
all-or-nothing ImportRoutes call, which compiles the hub's index and answers with the new version.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import grpc
from tqdm import tqdm

from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from mesh.config import ConfigError
from mesh.errors import InvalidArgument
from mesh.grpc_client import tool_channel
from routing_svc.domain.errors import InvalidGeometry
from routing_svc.domain.geometry import parse_route_collection

CHUNK = 50


def check_features(document: dict, hub_id: str) -> int:
    """Validate every feature in chunks, with a progress bar; exit with every problem found."""
    features = document.get("features")
    if document.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise SystemExit("the file is not a GeoJSON FeatureCollection")
    problems: list[str] = []
    with tqdm(total=len(features), unit="route", desc="checking") as bar:
        for start in range(0, len(features), CHUNK):
            chunk = {"type": "FeatureCollection", "features": features[start : start + CHUNK]}
            try:
                parse_route_collection(chunk, hub_id)
            except InvalidGeometry as exc:
                problems.extend(f"feature {start + p.feature_index}: {p.reason}" for p in exc.problems)
            except InvalidArgument as exc:  # not about one feature (e.g. the hub id)
                raise SystemExit(f"refused, nothing was sent: {exc}") from None
            bar.update(len(chunk["features"]))
    if problems:
        raise SystemExit("refused, nothing was sent:\n  " + "\n  ".join(problems))
    return len(features)


def upload(stub: routing_pb2_grpc.RoutingServiceStub, request: routing_pb2.ImportRoutesRequest, timeout: float):
    """One ImportRoutes call, with a ticking bar while routing_svc validates and compiles."""
    done = threading.Event()

    def tick() -> None:
        with tqdm(desc="importing and compiling", unit="s", bar_format="{desc}: {elapsed}") as bar:
            while not done.wait(0.2):
                bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        return stub.ImportRoutes(request, timeout=timeout)
    finally:
        done.set()
        ticker.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="GeoJSON FeatureCollection of the hub's routes")
    parser.add_argument("--hub", required=True, help="hub id the routes belong to")
    parser.add_argument("--replace", action="store_true", help="delete the hub's routes missing from the file")
    parser.add_argument("--address", default="localhost:50052", help="routing_svc address (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the import")
    parser.add_argument(
        "--token", help="admin bearer token (default: $FIRSTMILE_AUTH_TOKEN or $FIRSTMILE_AUTH_TOKEN_FILE)"
    )
    args = parser.parse_args(argv)

    try:
        text = args.file.read_text()
        document = json.loads(text)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    count = check_features(document, args.hub)
    started = time.perf_counter()
    try:
        channel = tool_channel(
            args.address, token=args.token, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
        )
    except ConfigError as exc:
        print(f"cannot connect: {exc}", file=sys.stderr)
        return 2
    with channel:
        stub = routing_pb2_grpc.RoutingServiceStub(channel)
        request = routing_pb2.ImportRoutesRequest(
            hub_id=args.hub, feature_collection_geojson=text, replace_existing=args.replace
        )
        try:
            response = upload(stub, request, args.timeout)
        except grpc.RpcError as err:
            print(f"import failed: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    print(
        f"{args.hub}: {count} routes imported in {time.perf_counter() - started:.2f} s — "
        f"{response.created_count} created, {response.updated_count} updated, {response.deleted_count} deleted, "
        f"{response.unchanged_count} unchanged; map version {response.map_version}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
