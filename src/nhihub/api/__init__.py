"""The HTTP API of nhihub (FastAPI): NHI-compatible VNHI_Upload / VNHI_Download, the REST API
under ``/api/v1``, token authentication with per-institution isolation, the in-process worker of
``nhihub serve``, and the demo data of ``nhihub demo``. See docs/api.md.

>>> from nhihub.config import load_settings
>>> app = create_app(load_settings())          # doctest: +SKIP
"""

from nhihub.api.app import DEFAULT_NHI_PREFIXES, create_app
from nhihub.api.background import BackgroundWorker
from nhihub.api.errors import ApiError, error_specs, rtn_codes
from nhihub.api.nhi_protocol import (
    UPLOAD_KINDS,
    NhiDownload,
    NhiUpload,
    decode_pat_data,
    parse_download,
    parse_upload,
    parse_upload_dt,
)
from nhihub.api.nhi_routes import DOWNLOAD, RESULT_FIELD, UPLOAD

__all__ = [
    "DEFAULT_NHI_PREFIXES",
    "DOWNLOAD",
    "RESULT_FIELD",
    "UPLOAD",
    "UPLOAD_KINDS",
    "ApiError",
    "BackgroundWorker",
    "NhiDownload",
    "NhiUpload",
    "create_app",
    "decode_pat_data",
    "error_specs",
    "parse_download",
    "parse_upload",
    "parse_upload_dt",
    "rtn_codes",
]
