"""The reports' definitions as data (``data/reports.json``): the comparison report's window and
channel columns, the export's file and column names and ID masking, the upload-result states and
the dashboards' targets. Loaded once; nothing here is written in code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

Bilingual = Mapping[str, str]  # {"zh": ..., "en": ...}


@dataclass(frozen=True, slots=True)
class PrecheckSpec:
    window_days: int
    qualified_percent: int
    channel_columns: Mapping[str, str]  # storage channel -> report column (vpn | web-api)
    column_preference: tuple[str, ...]  # first wins when several columns match one record
    columns: Mapping[str, Mapping[str, str]]  # lang -> column key -> heading
    verdict: Mapping[str, Bilingual]
    no_ratio: str
    unknown_category: Bilingual


@dataclass(frozen=True, slots=True)
class MaskRule:
    keep_head: int
    keep_tail: int
    char: str


@dataclass(frozen=True, slots=True)
class ExportSpec:
    results_file: str
    unmatched_file: str
    results_columns: tuple[str, ...]
    sections: Mapping[str, str]
    unmatched_columns: tuple[str, ...]
    mask: MaskRule
    raw_missing: str
    password_min_length: int


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    timely_hours: int
    timely_target: Decimal
    refill_block_code: str
    top_codes: int


@dataclass(frozen=True, slots=True)
class ReportsSpec:
    precheck: PrecheckSpec
    export: ExportSpec
    upload_states: Mapping[str, Bilingual]
    dashboard: DashboardSpec


def _frozen(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({k: v for k, v in data.items() if not k.startswith("_")})


def parse_spec(data: Mapping[str, Any]) -> ReportsSpec:
    """Build the spec from the JSON document (comments are keys starting with ``_``)."""
    p, e, u, d = data["precheck"], data["export"], data["uploads"], data["dashboard"]
    columns = {lang: _frozen(v) for lang, v in p["columns"].items()}
    preference = tuple(p["column_preference"])
    channel_columns = _frozen(p["channel_columns"])
    if set(channel_columns.values()) - set(preference):
        raise ValueError("reports.json: every channel column must be in column_preference")
    return ReportsSpec(
        precheck=PrecheckSpec(
            window_days=int(p["window_days"]),
            qualified_percent=int(p["qualified_percent"]),
            channel_columns=channel_columns,
            column_preference=preference,
            columns=MappingProxyType(columns),
            verdict=MappingProxyType({k: _frozen(v) for k, v in p["verdict"].items()}),
            no_ratio=str(p["no_ratio"]),
            unknown_category=_frozen(p["unknown_category"]),
        ),
        export=ExportSpec(
            results_file=e["results_file"],
            unmatched_file=e["unmatched_file"],
            results_columns=tuple(e["results_columns"]),
            sections=_frozen(e["sections"]),
            unmatched_columns=tuple(e["unmatched_columns"]),
            mask=MaskRule(**e["mask"]),
            raw_missing=e["raw_missing"],
            password_min_length=int(e["password_min_length"]),
        ),
        upload_states=MappingProxyType({k: _frozen(v) for k, v in u["states"].items()}),
        dashboard=DashboardSpec(
            timely_hours=int(d["timely_hours"]),
            timely_target=Decimal(d["timely_target"]),
            refill_block_code=d["refill_block_code"],
            top_codes=int(d["top_codes"]),
        ),
    )


@cache
def reports_spec() -> ReportsSpec:
    text = resources.files("nhihub.reports").joinpath("data/reports.json").read_text("utf-8")
    return parse_spec(json.loads(text))
