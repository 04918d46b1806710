"""Summary of one checked upload file.

Counting follows NHI's upload-result screen (seed 001): 接收筆數 (records),
有效明細筆數 (valid records), 接收醫令 (orders), 有效醫令 (valid orders),
無效明細筆數 (invalid records), 無效醫令 (invalid orders).
How orders are counted is :func:`nhihub.checks.order_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nhihub.formats.model import FileError, Finding, Record


@dataclass(slots=True)
class RecordOutcome:
    """A record that has something to report (errors or warnings), with its findings."""

    record: Record
    findings: list[Finding]
    valid: bool


@dataclass(slots=True)
class FileSummary:
    file: str
    format_version: str | None = None
    records: int = 0
    valid_records: int = 0
    orders: int = 0
    valid_orders: int = 0
    invalid_records: int = 0
    invalid_orders: int = 0
    file_errors: list[FileError] = field(default_factory=list)
    # Invalid records, and valid records that carry warnings, in file order.
    reported: list[RecordOutcome] = field(default_factory=list)
    skipped_checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.file_errors and self.invalid_records == 0

    def add(
        self,
        record: Record,
        findings: list[Finding],
        valid: bool,
        orders: int,
        invalid_orders: int,
    ) -> None:
        """Count one checked record (keeping it only when it has findings)."""
        if self.format_version is None:
            self.format_version = record.version
        self.records += 1
        self.orders += orders
        self.invalid_orders += invalid_orders
        self.valid_orders += orders - invalid_orders
        if valid:
            self.valid_records += 1
        else:
            self.invalid_records += 1
        if findings:
            self.reported.append(RecordOutcome(record, findings, valid))

    def merge(self, other: FileSummary) -> None:
        """Append the counts and outcomes of a later part of the same file."""
        if self.format_version is None:
            self.format_version = other.format_version
        self.records += other.records
        self.valid_records += other.valid_records
        self.orders += other.orders
        self.valid_orders += other.valid_orders
        self.invalid_records += other.invalid_records
        self.invalid_orders += other.invalid_orders
        self.file_errors.extend(other.file_errors)
        self.reported.extend(other.reported)
