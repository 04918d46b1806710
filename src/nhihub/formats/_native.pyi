from typing import Any

LIBXML_HEADERS: str

def read_record(
    rec: Any, header: str, body: str, visit: str, order: str, /
) -> tuple[dict[str, str], dict[str, str], list[dict[str, str]]] | None: ...
def scan_records(
    data: bytes,
    start: int,
    end: int,
    line: int,
    max_span: int,
    record: str,
    header: str,
    body: str,
    visit: str,
    order: str,
    /,
) -> list[tuple[int, dict[str, str], dict[str, str], list[dict[str, str]]]] | None: ...
