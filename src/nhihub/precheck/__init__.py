"""The offline pre-check: read an upload file, check every record, summarise (``nhihub check``)."""

from nhihub.precheck.runner import check_path, check_stream

__all__ = ["check_path", "check_stream"]
