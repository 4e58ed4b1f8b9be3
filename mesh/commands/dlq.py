"""List and replay the dead letters of a topic (docs/operations-dlq.md):

    python -m mesh.commands.dlq list TOPIC [--limit N] [--json]
    python -m mesh.commands.dlq replay TOPIC (--all | --offset P:O ...) [--dry-run] [--group G]

TOPIC is the original topic or its `.dlq`. `replay` re-publishes dead letters to the original
topic with their original key, bytes and headers (minus the dlq_* ones), so the fixed consumers
process them again; it prints each one it replayed.

A dead letter is replayed at most once per replay group (`mesh.dlq-replay`, or --group): the group
commits, per DLQ partition, an offset below which everything was replayed, plus in the commit's
metadata the offsets above it replayed one by one with --offset. The commit follows the broker's
acknowledgement of the re-published messages, so a crash between the two re-publishes them on the
next run (consumers are idempotent). Do not run two replays of one DLQ at the same time.

Needs FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS. Exit codes: 0 done; 1 Kafka failed or a chosen offset holds
no dead letter; 2 bad arguments, configuration or topic.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import kafka.errors
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition

from mesh.config import ConfigError, KafkaSettings, load
from mesh.kafka import (
    CE_ID,
    CE_TYPE,
    DLQ_CONSUMER_GROUP,
    DLQ_ERROR_TYPE,
    DLQ_FAILED_AT,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    DLQ_REASON,
    DLQ_SUFFIX,
    DLQ_VALUE_DROPPED,
    PLAINTEXT,
    KafkaSecurity,
    dlq_topic,
    flush_and_check,
    make_producer,
)

REPLAY_GROUP = "mesh.dlq-replay"
KAFKA_TIMEOUT_S = 30.0
BOOTSTRAP_TIMEOUT_MS = 10_000
TABLE_REASON_CHARS = 80

Position = tuple[int, int]  # (partition, offset) in the DLQ topic


class Settings(KafkaSettings):
    """The command needs only the brokers and how to reach them."""


class UsageError(Exception):
    """Bad input the user can fix (exit code 2)."""


class NoSuchDeadLetter(Exception):
    """A chosen offset holds no dead letter (exit code 1)."""


# -- dead letters ------------------------------------------------------------------------------


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="backslashreplace")


@dataclass(frozen=True)
class DeadLetter:
    """One record of a DLQ topic, as `ConsumerLoop` wrote it."""

    dlq_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_record(cls, record: Any) -> DeadLetter:
        headers = tuple((name, value or b"") for name, value in record.headers or ())
        return cls(record.topic, record.partition, record.offset, record.key, record.value, headers)

    def header(self, name: str) -> str:
        return next((_text(value) or "" for key, value in self.headers if key == name), "")

    @property
    def position(self) -> Position:
        return self.partition, self.offset

    @property
    def original(self) -> tuple[str, str, str]:
        """(topic, partition, offset) of the message that failed, as the consumer recorded it."""
        return self.header(DLQ_ORIGINAL_TOPIC), self.header(DLQ_ORIGINAL_PARTITION), self.header(DLQ_ORIGINAL_OFFSET)

    @property
    def original_name(self) -> str:
        topic, partition, offset = self.original
        return f"{topic}[{partition}]@{offset}"

    @property
    def size(self) -> int:
        """Bytes of the original payload (also when they did not fit into the DLQ)."""
        dropped = self.header(DLQ_VALUE_DROPPED)
        return int(dropped) if dropped.isdigit() else len(self.value or b"")

    @property
    def value_dropped(self) -> bool:
        return bool(self.header(DLQ_VALUE_DROPPED))

    def replay_headers(self) -> list[tuple[str, bytes]]:
        return [(name, value) for name, value in self.headers if not name.startswith("dlq_")]

    def as_json(self, *, replayed: bool) -> dict[str, Any]:
        topic, partition, offset = self.original
        return {
            "dlq_topic": self.dlq_topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": _text(self.key),
            "original_topic": topic,
            "original_partition": int(partition) if partition.isdigit() else None,
            "original_offset": int(offset) if offset.isdigit() else None,
            "consumer_group": self.header(DLQ_CONSUMER_GROUP),
            "reason": self.header(DLQ_REASON),
            "error_type": self.header(DLQ_ERROR_TYPE),
            "failed_at": self.header(DLQ_FAILED_AT),
            "size": self.size,
            "value_dropped": self.value_dropped,
            "replayed": replayed,
            "headers": {name: _text(value) for name, value in self.replay_headers()},
        }


# -- which dead letters were replayed ------------------------------------------------------------


@dataclass
class PartitionLedger:
    """Replayed offsets of one DLQ partition: all below `done_below`, plus those in `done_above`."""

    done_below: int = 0
    done_above: set[int] = field(default_factory=set)
    changed: bool = False

    @classmethod
    def from_commit(cls, committed: OffsetAndMetadata | None, where: str) -> PartitionLedger:
        if committed is None or committed.offset < 0:
            return cls()
        try:
            above = {int(part) for part in committed.metadata.split(",") if part}
        except ValueError:
            raise UsageError(
                f"{where}: the replay group's commit metadata {committed.metadata!r} is not ours"
            ) from None
        return cls(committed.offset, above)

    def replayed(self, offset: int) -> bool:
        return offset < self.done_below or offset in self.done_above

    def mark(self, offset: int) -> None:
        self.done_above.add(offset)
        while self.done_below in self.done_above:  # DLQ offsets are contiguous (no transactions)
            self.done_above.remove(self.done_below)
            self.done_below += 1
        self.changed = True

    def mark_below(self, end: int) -> None:
        self.done_below = max(self.done_below, end)
        self.done_above = {offset for offset in self.done_above if offset >= self.done_below}
        self.changed = True

    def to_commit(self) -> OffsetAndMetadata:
        return OffsetAndMetadata(self.done_below, ",".join(map(str, sorted(self.done_above))), -1)


# -- one DLQ topic -----------------------------------------------------------------------------


class Dlq:
    """A DLQ topic read by partition and offset. The consumer never joins its group (partitions
    are assigned, not subscribed); the group only holds the replay ledger's commits."""

    def __init__(self, bootstrap_servers: str, topic: str, group: str, security: KafkaSecurity = PLAINTEXT) -> None:
        self.original_topic = topic.removesuffix(DLQ_SUFFIX)
        self.topic = dlq_topic(self.original_topic)
        self.group = group
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers.split(","),
            group_id=group,
            client_id="mesh-dlq",
            enable_auto_commit=False,
            request_timeout_ms=int(KAFKA_TIMEOUT_S * 1000),
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            **security.client_options(),
        )
        try:
            partitions = self._consumer.partitions_for_topic(self.topic)
            if not partitions:
                raise UsageError(f"topic {self.topic!r} does not exist (is {self.original_topic!r} a mesh topic?)")
            self.partitions = sorted(partitions)
            self._consumer.assign([self._tp(p) for p in self.partitions])
        except BaseException:
            self.close()
            raise

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def original_topic_exists(self) -> bool:
        return bool(self._consumer.partitions_for_topic(self.original_topic))

    def bounds(self) -> dict[int, tuple[int, int]]:
        """Per partition: (first offset still retained, next offset to be written)."""
        tps = [self._tp(p) for p in self.partitions]
        timeout_ms = int(KAFKA_TIMEOUT_S * 1000)
        first = self._consumer.beginning_offsets(tps, timeout_ms=timeout_ms)
        end = self._consumer.end_offsets(tps, timeout_ms=timeout_ms)
        return {tp.partition: (first[tp], end[tp]) for tp in tps}

    def ledger(self) -> dict[int, PartitionLedger]:
        return {
            p: PartitionLedger.from_commit(
                self._consumer.committed(self._tp(p), metadata=True), f"{self.topic}[{p}] group {self.group}"
            )
            for p in self.partitions
        }

    def save(self, ledger: dict[int, PartitionLedger]) -> None:
        offsets = {self._tp(p): entry.to_commit() for p, entry in ledger.items() if entry.changed}
        if offsets:
            self._consumer.commit(offsets)

    def read(self, ranges: dict[int, tuple[int, int]]) -> list[DeadLetter]:
        """The records at offsets [start, end) of each partition, in partition and offset order."""
        pending = {p: (start, end) for p, (start, end) in ranges.items() if start < end}
        letters: list[DeadLetter] = []
        if not pending:
            return letters
        for p, (start, _) in pending.items():
            self._consumer.seek(self._tp(p), start)
        self._consumer.resume(*self._consumer.assignment())
        self._consumer.pause(*[self._tp(p) for p in self.partitions if p not in pending])
        deadline = time.monotonic() + KAFKA_TIMEOUT_S
        while pending:
            if time.monotonic() > deadline:
                raise kafka.errors.KafkaTimeoutError(f"reading {self.topic} took more than {KAFKA_TIMEOUT_S:.0f}s")
            for tp, records in self._consumer.poll(timeout_ms=200).items():
                if tp.partition not in pending:
                    continue
                start, end = pending[tp.partition]
                letters.extend(DeadLetter.from_record(r) for r in records if start <= r.offset < end)
                if records[-1].offset + 1 >= end:
                    pending.pop(tp.partition)
                    self._consumer.pause(tp)
        return sorted(letters, key=lambda letter: letter.position)

    def close(self) -> None:
        self._consumer.close(autocommit=False)


