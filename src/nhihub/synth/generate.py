"""The generator's entry points: :func:`generate` and the record iterators behind it.

Everything is deterministic for a seed. Three independent random streams keep the parts
separable: the visits themselves, which visits exist only in 1.0 (paired files), and which
records get an error. So the same seed gives the same visits at any error rate.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nhihub.formats.model import Record
from nhihub.synth.mutations import (
    Issuer,
    MutationContext,
    applicable,
    implemented,
    mutate,
    mutation_kinds,
)
from nhihub.synth.profile import profile
from nhihub.synth.v1 import to_v1
from nhihub.synth.visits import Visit, VisitMaker
from nhihub.visitid import Channel, Keyring, issue

VERSIONS = ("2.0", "1.0")
MAX_RECORDS = 100_000_000
_PAIR_SALT = 0x5EED_0001
_ERROR_SALT = 0x5EED_0002


class SynthError(ValueError):
    """Bad generator parameters; the message is zh-TW / English."""


@dataclass(frozen=True, slots=True)
class InjectedError:
    """One injected error: the record's 1-based index in the file, the field and the code the
    checks must report, and the mutation kind that caused it."""

    index: int
    field: str | None
    code: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "code": self.code, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class SynthResult:
    """A generated upload file, produced lazily: iterate it for ``(Record, [InjectedError])``
    pairs of the main file (every iteration yields the same records); :meth:`paired_v1` yields
    the records of the matching format-1.0 file."""

    seed: int
    records: int
    version: str
    as_of: dt.datetime
    error_rate: float = 0.0
    unmatched_share: float = 0.0
    mutations: tuple[str, ...] = field(default_factory=implemented)
    keyring: Keyring | None = None

    @property
    def errors_planned(self) -> int:
        """How many records get an error (``round(error_rate * records)``)."""
        return round(self.error_rate * self.records)

    def __iter__(self) -> Iterator[tuple[Record, list[InjectedError]]]:
        if self.version == "1.0":
            for n, (visit, _) in enumerate(self._visits(paired=False), 1):
                rec = to_v1(visit.record, profile(), refill=visit.refill)
                rec.index = n
                yield rec, []
            return
        yield from self._v2()

    def iter_records(self) -> Iterator[Record]:
        """The main file's records alone."""
        for rec, _ in self:
            yield rec

    def paired_v1(self) -> Iterator[Record]:
        """The same visits as the 2.0 file, as format 1.0, before any error was injected, plus
        (with ``unmatched_share``) visits that were only uploaded in 1.0."""
        for n, (visit, _) in enumerate(self._visits(paired=True), 1):
            rec = to_v1(visit.record, profile(), refill=visit.refill)
            rec.index = n
            yield rec

    # -- internals -------------------------------------------------------------------------------

    def _visits(self, *, paired: bool) -> Iterator[tuple[Visit, bool]]:
        """Visits with a flag "1.0 only". Stops once ``records`` visits of the main file were
        produced; with ``paired`` the 1.0-only visits are yielded too, else skipped."""
        maker = VisitMaker(self.seed, self.records, self.as_of, profile(), self.keyring)
        pair_rng = random.Random(self.seed ^ _PAIR_SALT)
        share = self.unmatched_share if self.version == "2.0" else 0.0
        made = 0
        while made < self.records:
            for visit in maker.group():
                only_v1 = share > 0 and pair_rng.random() < share
                if not only_v1:
                    made += 1
                    visit.record.index = made
                if paired or not only_v1:
                    yield visit, only_v1
                if made >= self.records:
                    return

    def _v2(self) -> Iterator[tuple[Record, list[InjectedError]]]:
        rng = random.Random(self.seed ^ _ERROR_SALT)
        ctx = MutationContext(self.as_of, self._issuer())
        want, done, owed = self.errors_planned, 0, 0
        for i, (visit, _) in enumerate(self._visits(paired=False)):
            rec = visit.record
            errors: list[InjectedError] = []
            if done < want:
                # selection sampling: exactly `want` of `records`, spread evenly, one pass
                picked = rng.random() < (want - done - owed) / (self.records - i)
                kinds = applicable(rec, self.mutations, ctx) if (picked or owed) else []
                if picked and not kinds:
                    owed += 1
                elif kinds and (picked or owed):
                    if not picked:
                        owed -= 1
                    kind = rng.choice(kinds)
                    field_, code = mutate(rec, kind, ctx, rng)
                    errors.append(InjectedError(rec.index, field_, code, kind))
                    done += 1
            yield rec, errors

    def _issuer(self) -> Issuer:
        keyring = self.keyring

        def reissue(person: str, at: dt.datetime, institution: str, channel: Channel) -> str:
            return issue(person, at, institution, channel, keyring=keyring)

        return reissue


def generate(
    seed: int,
    records: int,
    *,
    as_of: dt.datetime,
    version: str = "2.0",
    error_rate: float = 0.0,
    unmatched_share: float = 0.0,
    mutations: tuple[str, ...] | None = None,
    keyring: Keyring | None = None,
) -> SynthResult:
    """A synthetic upload file of ``records`` records, deterministic for ``seed``.

    ``as_of`` is the upload time: visits fall in the days before it (chronic refill chains and
    treatment courses reach back up to about 70 days, always within 3 months).
    ``error_rate`` (0-1, format 2.0 only) is the share of records that get one known error;
    ``mutations`` restricts the kinds used (default: all, see :func:`mutation_kinds`).
    ``unmatched_share`` (0-1) is the share of the paired 1.0 file's visits that have no 2.0
    counterpart. ``keyring`` issues the visit identifiers (default: the configured one).
    """
    if version not in VERSIONS:
        raise SynthError(f"格式版本須為 2.0 或 1.0 / version must be 2.0 or 1.0, not {version!r}")
    if not 1 <= records <= MAX_RECORDS:
        raise SynthError(
            f"筆數須為 1 至 {MAX_RECORDS:,} / records must be 1 to {MAX_RECORDS:,}, not {records}"
        )
    if not 0.0 <= error_rate <= 1.0:
        raise SynthError(f"錯誤比例須介於 0 與 1 / error rate must be 0 to 1, not {error_rate}")
    if not 0.0 <= unmatched_share < 1.0:
        raise SynthError(
            "1.0 無對應比例須介於 0（含）與 1（不含） / unmatched share must be at least 0 and "
            f"below 1, not {unmatched_share}"
        )
    if error_rate > 0 and version != "2.0":
        raise SynthError("錯誤注入僅支援格式 2.0 / error injection needs format 2.0")
    kinds = implemented() if mutations is None else tuple(mutations)
    unknown = [k for k in kinds if k not in mutation_kinds()]
    if unknown or not kinds:
        raise SynthError(
            f"未知的錯誤種類 / unknown mutation kind(s): {', '.join(unknown) or '(none given)'}"
        )
    return SynthResult(
        seed=seed,
        records=records,
        version=version,
        as_of=as_of.replace(microsecond=0, tzinfo=None),
        error_rate=error_rate,
        unmatched_share=unmatched_share,
        mutations=kinds,
        keyring=keyring,
    )


def iter_records(
    seed: int, records: int, *, as_of: dt.datetime, **options: Any
) -> Iterator[tuple[Record, list[InjectedError]]]:
    """``iter(generate(...))``: the main file's records with their injected errors."""
    return iter(generate(seed, records, as_of=as_of, **options))
