"""The service's rules as data (``data/service.json``): which NHI check code each stateful rule
reports and on which field, the visit categories the rules act on, the refill fields, the
correction deadline and the refusals of :func:`~nhihub.service.uploads.submit_upload`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class RefillKind:
    """慢連箋 ``C`` or 管制藥品慢連箋 ``F``: the count field (可調劑次數), the number field
    (已調劑連續處方箋次數) and the code for dispensing a cancelled refill of that kind."""

    kind: str
    count_field: str
    number_field: str
    cancelled_code: str


@dataclass(frozen=True, slots=True)
class FindingRule:
    code: str
    field: str | None  # a field id, "refill_number", "refill_count" or None (whole record)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    rtn_code: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    store_ops: frozenset[str]
    cancel_op: str
    delete_op: str
    restore_op: str
    dispensing_categories: frozenset[str]
    original_categories: frozenset[str]
    replacement_m12: frozenset[str]
    refill_kinds: tuple[RefillKind, ...]
    correction_months: int
    findings: dict[str, FindingRule]
    rejections: dict[str, Rejection]
    batch_errors: dict[str, tuple[str, str]]
    max_attempts: int
    result_formats: dict[str, str]
    parallel_min_bytes: int
    parts_per_job: int
    part_records: int
    handoff_max_bytes: int
    handoff_max_seconds: float
    apply_cache_kib: int

    def kind(self, name: str) -> RefillKind:
        for k in self.refill_kinds:
            if k.kind == name:
                return k
        raise KeyError(name)


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


@cache
def service_spec() -> ServiceSpec:
    """``data/service.json``, read once."""
    text = resources.files("nhihub.service").joinpath("data/service.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    ops = raw["operations"]
    kinds = tuple(
        RefillKind(name, v["count"], v["number"], v["cancelled"])
        for name, v in _plain(raw["refill_kinds"]).items()
    )
    findings = {
        name: FindingRule(v["code"], v["field"]) for name, v in _plain(raw["findings"]).items()
    }
    rejections = {
        name: Rejection(name, v["rtn_code"], v["zh"], v["en"])
        for name, v in _plain(raw["rejections"]).items()
    }
    errors = {name: (v["zh"], v["en"]) for name, v in _plain(raw["batch_errors"]).items()}
    parallel = raw["parallel"]
    return ServiceSpec(
        store_ops=frozenset(ops["store"]),
        cancel_op=ops["cancel"],
        delete_op=ops["delete"],
        restore_op=ops["restore"],
        dispensing_categories=frozenset(raw["dispensing_categories"]),
        original_categories=frozenset(raw["original_categories"]),
        replacement_m12=frozenset(raw["replacement_m12"]),
        refill_kinds=kinds,
        correction_months=int(raw["correction_months"]),
        findings=findings,
        rejections=rejections,
        batch_errors=errors,
        max_attempts=int(raw["max_attempts"]),
        result_formats=_plain(raw["result_formats"]),
        parallel_min_bytes=int(parallel["min_bytes"]),
        parts_per_job=int(parallel["parts_per_job"]),
        part_records=int(parallel["part_records"]),
        handoff_max_bytes=int(raw["handoff_max_bytes"]),
        handoff_max_seconds=float(raw["handoff_max_seconds"]),
        apply_cache_kib=int(raw["apply_cache_kib"]),
    )
