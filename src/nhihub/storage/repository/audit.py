"""The audit log: who read or changed what, and when. Person IDs never go in (not in clear,
and not as anything a person ID can be read back from): entries that look like they carry a
Taiwan national ID or resident certificate number are refused."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Connection, select

from nhihub.storage.repository._common import now_or
from nhihub.storage.rows import AuditEntry
from nhihub.storage.schema import audit_log

# Shape of a national ID / resident certificate number (letter, 1/2/8/9/A-D, 8 digits) standing
# on its own; 20-character visit identifiers never match because there is no boundary inside.
_PERSON_ID_SHAPE = re.compile(r"(?<![0-9A-Za-z])[A-Za-z][12890A-Da-d][0-9]{8}(?![0-9A-Za-z])")
_FIELDS = tuple(AuditEntry.__dataclass_fields__)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def append_audit(conn: Connection, entry: AuditEntry, *, now: dt.datetime | None = None) -> int:
    """Append an entry (``at`` defaults to now); returns its id."""
    texts = _strings([entry.object_id, entry.detail, entry.action, entry.object_type])
    if any(_PERSON_ID_SHAPE.search(t) for t in texts):
        raise ValueError("稽核紀錄不可含身分證號 / an audit entry must not contain a person ID")
    values = {name: getattr(entry, name) for name in _FIELDS if name != "id"}
    values["at"] = entry.at if entry.at is not None else now_or(now)
    result = conn.execute(audit_log.insert().values(values).returning(audit_log.c.id))
    return int(result.scalar_one())


def list_audit(
    conn: Connection,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    institution_code: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """Entries, oldest first, filtered by object and/or the actor's institution."""
    query = select(audit_log)
    if object_type is not None:
        query = query.where(audit_log.c.object_type == object_type)
    if object_id is not None:
        query = query.where(audit_log.c.object_id == object_id)
    if institution_code is not None:
        query = query.where(audit_log.c.institution_code == institution_code)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    rows = conn.execute(query.order_by(audit_log.c.id).limit(limit))
    return [AuditEntry(**{k: r._mapping[k] for k in _FIELDS}) for r in rows]
