"""Upload files of NHI card-data format 2.0 and 1.0: record model, streaming reader, writer.

See docs/file-format.md for the layout, the encodings, the check codes of structural problems and
how hostile input is handled.
"""

from nhihub.formats.model import FileError, Finding, Record
from nhihub.formats.reader import UploadInfo, UploadReader, iter_upload, read_upload
from nhihub.formats.writer import UnencodableError, UnknownFieldError, write_upload

__all__ = [
    "FileError",
    "Finding",
    "Record",
    "UnencodableError",
    "UnknownFieldError",
    "UploadInfo",
    "UploadReader",
    "iter_upload",
    "read_upload",
    "write_upload",
]
