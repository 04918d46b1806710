"""The queries behind the dashboards (I/O edge); the aggregation is pure, in
:mod:`nhihub.reports.dashboard`. Date ranges are Taiwan dates, both ends included: of receipt
for uploads, check codes and blocked refills; of the visit for the timeliness share."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Text, cast, false, func, select

from nhihub.reports.dashboard import (
    BatchFact,
    BlockFact,
    CodeCount,
    Dashboard,
    RefillBlocks,
    Timeliness,
    UploadDay,
    VisitFact,
    refill_blocks,
    top_check_codes,
    totals_by_day,
    upload_timeliness,
    uploads_per_day,
)
from nhihub.reports.spec import reports_spec
from nhihub.reports.timeutil import day_bounds
from nhihub.storage.schema import record_outcomes, upload_batches, visit_versions, visits

_NO_FINDINGS = "[]"


def _received_in(first: dt.date, last: dt.date, institution: str | None) -> ColumnElement[bool]:
    start, end = day_bounds(first, last)
    b = upload_batches.c
    condition = (b.received_at >= start) & (b.received_at < end)
    if institution is not None:
        condition = condition & (b.institution_code == institution)
    return condition


def upload_activity(
    conn: Connection, first: dt.date, last: dt.date, institution: str | None = None
) -> list[UploadDay]:
    """Uploads per Taiwan day of receipt and institution."""
    b = upload_batches.c
    query = select(
        b.received_at, b.institution_code, b.records, b.valid_records, b.invalid_records
    ).where(_received_in(first, last, institution))
    return uploads_per_day(BatchFact(*r) for r in conn.execute(query))


def _findings(value: Any) -> list[list[str | None]]:
    # The JSON column comes back parsed; a text value (a driver returning raw JSON) is parsed.
    data = json.loads(value) if isinstance(value, str) else value
    return data if isinstance(data, list) else []


def _findings_rows(
    conn: Connection, first: dt.date, last: dt.date, institution: str | None, pattern: str | None
) -> Iterator[tuple[Any, ...]]:
    o, b = record_outcomes.c, upload_batches.c
    text = cast(o.findings, Text)
    query = (
        select(o.findings, b.received_at, b.institution_code)
        .join_from(record_outcomes, upload_batches, o.batch_id == b.id)
        .where(_received_in(first, last, institution), text != _NO_FINDINGS)
    )
    if pattern is not None:
        query = query.where(text.like(pattern))
    yield from conn.execute(query.execution_options(yield_per=10_000))


def check_code_ranking(
    conn: Connection,
    first: dt.date,
    last: dt.date,
    institution: str | None = None,
    limit: int | None = None,
) -> list[CodeCount]:
    """The most frequent check codes of records received in the range, with their wording."""
    rows = _findings_rows(conn, first, last, institution, None)
    return top_check_codes((_findings(r[0]) for r in rows), limit)


def timeliness(
    conn: Connection, first: dt.date, last: dt.date, institution: str | None = None
) -> Timeliness:
    """Share of the (not deleted) visits of the range first uploaded within 24 hours: the
    first receipt is the earliest of the current and every earlier stored version."""
    v, w = visits.c, visit_versions.c
    earlier = select(func.min(w.received_at)).where(w.m15 == v.m15).scalar_subquery()
    query = select(v.institution_code, v.visit_at, v.received_at, earlier).where(
        v.visit_date.between(first, last), v.deleted == false(), v.visit_at.is_not(None)
    )
    if institution is not None:
        query = query.where(v.institution_code == institution)

    def facts() -> Iterator[VisitFact]:
        for code, visit_at, received, before in conn.execute(query):
            first_seen = received if before is None else min(received, _aware(before))
            yield VisitFact(code, visit_at, first_seen)

    return upload_timeliness(facts(), first, last)


def _aware(value: dt.datetime | str) -> dt.datetime:
    # MIN() over a UtcDateTime keeps the type on both backends; text is parsed defensively.
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def duplicate_dispensing(
    conn: Connection, first: dt.date, last: dt.date, institution: str | None = None
) -> RefillBlocks:
    """Records refused as duplicate dispensing of a refill (D025), by day and institution."""
    code = reports_spec().dashboard.refill_block_code
    rows = _findings_rows(conn, first, last, institution, f'%"{code}"%')

    def facts() -> Iterator[BlockFact]:
        for findings, received, inst in rows:
            if any(len(f) >= 2 and f[1] == code for f in _findings(findings)):
                yield BlockFact(received, inst)

    return refill_blocks(facts(), first, last)


def dashboard(
    conn: Connection, first: dt.date, last: dt.date, institution: str | None = None
) -> Dashboard:
    """Every dashboard of the range at once."""
    uploads: Sequence[UploadDay] = upload_activity(conn, first, last, institution)
    return Dashboard(
        first_day=first,
        last_day=last,
        institution=institution,
        uploads=tuple(uploads),
        uploads_by_day=tuple(totals_by_day(uploads, first, last, "uploads")),
        records_by_day=tuple(totals_by_day(uploads, first, last, "records")),
        top_codes=tuple(check_code_ranking(conn, first, last, institution)),
        timeliness=timeliness(conn, first, last, institution),
        refill_blocks=duplicate_dispensing(conn, first, last, institution),
    )
