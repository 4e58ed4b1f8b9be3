"""The unit of work (mesh.unit_of_work) without a database: domain events wait for commit, vanish on
rollback or an exception, and the SQLAlchemy unit of work translates each one once, at commit,
into outbox rows written with one insert and one NOTIFY in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from mesh.access import AccessRule, Caller, Scope, enter_call, leave_call
from mesh.auth import STAFF, Principal, Role
from mesh.errors import PermissionDenied
from mesh.outbox import Outbox, OutboxEvent
from mesh.unit_of_work import SqlAlchemyUnitOfWork
from tests.support.fake_unit_of_work import RecordingUnitOfWork


@dataclass(frozen=True)
class PickupCreated:
    pickup_id: str


@dataclass(frozen=True)
class PickupRouted:
    pickup_id: str
    route_id: str


FIRST, SECOND = PickupCreated("p1"), PickupRouted("p1", "r7")


# -- the abstract unit of work ---------------------------------------------------------------------------


def test_events_wait_for_commit_and_leave_in_order():
    uow = RecordingUnitOfWork()
    with uow:
        uow.publish([FIRST])
        uow.publish(iter([SECOND]))
        assert uow.committed == []
        uow.commit()
    assert uow.committed == [[FIRST, SECOND]]


def test_a_commit_hands_on_only_what_was_published_since_the_last_one():
    uow = RecordingUnitOfWork()
    with uow:
        uow.publish([FIRST])
        uow.commit()
        uow.commit()
        uow.publish([SECOND])
        uow.commit()
    assert uow.committed == [[FIRST], [], [SECOND]]


def test_rollback_drops_the_events():
    uow = RecordingUnitOfWork()
    with uow:
        uow.publish([FIRST])
        uow.rollback()
        uow.commit()
    assert uow.committed == [[]]


def test_leaving_without_commit_rolls_back_and_drops_the_events():
    uow = RecordingUnitOfWork()
    with uow:
        uow.publish([FIRST])
    assert (uow.committed, uow.rollbacks) == ([], 1)
    with uow:  # a unit of work starts empty every time it is entered
        uow.commit()
    assert uow.committed == [[]]


def test_an_exception_rolls_back_drops_the_events_and_propagates():
    uow = RecordingUnitOfWork()
    with pytest.raises(KeyError), uow:
        uow.publish([FIRST])
        raise KeyError("boom")
    assert (uow.committed, uow.rollbacks) == ([], 1)


def test_a_commit_in_a_call_whose_scope_was_never_checked_writes_nothing():
    caller = Caller(Principal("lead", Role.TEAM_LEAD, hubs=frozenset({"H1"})), AccessRule(STAFF, Scope.HUB), "Create")
    token = enter_call(caller)
    try:
        uow = RecordingUnitOfWork()
        with pytest.raises(PermissionDenied, match="Create: refused"), uow:
            uow.publish([FIRST])
            uow.commit()
        assert uow.committed == []
        with uow:
            caller.require_hub("H1")
            uow.publish([FIRST])
            uow.commit()
        assert uow.committed == [[FIRST]]
    finally:
        leave_call(token)


# -- the SQLAlchemy unit of work, over a recording session -----------------------------------------------


class RecordingSession:
    """Stands in for a Session: what was executed, committed, rolled back and closed, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.statements: list[tuple[sa.Executable, object]] = []

    def execute(self, statement: sa.Executable, params: object = None) -> None:
        self.statements.append((statement, params))
        self.log.append("execute")

    def commit(self) -> None:
        self.log.append("commit")

    def rollback(self) -> None:
        self.log.append("rollback")

    def close(self) -> None:
        self.log.append("close")


class Translator:
    """A service's `to_outbox`: one row per created pickup, two per routing (as a service may emit
    an event on two topics); counts what it was asked to translate."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    def __call__(self, event: object) -> Iterable[OutboxEvent]:
        self.seen.append(event)
        if isinstance(event, PickupCreated):
            return [OutboxEvent("pur.created.v1", event.pickup_id, b"created", "PickupRequested", "pur_svc")]
        assert isinstance(event, PickupRouted)
        return [
            OutboxEvent("pur.events.v1", event.pickup_id, b"routed", "PickupStatusChanged", "pur_svc"),
            OutboxEvent("routing.audit.v1", event.route_id, b"routed", "RouteUsed", "pur_svc"),
        ]


@pytest.fixture
def session() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def to_outbox() -> Translator:
    return Translator()


def make_uow(session: RecordingSession, to_outbox) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(lambda: session, Outbox("test_uow", sa.MetaData()), to_outbox)


@pytest.fixture
def uow(session, to_outbox) -> SqlAlchemyUnitOfWork:
    return make_uow(session, to_outbox)


def test_events_are_translated_once_at_commit_and_written_with_one_insert_and_one_notify(uow, session, to_outbox):
    with uow:
        uow.publish([FIRST, SECOND])
        assert to_outbox.seen == [] and session.statements == []
        uow.commit()
    assert to_outbox.seen == [FIRST, SECOND]
    (insert, columns), (notify, _) = session.statements
    assert str(insert).startswith("INSERT INTO test_uow.outbox ")
    # One array per column: text in PostgreSQL's array syntax, bytes as a list (mesh.arrays).
    assert columns["topic"] == '{"pur.created.v1","pur.events.v1","routing.audit.v1"}'
    assert columns["key"] == [b"p1", b"p1", b"r7"]
    assert "pg_notify" in str(notify)
    assert session.log == ["execute", "execute", "commit", "rollback", "close"]


def test_a_commit_without_events_writes_no_outbox_rows(uow, session, to_outbox):
    with uow:
        uow.commit()
    assert session.statements == [] and to_outbox.seen == []
    assert session.log == ["commit", "rollback", "close"]


def test_events_rolled_back_are_never_translated(uow, session, to_outbox):
    with uow:
        uow.publish([FIRST])
        uow.rollback()
        uow.commit()
    with pytest.raises(RuntimeError), uow:
        uow.publish([SECOND])
        raise RuntimeError("handler failed")
    assert to_outbox.seen == [] and session.statements == []
    assert session.log == ["rollback", "commit", "rollback", "close", "rollback", "close"]


def test_a_translation_failure_commits_nothing(session):
    def broken(event: object) -> Iterable[OutboxEvent]:
        raise ValueError("cannot build the message")

    uow = make_uow(session, broken)
    with pytest.raises(ValueError, match="cannot build"), uow:
        uow.publish([FIRST])
        uow.commit()
    assert "commit" not in session.log and session.log[-2:] == ["rollback", "close"]
