"""The unit of work every use case runs in, and the one place domain events become outbox rows.

A handler changes aggregates through repositories and `publish()`es domain events (plain
dataclasses of its domain). Nothing leaves before `commit()`: the SQLAlchemy unit of work then
translates the buffered events with the service's `to_outbox` and writes them with one insert and
one NOTIFY, in the same transaction as the change (every NOTIFY takes a database-wide lock at
commit, so one per transaction is the most it should cost). Leaving the block without committing
rolls everything back and drops the events, so no change leaves without its events or the other
way round.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from mesh.access import ensure_scope_checked
from mesh.outbox import Outbox, OutboxEvent

ToOutbox = Callable[[object], Iterable[OutboxEvent]]


class AbstractUnitOfWork(abc.ABC):
    """One use case's transaction: changes and events made inside `with uow:` persist only on
    `commit()`. Services subclass it with their repositories; tests with in-memory fakes."""

    def __enter__(self) -> Self:
        self._events: list[object] = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def publish(self, events: Iterable[object]) -> None:
        """Queue domain events to leave with this transaction's commit, and only then."""
        self._events.extend(events)

    def commit(self) -> None:
        # A call whose scope was never checked writes nothing (mesh.access).
        ensure_scope_checked()
        events, self._events = self._events, []
        self._commit(events)

    def rollback(self) -> None:
        self._events = []
        self._rollback()

    @abc.abstractmethod
    def _commit(self, events: list[object]) -> None: ...

    @abc.abstractmethod
    def _rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """Unit of work over one SQLAlchemy session and the service's outbox; services subclass it to
    attach repositories in `__enter__`."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session], outbox: Outbox, to_outbox: ToOutbox) -> None:
        self._session_factory = session_factory
        self._outbox = outbox
        self._to_outbox = to_outbox

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            self.session.close()

    def _commit(self, events: list[object]) -> None:
        rows = [row for event in events for row in self._to_outbox(event)]
        if rows:
            self._outbox.add(self.session, rows)
        self.session.commit()

    def _rollback(self) -> None:
        self.session.rollback()
