"""Repository functions the service needs beyond :mod:`nhihub.storage.repository`: bulk reads of
the facts the stateful rules look at, bulk refill writes, fast inserts of new visits and record
outcomes (JSON serialised where the record was read), the Y000 lookup, and the batch list of all
institutions. Plain SQLAlchemy Core on the caller's connection; no commits.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql

from nhihub.service.facts import RefillFacts, VisitFacts, refill_claim
from nhihub.service.prepared import ORDER_ROW, VISIT_ROW
from nhihub.storage import Batch, RecordOutcome, check_code
from nhihub.storage.repository._common import chunks
from nhihub.storage.repository.batches import _BATCH_COLUMNS, _batch
from nhihub.storage.schema import (
    order_lines,
    record_outcomes,
    refills,
    upload_batches,
    visits,
)

if TYPE_CHECKING:
    import psycopg

    from nhihub.service.prepared import PreparedVisit

# Any fixed 64-bit number (not the migrations' one): serialises the apply phase of batches on
# PostgreSQL, so the stateful rules always see every earlier applied batch.
_APPLY_LOCK_ID = 0x6E68_6170_706C  # "nhappl"

_FACT_COLUMNS = (
    visits.c.m15,
    visits.c.institution_code,
    visits.c.person_hash,
    visits.c.category,
    visits.c.visit_at,
    visits.c.deleted,
    visits.c.batch_id,
    visits.c.record_index,
    visits.c.m12,
    visits.c.m16,
    visits.c.m52,
)


def lock_apply(conn: Connection) -> None:
    """Take the apply lock for the rest of the transaction (PostgreSQL; SQLite's unit of work
    holds the database's write lock already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _APPLY_LOCK_ID})


@cache
def _sqlite_has_json() -> bool:
    """Whether the SQLite library has the JSON functions (built in since 3.38, usually long
    before)."""
    try:
        sqlite3.connect(":memory:").execute("SELECT count(*) FROM json_each('[1]')").fetchone()
    except sqlite3.Error:  # pragma: no cover - a library built without JSON
        return False
    return True


class Keys:
    """A set of keys made ready once for the queries that look them up (sorted, so an index is
    read in order; as JSON text for SQLite): a snapshot looks up tens of thousands of keys in
    several tables, mostly the same ones."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.set = frozenset(keys)
        self.values = sorted(self.set)
        self._json: str | None = None

    def json(self) -> str:
        if self._json is None:
            self._json = json.dumps(self.values)
        return self._json

    @classmethod
    def of(cls, keys: Iterable[str] | Keys) -> Keys:
        return keys if isinstance(keys, Keys) else cls(keys)


def key_in(
    conn: Connection, column: ColumnElement[str], keys: Iterable[str] | Keys
) -> Iterator[ColumnElement[bool]]:
    """Conditions ``column IN keys`` covering all ``keys``, however many: one, with the keys as
    a single parameter (an array on PostgreSQL, a JSON array read by ``json_each`` on SQLite),
    else IN lists of at most ``CHUNK`` keys. Nothing for no keys."""
    prepared = Keys.of(keys)
    values = prepared.values
    if not values:
        return
    if conn.dialect.name == "postgresql":
        yield column == any_(bindparam(None, values, type_=postgresql.ARRAY(Text())))
    elif _sqlite_has_json():
        each = func.json_each(bindparam(None, prepared.json(), type_=Text())).table_valued("value")
        yield column.in_(select(each.c.value))
    else:  # pragma: no cover
        for chunk in chunks(values):
            yield column.in_(chunk)


def _facts(row: Any, refill: tuple[int | None, str | None] = (None, None)) -> VisitFacts:
    return VisitFacts(
        m15=row.m15,
        institution=row.institution_code,
        person_hash=row.person_hash,
        category=row.category,
        visit_at=row.visit_at,
        deleted=bool(row.deleted),
        order_key=(row.batch_id, row.record_index),
        m12=row.m12,
        m16=row.m16,
        m52=row.m52,
        refill_no=refill[0],
        refill_kind=refill[1],
    )


def visit_facts(conn: Connection, m15s: Iterable[str] | Keys) -> dict[str, VisitFacts]:
    """Current versions (deleted too) of these visits, without their records."""
    found: dict[str, VisitFacts] = {}
    for where in key_in(conn, visits.c.m15, m15s):
        for row in conn.execute(select(*_FACT_COLUMNS).where(where)):
            found[row.m15] = _facts(row)
    return found


def replacement_visits(conn: Connection, identifiers: Iterable[str] | Keys) -> list[VisitFacts]:
    """Live visits whose M52 (實際就醫識別碼) is one of ``identifiers``."""
    out: list[VisitFacts] = []
    for where in key_in(conn, visits.c.m52, identifiers):
        rows = conn.execute(
            select(*_FACT_COLUMNS)
            .where(where, visits.c.deleted.is_(False))
            # several live 補卡 visits naming one M52: the last received one is found
            .order_by(visits.c.batch_id, visits.c.record_index)
        )
        out.extend(_facts(r) for r in rows)
    return out


def referrer_facts(conn: Connection, m15s: Iterable[str] | Keys) -> list[VisitFacts]:
    """Live visits whose M16 names one of ``m15s``, with the refill each dispenses (M33/M34,
    read from the stored record)."""
    out: list[VisitFacts] = []
    for where in key_in(conn, visits.c.m16, m15s):
        rows = conn.execute(
            select(*_FACT_COLUMNS, visits.c.record).where(where, visits.c.deleted.is_(False))
        )
        for r in rows:
            record = r.record if isinstance(r.record, dict) else {}
            mb1 = record.get("mb1") if isinstance(record.get("mb1"), dict) else {}
            out.append(_facts(r, refill_claim(mb1 or {})))
    return out


def _refill(row: Any) -> RefillFacts:
    return RefillFacts(
        m15=row.m15,
        refill_no=row.refill_no,
        state=row.state,
        rx_kind=row.rx_kind,
        dispensed_by=row.dispensed_by,
        dispensing_m15=row.dispensing_m15,
        dispensed_at=row.dispensed_at,
    )


def refill_rows(conn: Connection, m15s: Iterable[str] | Keys) -> dict[str, dict[int, RefillFacts]]:
    """Refill rows of these prescribing visits."""
    found: dict[str, dict[int, RefillFacts]] = {}
    for where in key_in(conn, refills.c.m15, m15s):
        query = select(refills).where(where).order_by(refills.c.m15, refills.c.refill_no)
        for row in conn.execute(query):
            found.setdefault(row.m15, {})[row.refill_no] = _refill(row)
    return found


def refills_claimed(conn: Connection, dispensing_m15s: Iterable[str] | Keys) -> list[RefillFacts]:
    """Refill rows recorded as dispensed by one of these visits."""
    out: list[RefillFacts] = []
    for where in key_in(conn, refills.c.dispensing_m15, dispensing_m15s):
        rows = conn.execute(select(refills).where(where))
        out.extend(_refill(r) for r in rows)
    return out


def write_refills(
    conn: Connection,
    rows: Sequence[RefillFacts],
    removed: Sequence[tuple[str, int]],
    *,
    batch_id: int,
    now: dt.datetime,
) -> None:
    """Insert or overwrite refill rows and remove others, in a few statements."""
    for chunk in chunks(sorted(removed)):
        conn.execute(delete(refills).where(tuple_(refills.c.m15, refills.c.refill_no).in_(chunk)))
    if not rows:
        return
    for r in rows:
        check_code("refill_state", r.state)
    c = refills.c
    changed = ("rx_kind", "state", "dispensed_by", "dispensing_m15", "dispensed_at", "batch_id")
    columns = ("m15", "refill_no", *changed, "updated_at")
    conflict = (("m15", "refill_no"), (*changed, "updated_at"))
    at = c.dispensed_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    tail = (batch_id, bound(conn, c.updated_at, now))
    params = [
        (
            r.m15,
            r.refill_no,
            r.rx_kind,
            r.state,
            r.dispensed_by,
            r.dispensing_m15,
            r.dispensed_at if at is None or r.dispensed_at is None else at(r.dispensed_at),
            *tail,
        )
        for r in rows
    ]
    if conn.dialect.name == "postgresql":
        copy_insert(conn, refills, columns, params, on_conflict=conflict)
    else:
        execute_rows(conn, insert_sql(conn, refills, columns, on_conflict_update=conflict), params)


def executemany(conn: Connection, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Execute ``stmt`` for many parameter sets at the driver level.

    The statement is compiled once and every value goes through its column type's bind
    processor (so stored values are exactly what SQLAlchemy would store), but the per-row work
    of SQLAlchemy's executemany is skipped: several times faster for large inserts.
    """
    if not rows:
        return
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    positional = bool(dialect.positional)
    names = list(compiled.positiontup or ()) if positional else list(compiled.binds)
    escaped = compiled.escaped_bind_names
    procs = [
        (
            escaped.get(name, name),
            compiled.binds[name].key,
            compiled.binds[name].type._cached_bind_processor(dialect),
        )
        for name in names
    ]
    params: list[Any]
    if positional:
        params = [tuple(p(row[key]) if p else row[key] for _, key, p in procs) for row in rows]
    else:
        params = [{n: (p(row[key]) if p else row[key]) for n, key, p in procs} for row in rows]
    conn.exec_driver_sql(compiled.string, params)


# -- bulk inserts of prepared rows --------------------------------------------------------------
#
# The apply phase inserts tens of thousands of rows whose values are already what the driver
# takes (see nhihub.service.checking.PreparedVisit): a plain INSERT ... VALUES executed with the
# driver's executemany (sqlite3 prepares it once; psycopg pipelines it), values in tuples.


def insert_sql(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    *,
    json_columns: Collection[str] = (),
    on_conflict_nothing: Sequence[str] = (),
    on_conflict_update: tuple[Sequence[str], Sequence[str]] | None = None,
) -> str:
    """``INSERT INTO table (columns) VALUES (...)`` in the driver's positional parameter style;
    ``json_columns`` take JSON text (PostgreSQL casts it); ``on_conflict_nothing``: the key
    columns of an ``ON CONFLICT DO NOTHING``; ``on_conflict_update``: (key columns, columns
    set to the new row's values) of an ``ON CONFLICT DO UPDATE``."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        mark = "?"
    elif style in ("format", "pyformat"):
        mark = "%s"
    else:  # pragma: no cover - nhihub supports SQLite (pysqlite) and PostgreSQL (psycopg)
        raise NotImplementedError(f"parameter style {style}")
    pg = conn.dialect.name == "postgresql"
    quote = conn.dialect.identifier_preparer.quote
    missing = set(columns) - set(table.c.keys())
    if missing:
        raise KeyError(f"{table.name} has no column {sorted(missing)}")
    marks = [f"CAST({mark} AS JSON)" if pg and c in json_columns else mark for c in columns]
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
        f"VALUES ({', '.join(marks)})"
    )
    if on_conflict_nothing:
        sql += f" ON CONFLICT ({', '.join(map(quote, on_conflict_nothing))}) DO NOTHING"
    elif on_conflict_update is not None:
        keys, update = on_conflict_update
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
        sql += f" ON CONFLICT ({', '.join(map(quote, keys))}) DO UPDATE SET {sets}"
    return sql


def bound(conn: Connection, column: Column[Any], value: Any) -> Any:
    """``value`` as the column's type hands it to the driver."""
    proc = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return value if proc is None else proc(value)


def execute_rows(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """Run ``sql`` once per row (driver-level executemany); returns the rows it changed as the
    driver counts them (-1 when it does not)."""
    if not rows:
        return 0
    result = conn.exec_driver_sql(sql, list(rows))
    return int(result.rowcount)


def copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """PostgreSQL: load rows with ``COPY ... FROM STDIN`` (text format) on the connection's own
    transaction. psycopg's executemany spends ~25 us of Python per row; COPY a few (the values
    are those :func:`insert_sql` statements take; the server reads JSON columns from text)."""
    quote = conn.dialect.identifier_preparer.quote
    sql = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN"
    dbapi = cast("psycopg.Connection[Any]", conn.connection.dbapi_connection)
    with dbapi.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def insert_plain(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    json_columns: Collection[str] = (),
) -> None:
    """Insert rows (no conflict expected): ``COPY`` on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        copy_rows(conn, table.name, columns, rows)
    else:
        execute_rows(conn, insert_sql(conn, table, columns, json_columns=json_columns), rows)


def copy_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    on_conflict: tuple[Sequence[str], Sequence[str]],
) -> int:
    """PostgreSQL: insert rows through ``COPY`` into a temporary copy of ``table`` and one
    ``INSERT ... SELECT`` from it (``COPY`` itself cannot handle a conflicting row);
    ``on_conflict``: (key columns, columns set to the new values, none: ``DO NOTHING``). At most
    one row per key. Returns how many rows were inserted or updated."""
    quote = conn.dialect.identifier_preparer.quote
    temp = f"nhihub_load_{table.name}"
    keys, update = on_conflict
    names = ", ".join(map(quote, columns))
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} (LIKE {quote(table.name)}) ON COMMIT DROP"
    )
    conn.exec_driver_sql(f"TRUNCATE {temp}")
    copy_rows(conn, temp, columns, rows)
    key = ", ".join(map(quote, keys))
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
        if update
        else "DO NOTHING"
    )
    result = conn.exec_driver_sql(
        f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM {temp} "
        f"ORDER BY {key} ON CONFLICT ({key}) {action}"
    )
    return int(result.rowcount)


# A prepared visit's row, whose first value is its M15: sorting by it sorts by M15 (unique in
# one insert), without a Python call per comparison.
_row_of = itemgetter(0)
_BATCH_COLUMNS_OF_VISIT = ("deleted", "version", "batch_id", "received_at")


def insert_new_visits(
    conn: Connection,
    rows: Sequence[PreparedVisit],
    *,
    batch_id: int,
    received_at: dt.datetime,
) -> set[str]:
    """Insert first versions of visits not stored yet (``ON CONFLICT DO NOTHING``) with their
    order lines; returns the identifiers inserted. The others must go through
    :func:`nhihub.storage.upsert_visits`. One M15 at most once in ``rows``."""
    if not rows:
        return set()
    columns = (*VISIT_ROW, *_BATCH_COLUMNS_OF_VISIT)
    c = visits.c
    tail = (
        bound(conn, c.deleted, False),
        1,
        bound(conn, c.batch_id, batch_id),
        bound(conn, c.received_at, received_at),
    )
    rows = sorted(rows, key=_row_of)
    values = [p.row + tail for p in rows]
    if conn.dialect.name == "postgresql":
        changed = copy_insert(conn, visits, columns, values, on_conflict=(("m15",), ()))
    else:
        sql = insert_sql(
            conn, visits, columns, json_columns={"record"}, on_conflict_nothing=("m15",)
        )
        changed = execute_rows(conn, sql, values)
    if changed == len(rows):
        inserted = {p.row[0] for p in rows}
    else:  # some were inserted meanwhile by another transaction: which rows are ours?
        inserted = set()
        for chunk in chunks(rows):
            keys = {p.m15: p.record_index for p in chunk}
            got = conn.execute(
                select(c.m15, c.batch_id, c.record_index).where(c.m15.in_(list(keys)))
            )
            inserted |= {m for m, b, i in got if b == batch_id and keys.get(m) == i}
    if len(inserted) == len(rows):
        lines = [o for p in rows for o in p.orders]
    else:
        lines = [o for p in rows if p.row[0] in inserted for o in p.orders]
    insert_plain(conn, order_lines, ORDER_ROW, lines)
    return inserted


OUTCOME_ROW = ("batch_id", "record_index", "line", "m15", "valid", "applied", "findings")


def delete_outcomes(conn: Connection, batch_id: int) -> None:
    """Remove the record outcomes of a batch (left from an earlier attempt)."""
    conn.execute(delete(record_outcomes).where(record_outcomes.c.batch_id == batch_id))


def insert_outcome_rows(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert record outcomes given as :data:`OUTCOME_ROW` tuples (``valid``/``applied`` bound
    with :func:`bound`, findings as JSON text)."""
    insert_plain(conn, record_outcomes, OUTCOME_ROW, rows, json_columns={"findings"})


def insert_outcomes(conn: Connection, batch_id: int, outcomes: Sequence[RecordOutcome]) -> None:
    """Store the outcome of each record (replacing any left from an earlier attempt)."""
    delete_outcomes(conn, batch_id)
    c = record_outcomes.c
    flags = {b: bound(conn, c.valid, b) for b in (False, True)}
    insert_outcome_rows(
        conn,
        [
            (
                batch_id,
                o.record_index,
                o.line,
                o.m15,
                flags[o.valid],
                flags[o.applied],
                json.dumps(
                    [list(f) for f in o.findings], ensure_ascii=False, separators=(",", ":")
                ),
            )
            for o in outcomes
        ],
    )


def v2_visit_keys(
    conn: Connection, person_hashes: Iterable[bytes]
) -> set[tuple[bytes, dt.datetime | None, str]]:
    """(person hash, visit time, institution) of the live 2.0 visits of these persons: the Y000
    match key of a 1.0 record."""
    found: set[tuple[bytes, dt.datetime | None, str]] = set()
    for chunk in chunks(sorted(set(person_hashes))):
        rows = conn.execute(
            select(visits.c.person_hash, visits.c.visit_at, visits.c.institution_code).where(
                visits.c.person_hash.in_(chunk), visits.c.deleted.is_(False)
            )
        )
        found.update((bytes(h), at, inst) for h, at, inst in rows)
    return found


def list_all_batches(
    conn: Connection,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    institution_code: str | None = None,
) -> list[Batch]:
    """Batches received in ``[since, until)``, of one institution or all, oldest first."""
    query = select(*_BATCH_COLUMNS)
    b = upload_batches.c
    if institution_code is not None:
        query = query.where(b.institution_code == institution_code)
    if since is not None:
        query = query.where(b.received_at >= since)
    if until is not None:
        query = query.where(b.received_at < until)
    return [_batch(r) for r in conn.execute(query.order_by(b.id))]
