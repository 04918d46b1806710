"""Record checks of upload formats 2.0 and 1.0 with NHI's check codes (健保卡資料上傳檢核).

Pure functions: :func:`check_record` takes one :class:`~nhihub.formats.model.Record` and a
:class:`CheckContext` and returns every :class:`~nhihub.formats.model.Finding` of the record at
once (field + code; MB2 fields as ``D05[1]``). Messages are looked up when rendering
(:func:`nhihub.specs.catalogue.message`). Rules, lists and limits are data
(``data/rules.json``, ``data/requirements-<version>.tsv``, ``nhihub/specs/data/codes/``).
See docs/checks.md.
"""

from nhihub.checks.context import CheckContext, References, skipped_checks
from nhihub.checks.record import check_record, is_valid, order_counts
from nhihub.checks.references import TableReferences

__all__ = [
    "CheckContext",
    "References",
    "TableReferences",
    "check_record",
    "is_valid",
    "order_counts",
    "skipped_checks",
]
