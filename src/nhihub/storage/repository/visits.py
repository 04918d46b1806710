"""Visits (current version per 就醫識別碼), their earlier versions and their order lines.

The last received version wins (後蓋前): every version of a visit is kept, and the current one is
the version with the highest receiving order (batch id, record index), whatever order workers
happen to apply batches in. Version numbers count versions in the order they were stored.

Writes lock the current rows (``FOR UPDATE`` on PostgreSQL, the single writer on SQLite); new
visits are inserted with ``ON CONFLICT DO NOTHING`` and, if another transaction inserted the same
identifier first, handled as replacements. Run a batch's writes in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, literal, or_, select, update

from nhihub.protect import PiiCipher
from nhihub.storage.repository._common import chunks, now_or, upsert_insert
from nhihub.storage.rows import OrderLine, Visit
from nhihub.storage.schema import order_lines, visit_versions, visits

INSERTED = "inserted"  # a new visit
REPLACED = "replaced"  # became the current version, the previous one kept as earlier version
ARCHIVED = "archived"  # older than the current version: kept as an earlier version only

_VISIT_FIELDS = tuple(c.name for c in visits.c)
_ORDER_FIELDS = tuple(c.name for c in order_lines.c if c.name != "m15")


def _params(visit: Visit, version: int) -> dict[str, Any]:
    return {
        "m15": visit.m15,
        "institution_code": visit.institution_code,
        "person_hash": visit.person_hash,
        "person_enc": visit.person_enc,
        "birth_date": visit.birth_date,
        "visit_at": visit.visit_at,
        "visit_date": visit.visit_date,
        "category": visit.category,
        "h00": visit.h00,
        "h01": visit.h01,
        "m12": visit.m12,
        "m16": visit.m16,
        "m52": visit.m52,
        "deleted": visit.deleted,
        "version": version,
        "batch_id": visit.batch_id,
        "record_index": visit.record_index,
        "received_at": visit.received_at,
        "record": visit.record,
    }


def _visit(row: Any, cipher: PiiCipher | None) -> Visit:
    m = row._mapping
    return Visit(
        m15=m["m15"],
        institution_code=m["institution_code"],
        person_hash=m["person_hash"],
        person_enc=m["person_enc"],
        birth_date=m["birth_date"],
        visit_at=m["visit_at"],
        category=m["category"],
        h00=m["h00"],
        h01=m["h01"],
        m12=m["m12"],
        m16=m["m16"],
        m52=m["m52"],
        deleted=m["deleted"],
        version=m["version"],
        batch_id=m["batch_id"],
        record_index=m["record_index"],
        received_at=m["received_at"],
        record=m["record"],
        person_id=None if cipher is None else cipher.decrypt(m["person_enc"]),
        superseded_at=m.get("superseded_at"),
    )


# -- reads ---------------------------------------------------------------------------------------


def get_visit(
    conn: Connection, m15: str, *, cipher: PiiCipher | None = None, for_update: bool = False
) -> Visit | None:
    """The current version (deleted ones too: check ``deleted``). The person ID is decrypted
    only when a ``cipher`` is given."""
    query = select(visits).where(visits.c.m15 == m15)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _visit(row, cipher)


def get_visits(conn: Connection, m15s: Iterable[str]) -> dict[str, Visit]:
    """Current versions of many visits at once (person IDs stay encrypted)."""
    found: dict[str, Visit] = {}
    for chunk in chunks(sorted(set(m15s))):
        for row in conn.execute(select(visits).where(visits.c.m15.in_(chunk))):
            visit = _visit(row, None)
            found[visit.m15] = visit
    return found


def get_visit_versions(
    conn: Connection, m15: str, *, cipher: PiiCipher | None = None
) -> list[Visit]:
    """Earlier versions, oldest stored first (the current one is not included)."""
    rows = conn.execute(
        select(visit_versions).where(visit_versions.c.m15 == m15).order_by(visit_versions.c.version)
    )
    return [_visit(r, cipher) for r in rows]


def visits_referencing(conn: Connection, m15: str) -> list[Visit]:
    """Current, not deleted visits whose M16 (original visit) or M52 (real visit) is ``m15``:
    what other visits were executed on the basis of this one."""
    rows = conn.execute(
        select(visits)
        .where(or_(visits.c.m16 == m15, visits.c.m52 == m15), visits.c.deleted.is_(False))
        .order_by(visits.c.m15)
    )
    return [_visit(r, None) for r in rows]


def find_visits_by_person(conn: Connection, person_hash: bytes) -> list[Visit]:
    """Current versions of one person's visits (by lookup hash), by visit time."""
    rows = conn.execute(
        select(visits)
        .where(visits.c.person_hash == person_hash)
        .order_by(visits.c.visit_at, visits.c.m15)
    )
    return [_visit(r, None) for r in rows]


