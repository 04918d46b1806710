"""Reports (issue #5): the 1.0-vs-2.0 pre-check comparison report
(健保卡2.0預檢比對健保卡1.0統計報表) and its encrypted download, the upload-result listing
(上傳檢核結果查詢), the operations dashboards with SVG charts. Pure functions build plain
dataclasses from rows; the ``*_db`` modules and ``uploads.upload_results`` run the SQL.
See docs/reports.md.
"""

from nhihub.reports.aeszip import ZipPasswordError, aes_zip, check_password
from nhihub.reports.charts import (
    check_codes_chart,
    refill_blocks_chart,
    timeliness_chart,
    uploads_chart,
)
from nhihub.reports.dashboard import (
    CodeCount,
    Dashboard,
    DayTotal,
    RefillBlocks,
    Share,
    Timeliness,
    UploadDay,
    top_check_codes,
    upload_timeliness,
    uploads_per_day,
)
from nhihub.reports.dashboard_db import (
    check_code_ranking,
    dashboard,
    duplicate_dispensing,
    timeliness,
    upload_activity,
)
from nhihub.reports.export import export_zip, mask_person_id, results_csv, unmatched_csv
from nhihub.reports.precheck import (
    PrecheckCount,
    PrecheckReport,
    PrecheckRow,
    UnmatchedRecord,
    build_precheck_report,
    category_label,
    half_up_percent,
    precheck_window,
)
from nhihub.reports.precheck_db import (
    precheck_counts,
    precheck_export,
    precheck_report,
    unmatched_records,
)
from nhihub.reports.svg import bar_chart, line_chart
from nhihub.reports.uploads import UploadRow, upload_results, upload_state

__all__ = [
    "CodeCount",
    "Dashboard",
    "DayTotal",
    "PrecheckCount",
    "PrecheckReport",
    "PrecheckRow",
    "RefillBlocks",
    "Share",
    "Timeliness",
    "UnmatchedRecord",
    "UploadDay",
    "UploadRow",
    "ZipPasswordError",
    "aes_zip",
    "bar_chart",
    "build_precheck_report",
    "category_label",
    "check_code_ranking",
    "check_codes_chart",
    "check_password",
    "dashboard",
    "duplicate_dispensing",
    "export_zip",
    "half_up_percent",
    "line_chart",
    "mask_person_id",
    "precheck_counts",
    "precheck_export",
    "precheck_report",
    "precheck_window",
    "refill_blocks_chart",
    "results_csv",
    "timeliness",
    "timeliness_chart",
    "top_check_codes",
    "unmatched_csv",
    "unmatched_records",
    "upload_activity",
    "upload_results",
    "upload_state",
    "upload_timeliness",
    "uploads_chart",
    "uploads_per_day",
]
