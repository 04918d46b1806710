"""Turning the service's view objects into JSON-ready values (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any


def to_json(value: Any) -> Any:
    """Dataclasses (or objects with ``to_dict``), mappings, sequences, dates and enums as JSON
    values. Bytes (hashes, encrypted blobs) are never sent: they are dropped from objects."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_json(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not isinstance(getattr(value, f.name), bytes | bytearray)
        }
    if isinstance(value, Mapping):
        return {
            str(k): to_json(v) for k, v in value.items() if not isinstance(v, bytes | bytearray)
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return None
    return str(value)
