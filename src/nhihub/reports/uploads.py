"""健保卡就醫資料上傳檢核結果查詢: the upload-result listing (seed 001, upload-format-2.0.md §7).

Per upload, newest first: 上傳日期/時間, 接收日期/時間, 接收筆數, 有效明細筆數, 接收醫令, 有效醫令,
無效明細筆數, 無效醫令 and the last column: 檢核無誤 (no invalid record or order) or the result
downloads; uploads still waiting, failed or refused whole say so. The date range is on the
receiving date (Taiwan), which nhihub knows for every upload (the client's stated upload time
may be missing or wrong).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from nhihub.reports.spec import reports_spec
from nhihub.reports.timeutil import day_bounds, to_taiwan
from nhihub.storage.schema import upload_batches

OK = "ok"  # 檢核無誤
DOWNLOAD = "download"  # 下載 / 加密下載
PENDING = "pending"
FAILED = "failed"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class UploadRow:
    """One line of the upload-result screen. Times are Taiwan local."""

    seq: int  # 序號 (1 = newest)
    batch_id: int  # also the Opcode
    institution_code: str
    kind: str  # A1 正式 | A2 預檢 | ZZ 測試
    channel: str
    format_version: str | None
    file_name: str | None
    uploaded_at: dt.datetime  # 上傳日期/時間: the client's sUploadDT, else the receiving time
    received_at: dt.datetime  # 接收日期/時間
    records: int  # 接收筆數
    valid_records: int  # 有效明細筆數
    orders: int  # 接收醫令
    valid_orders: int  # 有效醫令
    invalid_records: int  # 無效明細筆數
    invalid_orders: int  # 無效醫令
    status: str  # batch status (received | processing | done | failed | rejected)
    state: str  # ok | download | pending | failed | rejected

    @property
    def no_errors(self) -> bool:
        """檢核無誤: nothing to download."""
        return self.state == OK

    @property
    def downloadable(self) -> bool:
        return self.state == DOWNLOAD

    def state_text(self, lang: str = "zh") -> str:
        return reports_spec().upload_states[self.state][lang]


def upload_state(status: str, invalid_records: int, invalid_orders: int) -> str:
    """The screen's last column for a batch (``ok``, ``download``, ``pending`` ...)."""
    if status in ("received", "processing"):
        return PENDING
    if status in (FAILED, REJECTED):
        return status
    return OK if invalid_records == 0 and invalid_orders == 0 else DOWNLOAD


def build_upload_rows(batches: Iterable[dict[str, Any]]) -> list[UploadRow]:
    """Screen rows from batch rows (column names of ``upload_batches``), newest received first."""
    ordered = sorted(batches, key=lambda b: (b["received_at"], b["id"]), reverse=True)
    rows = []
    for seq, b in enumerate(ordered, 1):
        received = to_taiwan(b["received_at"])
        rows.append(
            UploadRow(
                seq=seq,
                batch_id=b["id"],
                institution_code=b["institution_code"],
                kind=b["kind"],
                channel=b["channel"],
                format_version=b["format_version"],
                file_name=b["file_name"],
                uploaded_at=b["uploaded_at"] or received,
                received_at=received,
                records=b["records"],
                valid_records=b["valid_records"],
                orders=b["orders"],
                valid_orders=b["valid_orders"],
                invalid_records=b["invalid_records"],
                invalid_orders=b["invalid_orders"],
                status=b["status"],
                state=upload_state(b["status"], b["invalid_records"], b["invalid_orders"]),
            )
        )
    return rows


_COLUMNS = ("id", "institution_code", "kind", "channel", "format_version", "file_name",
            "uploaded_at", "received_at", "records", "valid_records", "orders", "valid_orders",
            "invalid_records", "invalid_orders", "status")  # fmt: skip


def upload_results(
    conn: Connection,
    institution: str | None,
    date_from: dt.date,
    date_to: dt.date,
    *,
    kinds: Collection[str] | None = None,
) -> list[UploadRow]:
    """Uploads of ``institution`` (``None``: every institution) received on Taiwan dates
    ``date_from``..``date_to`` (both included), newest first; ``kinds`` limits the sTypes."""
    start, end = day_bounds(date_from, date_to)
    b = upload_batches.c
    query = select(*(b[c] for c in _COLUMNS)).where(b.received_at >= start, b.received_at < end)
    if institution is not None:
        query = query.where(b.institution_code == institution)
    if kinds is not None:
        query = query.where(b.kind.in_(sorted(kinds)))
    return build_upload_rows(dict(r._mapping) for r in conn.execute(query))
