"""Check results of an upload file: the summary model and its renderings (JSON, CSV, NHI text).

Pure: takes outcomes already computed by the checks, returns text or bytes. Used by
``nhihub check`` and by the upload service's result files.
"""

from nhihub.results.model import FileSummary, RecordOutcome
from nhihub.results.render import (
    encode_nhi_text,
    render_csv,
    render_json,
    render_nhi_text,
    summary_to_dict,
)

__all__ = [
    "FileSummary",
    "RecordOutcome",
    "encode_nhi_text",
    "render_csv",
    "render_json",
    "render_nhi_text",
    "summary_to_dict",
]
