"""SQLAlchemy 2.x engine, sessions and the unit of work every service's handlers run in."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, pool_size: int = 10, application_name: str = "firstmile") -> Engine:
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping per checkout (a round trip per transaction): a dropped connection surfaces as
        # a disconnect error, which invalidates the whole pool and is retried as transient.
        pool_pre_ping=False,
        pool_recycle=1800,
        # executemany of UPDATE/DELETE as psycopg2 batches, not one round trip per row.
        executemany_mode="values_plus_batch",
        connect_args={"application_name": application_name, "connect_timeout": 5},
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class AbstractUnitOfWork(abc.ABC):
    """One use case's transaction: changes made inside `with uow:` persist only on `commit()`.

    Leaving the block without committing rolls everything back, so an exception can never
    leave half a change (or an outbox event without its change) behind.
    """

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """Unit of work over one SQLAlchemy session; services subclass it to attach repositories."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        return super().__enter__()

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
