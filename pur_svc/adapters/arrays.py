"""Batch writes as one statement over arrays: `INSERT ... SELECT FROM unnest(:col1, :col2, ...)`.

psycopg2 sends each Python list as one array parameter, so a batch of N rows costs a handful of
parameters instead of SQLAlchemy's per-row parameter processing, and PostgreSQL parses one short
statement whatever N is (measured in the commit that introduced it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

_PG = postgresql.dialect()


def insert_from_arrays(table: sa.Table, columns: Sequence[str], tail: str = "") -> sa.TextClause:
    """The statement inserting one row per array position, in array order (`WITH ORDINALITY`),
    followed by `tail` (e.g. an ON CONFLICT or RETURNING clause). Bind `columns_of(rows, columns)`."""
    names = ", ".join(columns)
    arrays = ", ".join(f"CAST(:{name} AS {table.c[name].type.compile(dialect=_PG)}[])" for name in columns)
    return sa.text(
        f"INSERT INTO {table.fullname} ({names}) SELECT {names} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS v({names}, n) ORDER BY n {tail}".rstrip()
    )


def columns_of(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    """Rows (dicts) turned into one list per column: the parameters of `insert_from_arrays`."""
    return {name: [row[name] for row in rows] for name in columns}
