"""What the record checks need besides the record: :class:`CheckContext`, and the protocol of the
NHI master files (:class:`References`) behind the checks 08-15."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from nhihub.checks.rules import rules
from nhihub.ids.rocdate import format_roc_datetime
from nhihub.specs.catalogue import catalogue
from nhihub.visitid import TAIWAN, Keyring


@runtime_checkable
class References(Protocol):
    """NHI master files (主檔) the checks 08-15 look codes up in.

    ``tables`` names the tables that are loaded (``institutions``, ``drugs``, ``fees``,
    ``materials``, ``staff``, ``diagnoses``); checks needing a table that is not loaded are
    skipped and listed by :func:`skipped_checks`. The methods are only called for loaded tables.
    """

    @property
    def tables(self) -> frozenset[str]: ...

    def has_institution(self, code: str) -> bool: ...

    def institution_contract(self, code: str, on: dt.date) -> bool:
        """Whether the institution is under contract (特約) on ``on``."""
        ...

    def has_drug(self, code: str) -> bool: ...

    def has_fee_item(self, code: str) -> bool: ...

    def has_material(self, code: str) -> bool: ...

    def has_staff(self, person_id: str) -> bool: ...

    def staff_contract(self, person_id: str, institution: str, on: dt.date) -> bool:
        """Whether the medical staff member is registered at the institution on ``on``."""
        ...

    def has_diagnosis(self, code: str) -> bool: ...


def _months_back(at: dt.datetime, months: int) -> dt.datetime:
    """``at`` moved back by calendar months, the day clamped to the target month's length."""
    total = at.year * 12 + (at.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    next_month = dt.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return at.replace(year=year, month=month, day=min(at.day, last_day))


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything a record check may use besides the record.

    - ``as_of``: the upload time (上傳日期時間) for BD (not after it) and BH (not older than
      3 months); naive Taiwan local time, or aware (converted).
    - ``codec``: the issuing keyring, only when the operator configured a real issuing key;
      ``None`` (and a development keyring) skips the decode checks D003-D005, D069-D072,
      D075/D076: real files carry identifiers only NHI can decode.
    - ``references``: loaded master files, or ``None`` to skip the checks 08-15.
    - ``upload_version``: the format version the upload declares ("2.0", "1.0"); a record of
      another version is reported with 03. ``None``: not checked.
    """

    as_of: dt.datetime
    codec: Keyring | None = None
    references: References | None = None
    upload_version: str | None = None
    # Derived once (the hot path compares ROC strings, which order like the times they denote).
    as_of_roc: str = field(init=False, repr=False, compare=False)
    stale_before_roc: str = field(init=False, repr=False, compare=False)
    decode: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        at = self.as_of
        if at.tzinfo is not None:
            at = at.astimezone(TAIWAN).replace(tzinfo=None)
        at = at.replace(microsecond=0)
        object.__setattr__(self, "as_of", at)
        object.__setattr__(self, "as_of_roc", format_roc_datetime(at))
        stale = _months_back(at, int(rules()["BH"]["months"]))
        object.__setattr__(self, "stale_before_roc", format_roc_datetime(stale))
        codec = self.codec
        object.__setattr__(self, "decode", codec is not None and not codec.is_development)


def skipped_checks(ctx: CheckContext) -> list[str]:
    """The claimed check codes this context cannot run, in catalogue order: the decode checks
    without an issuing key, and the master-file checks whose tables are not loaded. Shown in
    reports so that a skipped check is never mistaken for a passed one."""
    tables = ctx.references.tables if ctx.references is not None else frozenset()
    out = []
    for code, entry in catalogue().items():
        if not entry.claimed:
            continue
        if entry.needs == "codec" and not ctx.decode:
            out.append(code)
        table = entry.reference_table
        if table is not None and table not in tables:
            out.append(code)
    return out
