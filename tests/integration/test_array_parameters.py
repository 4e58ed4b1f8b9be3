"""Batch writes over arrays (mesh.arrays) against the real PostgreSQL: a column sent as one string
in array syntax (`array_literal`) stores exactly what psycopg2's own `ARRAY[...]` form stores, for
every kind of value the services write, including text that looks like array syntax."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh.arrays import array_literal, columns_of, insert_from_arrays

pytestmark = pytest.mark.integration

COLUMNS = ("seq", "label", "count", "ratio", "flag", "day", "at", "ref", "blob")


@pytest.fixture(scope="module")
def table(engine: sa.Engine, pg_schema: str) -> Iterator[sa.Table]:
    table = sa.Table(
        "arrays",
        sa.MetaData(),
        sa.Column("form", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("label", sa.Text),
        sa.Column("count", sa.BigInteger),
        sa.Column("ratio", sa.Float),
        sa.Column("flag", sa.Boolean),
        sa.Column("day", sa.Date),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("ref", sa.Uuid),
        sa.Column("blob", sa.LargeBinary),
        schema=pg_schema,
    )
    table.create(engine)
    yield table
    table.drop(engine)


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "label": st.none() | texts | st.sampled_from(['{"a",b}', "NULL", "a\\b", 'q"q', " ", "", "{}", ","]),
            "count": st.none() | st.integers(-(2**63), 2**63 - 1),
            "ratio": st.none() | st.floats(allow_nan=True, allow_infinity=True),
            "flag": st.none() | st.booleans(),
            "day": st.none() | st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
            "at": st.none()
            | st.datetimes(
                min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
            ).map(lambda moment: moment.astimezone(timezone(timedelta(hours=5, minutes=30)))),
            "ref": st.none() | st.uuids(),
            "blob": st.none() | st.binary(max_size=8),
        }
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=rows)
def test_one_string_per_column_stores_what_psycopg2s_arrays_store(engine, table, batch):
    for n, row in enumerate(batch):
        row["seq"] = n
    statement = insert_from_arrays(table, COLUMNS, same={"form": ":form"})
    with engine.begin() as conn:
        conn.execute(sa.delete(table))
        conn.execute(statement, columns_of(batch, COLUMNS) | {"form": "literal"})
        conn.execute(statement, {name: [row[name] for row in batch] for name in COLUMNS} | {"form": "list"})
        stored = conn.execute(sa.select(table).order_by(table.c.form, table.c.seq)).all()
    as_lists = [tuple(row)[1:] for row in stored if row.form == "list"]
    as_literal = [tuple(row)[1:] for row in stored if row.form == "literal"]
    assert len(as_literal) == len(as_lists) == len(batch)
    assert [_comparable(r) for r in as_literal] == [_comparable(r) for r in as_lists]
    assert [r[0] for r in as_literal] == list(range(len(batch))), "array order kept"


def test_values_it_cannot_write_in_array_syntax_are_left_to_psycopg2():
    assert array_literal(["a", None, 3, True]) == '{"a",NULL,3,True}'
    assert array_literal([b"\x00"]) == [b"\x00"]
    assert array_literal(["a", 1.5, object]) == ["a", 1.5, object]


def _comparable(row: tuple) -> tuple:
    return tuple("nan" if isinstance(value, float) and math.isnan(value) else value for value in row)