# -- list --------------------------------------------------------------------------------------


def list_command(dlq: Dlq, limit: int | None, as_json: bool) -> int:
    bounds = dlq.bounds()
    ledger = dlq.ledger()
    ranges = {p: (first, end if limit is None else min(end, first + limit)) for p, (first, end) in bounds.items()}
    letters = dlq.read(ranges)[:limit]
    total = sum(end - first for first, end in bounds.values())
    if as_json:
        for letter in letters:
            print(json.dumps(letter.as_json(replayed=ledger[letter.partition].replayed(letter.offset))))
        return 0
    shown = f", showing {len(letters)}" if len(letters) < total else ""
    print(f"{dlq.topic}: {total} dead letter(s){shown}")
    if letters:
        print(_table(letters, ledger))
    return 0


def _table(letters: Sequence[DeadLetter], ledger: dict[int, PartitionLedger]) -> str:
    header = (
        "PARTITION",
        "OFFSET",
        "KEY",
        "ORIGINAL",
        "GROUP",
        "ERROR TYPE",
        "FAILED AT",
        "SIZE",
        "REPLAYED",
        "REASON",
    )
    rows = [header]
    for letter in letters:
        reason = letter.header(DLQ_REASON)
        if len(reason) > TABLE_REASON_CHARS:
            reason = reason[: TABLE_REASON_CHARS - 3] + "..."
        size = f"{letter.size} (dropped)" if letter.value_dropped else str(letter.size)
        rows.append(
            (
                str(letter.partition),
                str(letter.offset),
                _text(letter.key) or "-",
                letter.original_name,
                letter.header(DLQ_CONSUMER_GROUP),
                letter.header(DLQ_ERROR_TYPE),
                letter.header(DLQ_FAILED_AT),
                size,
                "yes" if ledger[letter.partition].replayed(letter.offset) else "no",
                reason,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    )


# -- replay ------------------------------------------------------------------------------------


@dataclass
class ReplayPlan:
    replay: list[DeadLetter] = field(default_factory=list)
    # Another consumer group dead-lettered the same original message: publish it once.
    duplicates: list[tuple[DeadLetter, DeadLetter]] = field(default_factory=list)
    dropped: list[DeadLetter] = field(default_factory=list)
    already: list[Position] = field(default_factory=list)

    @property
    def settled(self) -> Iterable[DeadLetter]:
        """Everything the ledger records as done once the replay went through."""
        yield from self.replay
        yield from (copy for copy, _ in self.duplicates)
        yield from self.dropped


def plan_replay(letters: Iterable[DeadLetter], already: Sequence[Position] = ()) -> ReplayPlan:
    plan = ReplayPlan(already=list(already))
    first_of: dict[tuple[str, str, str], DeadLetter] = {}
    for letter in letters:
        if letter.value_dropped:
            plan.dropped.append(letter)
        elif letter.original in first_of:
            plan.duplicates.append((letter, first_of[letter.original]))
        else:
            first_of[letter.original] = letter
            plan.replay.append(letter)
    return plan


def _chosen(
    dlq: Dlq,
    bounds: dict[int, tuple[int, int]],
    ledger: dict[int, PartitionLedger],
    positions: Sequence[Position] | None,
) -> tuple[list[DeadLetter], list[Position]]:
    """The dead letters to consider (not replayed yet) and the chosen positions that were."""
    if positions is None:  # --all
        ranges = {p: (max(ledger[p].done_below, first), end) for p, (first, end) in bounds.items()}
        return [letter for letter in dlq.read(ranges) if not ledger[letter.partition].replayed(letter.offset)], []
    _check_positions(dlq, bounds, positions)
    already = sorted({pos for pos in positions if ledger[pos[0]].replayed(pos[1])})
    wanted = {pos for pos in positions if pos not in already}
    spans: dict[int, tuple[int, int]] = {}
    for p, offset in wanted:
        start, end = spans.get(p, (offset, offset + 1))
        spans[p] = (min(start, offset), max(end, offset + 1))
    return [letter for letter in dlq.read(spans) if letter.position in wanted], already


def _check_positions(dlq: Dlq, bounds: dict[int, tuple[int, int]], positions: Sequence[Position]) -> None:
    for p, offset in positions:
        if p not in bounds:
            raise NoSuchDeadLetter(
                f"{dlq.topic} has no partition {p} (partitions: {', '.join(map(str, dlq.partitions))})"
            )
        first, end = bounds[p]
        if not first <= offset < end:
            held = f"offsets {first}..{end - 1}" if first < end else "nothing"
            raise NoSuchDeadLetter(f"no dead letter at {p}:{offset} in {dlq.topic} (partition {p} holds {held})")


def replay_command(
    dlq: Dlq,
    bootstrap_servers: str,
    positions: Sequence[Position] | None,
    *,
    dry_run: bool,
    security: KafkaSecurity = PLAINTEXT,
) -> int:
    if not dlq.original_topic_exists():
        raise UsageError(f"the original topic {dlq.original_topic!r} does not exist")
    ledger = dlq.ledger()
    bounds = dlq.bounds()
    letters, already = _chosen(dlq, bounds, ledger, positions)
    plan = plan_replay(letters, already)

    for p, offset in plan.already:
        print(f"skipped {p}:{offset}: already replayed (group {dlq.group})")
    for copy, first in plan.duplicates:
        print(
            f"skipped {copy.partition}:{copy.offset}: the same original message {copy.original_name} as "
            f"{first.partition}:{first.offset}"
        )
    for letter in plan.dropped:
        print(
            f"cannot replay {letter.partition}:{letter.offset}: its {letter.size} bytes did not fit into the DLQ; "
            f"the original is {letter.original_name} (until retention)"
        )

    if dry_run:
        for letter in plan.replay:
            print(f"would replay {_describe(letter)}")
        print(
            f"dry run: {len(plan.replay)} dead letter(s) would be replayed to {dlq.original_topic}; "
            "nothing was sent or recorded"
        )
        return 0

    landed = _publish(bootstrap_servers, dlq.original_topic, plan.replay, security)
    for letter, (partition, offset) in zip(plan.replay, landed, strict=True):
        print(f"replayed {_describe(letter)} -> {dlq.original_topic}[{partition}]@{offset}")
    for letter in plan.settled:
        ledger[letter.partition].mark(letter.offset)
    if positions is None:  # --all went through everything up to the ends read at the start
        for p, (_, end) in bounds.items():
            ledger[p].mark_below(end)
    dlq.save(ledger)

    skipped = len(plan.already) + len(plan.duplicates) + len(plan.dropped)
    if plan.replay:
        print(f"replayed {len(plan.replay)} dead letter(s) of {dlq.topic} to {dlq.original_topic}; {skipped} skipped")
    else:
        print(f"nothing to replay in {dlq.topic}: every dead letter chosen was replayed (group {dlq.group}) or skipped")
    return 0


def _describe(letter: DeadLetter) -> str:
    return (
        f"{letter.partition}:{letter.offset} (original {letter.original_name}, key={_text(letter.key) or '-'}, "
        f"ce_type={letter.header(CE_TYPE) or '-'}, ce_id={letter.header(CE_ID) or '-'}, "
        f"failed: {letter.header(DLQ_ERROR_TYPE)})"
    )


def _publish(
    bootstrap_servers: str, topic: str, letters: Sequence[DeadLetter], security: KafkaSecurity
) -> list[tuple[int, int]]:
    """Send every letter to `topic` and return where each landed; raises unless all were acked."""
    if not letters:
        return []
    producer = make_producer(bootstrap_servers, client_id="mesh-dlq-replay", security=security)
    try:
        futures = [
            producer.send(topic, key=letter.key, value=letter.value, headers=letter.replay_headers())
            for letter in letters
        ]
        flush_and_check(producer, futures, timeout=KAFKA_TIMEOUT_S)
        return [(future.value.partition, future.value.offset) for future in futures]
    finally:
        producer.close(timeout=5)


# -- command line ------------------------------------------------------------------------------


def _position(text: str) -> Position:
    partition, sep, offset = text.partition(":")
    if not (sep and partition.isdigit() and offset.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not PARTITION:OFFSET, e.g. 0:42")
    return int(partition), int(offset)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mesh.commands.dlq", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,replay}")
    group_help = f"consumer group holding what was replayed (default {REPLAY_GROUP})"

    listing = commands.add_parser("list", help="print the dead letters of a topic")
    listing.add_argument("topic", help="the topic or its .dlq")
    listing.add_argument("--limit", type=_positive, help="print at most N (the oldest, by partition)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--group", default=REPLAY_GROUP, help=group_help)

    replay = commands.add_parser("replay", help="re-publish dead letters to their original topic")
    replay.add_argument("topic", help="the topic or its .dlq")
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--all", action="store_true", help="every dead letter not replayed yet")
    chosen.add_argument(
        "--offset",
        type=_position,
        action="append",
        metavar="P:O",
        help="the dead letter at DLQ partition P, offset O (repeatable)",
    )
    replay.add_argument("--dry-run", action="store_true", help="print what would be replayed; send nothing")
    replay.add_argument("--group", default=REPLAY_GROUP, help=group_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load(Settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        security = KafkaSecurity.from_settings(settings)
        dlq = Dlq(settings.kafka_bootstrap_servers, args.topic, args.group, security)
        try:
            if args.command == "list":
                return list_command(dlq, args.limit, args.json)
            return replay_command(
                dlq, settings.kafka_bootstrap_servers, args.offset, dry_run=args.dry_run, security=security
            )
        finally:
            dlq.close()
    except UsageError as exc:
        print(f"mesh.commands.dlq: {exc}", file=sys.stderr)
        return 2
    except NoSuchDeadLetter as exc:
        print(f"mesh.commands.dlq: {exc}", file=sys.stderr)
        return 1
    except kafka.errors.KafkaError as exc:
        print(f"mesh.commands.dlq: Kafka at {settings.kafka_bootstrap_servers} failed: {exc!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
