"""Import a hub's daily volume history from a CSV file into a running mesh (ImportVolumeHistory):

    python -m firstmile_client.import_volumes --hub HUB FILE.csv [--dispatch-address HOST:PORT]
        [--batch-size N] [--check]

The file has a header line naming at least the columns `date` ("YYYY-MM-DD", the hub's local
day, today or earlier), `route_id`, `pickups`, `packages` and `weight_kg` (kilograms, a decimal
point); other columns are ignored, and a blank `packages` or `weight_kg` reads as 0.

Nothing is written when a row is bad: every line is read and checked here first (all bad lines
are reported, with their line numbers), then the server checks every batch without writing
(`validate_only`: the rules that need the hub, such as dates after its today), and only then
are the batches imported, with a progress bar. Importing a route's day again replaces it, so a
run that stopped halfway can be run again.

The call carries the token of FIRSTMILE_AUTH_TOKEN or FIRSTMILE_AUTH_TOKEN_FILE (an admin's, a
service's, or a team lead's of the hub) over the transport of FIRSTMILE_GRPC_*; `make run` sets
them up. Exit codes: 0 imported (or checked, with --check); 1 bad rows or the mesh refused;
2 bad arguments or an unreadable file.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
from tqdm import tqdm

from firstmile.dispatch.v1 import dispatch_pb2
from firstmile_client.channels import ToolError, connect, explain
from firstmile_client.endpoints import dispatch_endpoint
from firstmile_client.requests import import_volume_history_request, volume_history_row
from firstmile_client.stubs import MeshClients

COLUMNS = ("date", "route_id", "pickups", "packages", "weight_kg")
MAX_BATCH = 10_000
DEFAULT_BATCH = 2_000
MAX_INT32 = 2**31 - 1
MAX_REPORTED = 20
CALL_TIMEOUT_S = 60.0
_ROW_INDEX = re.compile(r"rows\[(\d+)\]")


@dataclass(frozen=True)
class CsvRow:
    line: int
    row: dispatch_pb2.VolumeHistoryRow


class BadRows(ToolError):
    """Lines of the file that cannot be imported; nothing was written."""


def read_rows(path: Path) -> list[CsvRow]:
    """Every line of the file as a row, or BadRows listing the bad lines (all of them, at most
    MAX_REPORTED shown). Checks what needs no hub: columns, numbers, dates' form."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            return _parse(csv.DictReader(file), path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ToolError(f"cannot read {path}: {exc}") from None


def _parse(reader: csv.DictReader[str], path: Path) -> list[CsvRow]:
    header = [name.strip() for name in reader.fieldnames or ()]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BadRows(
            f"{path}: line 1: the header lacks the column(s) {', '.join(missing)} (needs {','.join(COLUMNS)})"
        )
    reader.fieldnames = header
    rows: list[CsvRow] = []
    problems: list[str] = []
    for record in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in record.values() if isinstance(value, str)):
            continue  # a blank line
        try:
            rows.append(CsvRow(line, _row(record)))
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        raise BadRows(_listing(path, problems))
    if not rows:
        raise BadRows(f"{path}: no rows to import")
    return rows


def _row(record: dict[str, str | None]) -> dispatch_pb2.VolumeHistoryRow:
    text = {name: (record.get(name) or "").strip() for name in COLUMNS}
    try:
        date.fromisoformat(text["date"])
    except ValueError:
        raise ValueError(f"date {text['date']!r} is not a YYYY-MM-DD date") from None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text["date"]):
        raise ValueError(f"date {text['date']!r} is not a YYYY-MM-DD date")
    if not text["route_id"]:
        raise ValueError("route_id is empty")
    return volume_history_row(
        date=text["date"],
        route_id=text["route_id"],
        pickups=_count("pickups", text["pickups"], blank_is_zero=False),
        packages=_count("packages", text["packages"], blank_is_zero=True),
        weight_kg=_kilograms(text["weight_kg"]),
    )


