"""The DLQ command without Kafka: the replay ledger kept in a group's commits, and the replay plan."""

from __future__ import annotations

import pytest
from kafka.structs import OffsetAndMetadata

from mesh.commands.dlq import DeadLetter, PartitionLedger, UsageError, plan_replay
from mesh.kafka import DLQ_ORIGINAL_OFFSET, DLQ_ORIGINAL_PARTITION, DLQ_ORIGINAL_TOPIC, DLQ_VALUE_DROPPED


def letter(offset: int, original_offset: int, *extra: tuple[str, bytes]) -> DeadLetter:
    headers = (
        ("ce_id", b"e-1"),
        (DLQ_ORIGINAL_TOPIC, b"pur.created.v1"),
        (DLQ_ORIGINAL_PARTITION, b"3"),
        (DLQ_ORIGINAL_OFFSET, str(original_offset).encode()),
        *extra,
    )
    return DeadLetter("pur.created.v1.dlq", 0, offset, b"k", b"v", headers)


def test_ledger_marks_one_by_one_and_folds_into_the_committed_offset():
    ledger = PartitionLedger.from_commit(None, "t")
    ledger.mark(2)
    ledger.mark(4)
    assert ledger.to_commit() == OffsetAndMetadata(0, "2,4", -1)
    assert ledger.replayed(2) and not ledger.replayed(3)

    ledger.mark(0)
    ledger.mark(1)  # 0, 1 and 2 are now contiguous
    assert ledger.to_commit() == OffsetAndMetadata(3, "4", -1)

    again = PartitionLedger.from_commit(ledger.to_commit(), "t")
    assert [o for o in range(6) if again.replayed(o)] == [0, 1, 2, 4]
    again.mark_below(6)
    assert again.to_commit() == OffsetAndMetadata(6, "", -1)


def test_ledger_refuses_metadata_it_did_not_write():
    with pytest.raises(UsageError, match="not ours"):
        PartitionLedger.from_commit(OffsetAndMetadata(5, "hello", -1), "t")


def test_plan_publishes_each_original_once_and_never_without_its_bytes():
    first, copy, other = letter(0, 10), letter(1, 10), letter(2, 11)
    dropped = letter(3, 12, (DLQ_VALUE_DROPPED, b"1048000"))
    plan = plan_replay([first, copy, other, dropped])
    assert plan.replay == [first, other]
    assert plan.duplicates == [(copy, first)]
    assert plan.dropped == [dropped] and dropped.size == 1048000
    assert sorted(letter.offset for letter in plan.settled) == [0, 1, 2, 3]
    assert first.replay_headers() == [("ce_id", b"e-1")]
