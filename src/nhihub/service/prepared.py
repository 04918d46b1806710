"""Visit versions prepared for storing where the record was read (possibly in a worker
process): the ``visits`` and ``order_lines`` values as the database driver takes them, so the
apply phase only executes the inserts. Values are converted with SQLAlchemy's own bind
processors of the columns, so what is stored is exactly what SQLAlchemy would store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Dialect
from sqlalchemy.engine import make_url

from nhihub.storage import OrderLine, Visit
from nhihub.storage.mapping import layout
from nhihub.storage.schema import visits

Bind = Callable[[Any], Any]

# The ``visits`` columns a prepared visit carries, in this order (the batch adds the rest), and
# the ``order_lines`` columns of its lines.
VISIT_ROW = (
    "m15",
    "institution_code",
    "person_hash",
    "person_enc",
    "birth_date",
    "visit_at",
    "visit_date",
    "category",
    "h00",
    "h01",
    "m12",
    "m16",
    "m52",
    "record_index",
    "record",
)
ORDER_ROW = ("m15", "line_no", *(name for name, _ in layout("2.0").orders))
DATE_COLUMNS = ("birth_date", "visit_at", "visit_date")
_ROW_AT = {name: i for i, name in enumerate(VISIT_ROW)}


def dialect_label(dialect: Dialect) -> str:
    """``sqlite+pysqlite``, ``postgresql+psycopg``: which driver prepared rows are for."""
    return f"{dialect.name}+{dialect.driver}"


@cache
def date_binds(label: str) -> dict[str, Bind | None]:
    """The bind processors of the visits' date columns for a dialect (:func:`dialect_label`):
    SQLite keeps dates as text, psycopg takes the Python values (``None``: no conversion).
    Applied where the record is read, so the rows cross the process boundary as plain strings."""
    dialect = make_url(f"{label}://").get_dialect()()
    procs = {
        name: visits.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in DATE_COLUMNS
    }
    return {name: faster_bind(proc) for name, proc in procs.items()}


def _iso_date(value: Any) -> str:
    text: str = value.isoformat()
    return text


def _iso_datetime(value: Any) -> str:
    text: str = value.isoformat(" ", "microseconds")
    return text


# Values a faster conversion must turn into the same text as SQLAlchemy's own before it is used:
# the ends of the years the ROC calendar of the files can write (民國1年-999年), and inside them.
_DATE_PROBES = (dt.date(1912, 1, 1), dt.date(2024, 2, 29), dt.date(2910, 12, 31))
_DATETIME_PROBES = (
    dt.datetime(1912, 1, 1),
    dt.datetime(2024, 10, 5, 9, 7, 3),
    dt.datetime(2024, 10, 5, 9, 7, 3, 1),
    dt.datetime(2910, 12, 31, 23, 59, 59, 999_999),
)


def faster_bind(proc: Bind | None) -> Bind | None:
    """``proc``, or a C-speed equivalent (``isoformat``) when it gives the same text for every
    probe: SQLAlchemy's SQLite date processors format with ``%`` in Python, about 2 us per
    visit time, once per stored visit."""
    if proc is None:
        return None
    candidates: tuple[tuple[Bind, tuple[dt.date, ...]], ...] = (
        (_iso_datetime, _DATETIME_PROBES),
        (_iso_date, _DATE_PROBES),
    )
    for fast, probes in candidates:
        try:
            if all(proc(p) == fast(p) for p in probes):
                return fast
        except (TypeError, ValueError, AttributeError):  # a processor of the other type
            continue
    return proc


def _result_procs(dialect: Dialect) -> dict[str, Bind | None]:
    return {
        name: visits.c[name].type.dialect_impl(dialect).result_processor(dialect, None)
        for name in DATE_COLUMNS
    }


class PreparedVisit(NamedTuple):
    """A visit version ready to store: the ``visits`` values in :data:`VISIT_ROW` order as the
    database driver takes them (person ID encrypted and hashed, record JSON without it as text,
    dates in the dialect's form) and its order lines' values in :data:`ORDER_ROW` order.
    (A named tuple: one is made per stored visit, and again where it arrives from a worker
    process.)"""

    row: tuple[Any, ...]
    orders: tuple[tuple[Any, ...], ...]

    @property
    def m15(self) -> str:
        m15: str = self[0][0]
        return m15

    @property
    def record_index(self) -> int:
        index: int = self[0][_ROW_AT["record_index"]]
        return index

    def value(self, column: str) -> Any:
        """The value of one of :data:`VISIT_ROW`'s columns."""
        return self[0][_ROW_AT[column]]

    def to_visit(self, dialect: Dialect, batch_id: int, received_at: dt.datetime) -> Visit:
        """The same version as a :class:`~nhihub.storage.Visit` (for ``upsert_visits``), dates
        read back from the driver's form of ``dialect``."""
        values = dict(zip(VISIT_ROW, self.row, strict=True))
        for name, proc in _result_procs(dialect).items():
            if proc is not None and values[name] is not None:
                values[name] = proc(values[name])
        del values["visit_date"]  # derived from visit_at
        record = json.loads(values.pop("record"))
        return Visit(
            **values,
            record=record,
            batch_id=batch_id,
            received_at=received_at,
            orders=tuple(OrderLine(*o[1:]) for o in self.orders),  # without M15
        )
