"""Prepared visit rows: the date values as SQLAlchemy's own column types would bind them."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from nhihub.service.prepared import DATE_COLUMNS, date_binds, faster_bind
from nhihub.storage.schema import visits

# the years the ROC dates of the files can write (民國1年-999年)
_DATETIMES = st.datetimes(dt.datetime(1912, 1, 1), dt.datetime(2910, 12, 31, 23, 59, 59))


def _sqlalchemy_binds(label: str) -> dict[str, object]:
    dialect = make_url(f"{label}://").get_dialect()()
    return {
        name: visits.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in DATE_COLUMNS
    }


@given(_DATETIMES)
def test_sqlite_date_values_are_what_sqlalchemy_binds(moment: dt.datetime) -> None:
    ours = date_binds("sqlite+pysqlite")
    theirs = _sqlalchemy_binds("sqlite+pysqlite")
    for name in DATE_COLUMNS:
        value = moment if name == "visit_at" else moment.date()
        ours_bind, their_bind = ours[name], theirs[name]
        assert ours_bind is not None and callable(their_bind)
        assert ours_bind(value) == their_bind(value)
    assert ours["visit_at"] is not theirs["visit_at"]  # the faster conversion is in use


def test_postgresql_takes_the_python_values() -> None:
    assert set(date_binds("postgresql+psycopg").values()) == {None}


def test_a_processor_that_differs_is_kept() -> None:
    def other(value: dt.date) -> str:
        return value.strftime("%d/%m/%Y")

    assert faster_bind(other) is other
    assert faster_bind(None) is None