def _count(name: str, text: str, *, blank_is_zero: bool) -> int:
    if not text and blank_is_zero:
        return 0
    if not re.fullmatch(r"\d+", text):
        raise ValueError(f"{name} {text!r} is not a whole number of 0 or more")
    value = int(text)
    if value > MAX_INT32:
        raise ValueError(f"{name} {value} is too large")
    return value


def _kilograms(text: str) -> float:
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"weight_kg {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"weight_kg {text!r} must be a finite number of 0 or more")
    return value


def _listing(path: Path, problems: Sequence[str]) -> str:
    shown = "\n  ".join(problems[:MAX_REPORTED])
    more = f"\n  ... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
    return f"{path}: {len(problems)} bad row(s); nothing was imported:\n  {shown}{more}"


def batches(rows: Sequence[CsvRow], size: int) -> Iterator[Sequence[CsvRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _send(
    clients: MeshClients, hub_id: str, batch: Sequence[CsvRow], *, validate_only: bool, path: Path
) -> dispatch_pb2.ImportVolumeHistoryResponse:
    request = import_volume_history_request(hub_id=hub_id, rows=[r.row for r in batch], validate_only=validate_only)
    try:
        response: dispatch_pb2.ImportVolumeHistoryResponse = clients.dispatch.ImportVolumeHistory(
            request, timeout=CALL_TIMEOUT_S
        )
        return response
    except grpc.RpcError as exc:
        details = exc.details() if hasattr(exc, "details") else ""
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and details:
            # The server names the batch's row; the operator needs the file's line.
            found = _ROW_INDEX.search(details)
            if found and int(found.group(1)) < len(batch):
                line = batch[int(found.group(1))].line
                raise BadRows(f"{path}: line {line}: {details}; nothing was imported") from None
            raise BadRows(f"{path}: {details}; nothing was imported") from None
        raise explain(exc, clients.dispatch_endpoint, "ImportVolumeHistory") from None


def import_file(clients: MeshClients, hub_id: str, path: Path, batch_size: int, *, check_only: bool) -> int:
    """Read, check (here, then on the server), import; the rows imported (or checked)."""
    rows = read_rows(path)
    chunks = list(batches(rows, batch_size))
    with tqdm(total=len(rows), unit="row", desc="checking", file=sys.stderr) as bar:
        for chunk in chunks:
            _send(clients, hub_id, chunk, validate_only=True, path=path)
            bar.update(len(chunk))
    if check_only:
        return len(rows)
    replaced = 0
    with tqdm(total=len(rows), unit="row", desc="importing", file=sys.stderr) as bar:
        for chunk in chunks:
            replaced += _send(clients, hub_id, chunk, validate_only=False, path=path).replaced
            bar.update(len(chunk))
    print(f"imported {len(rows)} rows into hub {hub_id} ({replaced} replaced an earlier import)")
    return len(rows)


def _batch_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m firstmile_client.import_volumes",
        description="Import a hub's daily volume history (CSV: date,route_id,pickups,packages,weight_kg).",
    )
    parser.add_argument("file", type=Path, help="the CSV file")
    parser.add_argument("--hub", required=True, help="the hub the history belongs to")
    parser.add_argument("--dispatch-address", default="localhost:50053", help="dispatch_svc (default localhost:50053)")
    parser.add_argument(
        "--batch-size", type=_batch_size, default=DEFAULT_BATCH, help=f"rows per call (default {DEFAULT_BATCH})"
    )
    parser.add_argument("--check", action="store_true", help="check every row, import nothing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with connect(dispatch_endpoint(args.dispatch_address)) as clients:
            count = import_file(clients, args.hub, args.file, args.batch_size, check_only=args.check)
    except BadRows as exc:
        print(exc, file=sys.stderr)
        return 1
    except ToolError as exc:
        print(exc, file=sys.stderr)
        return 2 if str(exc).startswith("cannot read") else 1
    if args.check:
        print(f"{count} rows checked; nothing imported (--check)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
