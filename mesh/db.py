"""SQLAlchemy 2.x engine and sessions; the unit of work over them is in `mesh.unit_of_work`."""

from __future__ import annotations

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