def get_order_lines(conn: Connection, m15: str) -> list[OrderLine]:
    rows = conn.execute(
        select(order_lines).where(order_lines.c.m15 == m15).order_by(order_lines.c.line_no)
    )
    return [OrderLine(**{name: r._mapping[name] for name in _ORDER_FIELDS}) for r in rows]


# -- order lines -------------------------------------------------------------------------------


def _order_params(m15: str, line: OrderLine) -> dict[str, Any]:
    return {"m15": m15, **{name: getattr(line, name) for name in _ORDER_FIELDS}}


def replace_order_lines(conn: Connection, m15: str, lines: Sequence[OrderLine]) -> None:
    """Make ``lines`` the order lines of the visit's current version."""
    _replace_order_lines(conn, {m15: lines})


def _replace_order_lines(conn: Connection, by_m15: dict[str, Sequence[OrderLine]]) -> None:
    keys = sorted(by_m15)
    for chunk in chunks(keys):
        conn.execute(delete(order_lines).where(order_lines.c.m15.in_(chunk)))
    params = [_order_params(m15, line) for m15 in keys for line in by_m15[m15]]
    if params:
        conn.execute(order_lines.insert(), params)


# -- writes ------------------------------------------------------------------------------------


def _lock_current(conn: Connection, m15s: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """Lock the current rows (in key order, so two writers cannot deadlock) and return
    m15 -> (version, batch id, record index)."""
    rows = conn.execute(
        select(visits.c.m15, visits.c.version, visits.c.batch_id, visits.c.record_index)
        .where(visits.c.m15.in_(m15s))
        .order_by(visits.c.m15)
        .with_for_update()
    )
    return {r.m15: (r.version, r.batch_id, r.record_index) for r in rows}


def _max_archived(conn: Connection, m15s: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(
        select(visit_versions.c.m15, func.max(visit_versions.c.version))
        .where(visit_versions.c.m15.in_(m15s))
        .group_by(visit_versions.c.m15)
    )
    return {m15: int(v) for m15, v in rows}


def _archive_current(conn: Connection, m15s: Sequence[str], now: dt.datetime) -> None:
    """Copy the current rows into visit_versions (server side, no round trip of the record)."""
    if not m15s:
        return
    columns = [visits.c[name] for name in _VISIT_FIELDS]
    conn.execute(
        visit_versions.insert().from_select(
            [*_VISIT_FIELDS, "superseded_at"],
            select(*columns, literal(now, visit_versions.c.superseded_at.type)).where(
                visits.c.m15.in_(m15s)
            ),
        )
    )


def _insert_new(conn: Connection, params: list[dict[str, Any]]) -> set[str]:
    """Insert new current rows; returns the identifiers actually inserted (a concurrent
    transaction may have inserted some of them first: those rows carry its receiving order)."""
    if not params:
        return set()
    # A plain executemany (no RETURNING) is several times faster on psycopg; which rows are
    # ours is then read back by their receiving order, unique to each record.
    stmt = upsert_insert(conn, visits).on_conflict_do_nothing(index_elements=[visits.c.m15])
    conn.execute(stmt, params)
    keys = {p["m15"]: (p["batch_id"], p["record_index"]) for p in params}
    rows = conn.execute(
        select(visits.c.m15, visits.c.batch_id, visits.c.record_index).where(
            visits.c.m15.in_(list(keys))
        )
    )
    return {r.m15 for r in rows if (r.batch_id, r.record_index) == keys[r.m15]}


def upsert_visits(
    conn: Connection, rows: Sequence[Visit], *, now: dt.datetime | None = None
) -> list[str]:
    """Store visit versions; returns, per input row, ``inserted``, ``replaced`` or ``archived``.

    For each identifier the version received last (highest ``order_key``) among the stored and
    the given ones becomes current; all others are kept in ``visit_versions``. The order lines
    of every visit whose current version changed are replaced by the new version's ``orders``.
    """
    moment = now_or(now)
    outcome = [""] * len(rows)
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(row.m15, []).append(i)
    for positions in groups.values():
        positions.sort(key=lambda i: rows[i].order_key)

    for chunk in chunks(sorted(groups)):
        pending = list(chunk)
        changed: dict[str, Sequence[OrderLine]] = {}
        archive: list[dict[str, Any]] = []
        for _ in range(2):  # a second round for identifiers a concurrent writer inserted first
            current = _lock_current(conn, pending)
            new = [m15 for m15 in pending if m15 not in current]
            inserted = _insert_new(
                conn, [_params(rows[groups[m][-1]], len(groups[m])) for m in new]
            )
            for m15 in inserted:
                *older, newest = groups[m15]
                outcome[newest] = INSERTED
                changed[m15] = rows[newest].orders
                for version, i in enumerate(older, 1):
                    outcome[i] = ARCHIVED
                    archive.append({**_params(rows[i], version), "superseded_at": moment})
            existing = [m15 for m15 in pending if m15 in current]
            _replace_existing(conn, rows, groups, existing, current, moment, outcome, archive)
            for m15 in existing:
                newest = groups[m15][-1]
                if outcome[newest] == REPLACED:
                    changed[m15] = rows[newest].orders
            pending = [m15 for m15 in new if m15 not in inserted]
            if not pending:
                break
        if pending:  # pragma: no cover - visits are never deleted physically
            raise RuntimeError(f"could not store visits {pending}")
        if archive:
            conn.execute(visit_versions.insert(), archive)
        _replace_order_lines(conn, changed)
    return outcome


def _replace_existing(
    conn: Connection,
    rows: Sequence[Visit],
    groups: dict[str, list[int]],
    existing: list[str],
    current: dict[str, tuple[int, int, int]],
    moment: dt.datetime,
    outcome: list[str],
    archive: list[dict[str, Any]],
) -> None:
    if not existing:
        return
    max_archived = _max_archived(conn, existing)
    replaced: list[str] = []
    updates: list[dict[str, Any]] = []
    for m15 in existing:
        version, batch_id, record_index = current[m15]
        next_version = max(version, max_archived.get(m15, 0)) + 1
        positions = groups[m15]
        newest = positions[-1]
        takes_over = rows[newest].order_key > (batch_id, record_index)
        for offset, i in enumerate(positions):
            number = next_version + offset
            if i == newest and takes_over:
                outcome[i] = REPLACED
                replaced.append(m15)
                params = _params(rows[i], number)
                params["b_m15"] = params.pop("m15")
                updates.append(params)
            else:
                outcome[i] = ARCHIVED
                archive.append({**_params(rows[i], number), "superseded_at": moment})
    _archive_current(conn, replaced, moment)
    if updates:
        conn.execute(update(visits).where(visits.c.m15 == bindparam("b_m15")), updates)


def upsert_visit(conn: Connection, visit: Visit, *, now: dt.datetime | None = None) -> str:
    """Store one visit version (see :func:`upsert_visits`)."""
    return upsert_visits(conn, [visit], now=now)[0]


def mark_visit_deleted(
    conn: Connection,
    m15: str,
    *,
    batch_id: int,
    record_index: int,
    received_at: dt.datetime,
    now: dt.datetime | None = None,
) -> str:
    """整筆刪除: a new current version with ``deleted`` set and H01 ``D``, keeping the content.

    Returns ``deleted``, ``not_found`` (no such visit) or ``archived`` (a later version was
    received after this deletion: the deletion is superseded and changes nothing).
    """
    moment = now_or(now)
    current = _lock_current(conn, [m15]).get(m15)
    if current is None:
        return "not_found"
    version, cur_batch, cur_index = current
    if (batch_id, record_index) <= (cur_batch, cur_index):
        return ARCHIVED
    next_version = max(version, _max_archived(conn, [m15]).get(m15, 0)) + 1
    _archive_current(conn, [m15], moment)
    conn.execute(
        update(visits)
        .where(visits.c.m15 == m15)
        .values(
            deleted=True,
            h01="D",
            version=next_version,
            batch_id=batch_id,
            record_index=record_index,
            received_at=received_at,
        )
    )
    return "deleted"
