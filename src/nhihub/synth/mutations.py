"""Known errors injected into valid records: each mutation kind changes one record so that the
checks report exactly one (field, code), as listed in ``data/mutations.tsv``.

A kind only applies to records where that one finding is certain (e.g. D041 needs a drug line
and M20); :func:`applicable` lists them for a record.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from nhihub.formats.model import Record
from nhihub.ids.rocdate import format_roc_date, format_roc_datetime, parse_roc_datetime
from nhihub.specs.codes import accumulating_categories, allowed_categories, max_order_lines
from nhihub.visitid import Channel

Issuer = Callable[[str, dt.datetime, str, Channel], str]


@dataclass(frozen=True, slots=True)
class MutationKind:
    kind: str
    field: str  # may end in [k]: the order line is chosen per record
    code: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class MutationContext:
    as_of: dt.datetime
    issue: Issuer  # re-issues identifiers when a mutation changes the person or the time


@cache
def mutation_kinds() -> dict[str, MutationKind]:
    """Kind -> its definition, in file order."""
    text = resources.files("nhihub.synth").joinpath("data/mutations.tsv").read_text("utf-8")
    rows = csv.DictReader(
        (line for line in text.splitlines() if line and not line.startswith("#")),
        delimiter="\t",
    )
    return {
        r["kind"]: MutationKind(r["kind"], r["field"], r["code"], r["zh"], r["en"]) for r in rows
    }


# -- helpers -------------------------------------------------------------------------------------
# Identifiers are re-issued whenever a mutation changes what they encode (person, time), so that
# the decode checks (D003-D005) agree with the record and only the intended finding remains.


def _accumulating_a(rec: Record, ctx: MutationContext) -> bool:
    return rec.header.get("H01") == "A" and rec.mb1.get("M07") in accumulating_categories()


def _drug_lines(rec: Record) -> list[int]:
    return [i for i, line in enumerate(rec.mb2) if line.get("D02") == "1"]


def _channel(rec: Record) -> Channel:
    """The channel the generator used for M15 (see nhihub.synth.visits)."""
    if rec.header.get("H01") == "B":
        return Channel.NO_CARD
    return Channel.VIRTUAL if rec.mb1.get("M13", "").startswith("W") else Channel.CARD


def _reissue(rec: Record, ctx: MutationContext) -> None:
    """M15 (and M52 of a 補卡 case) for the record's current person, place and times."""
    m = rec.mb1
    if "M15" in m:
        m["M15"] = ctx.issue(m["M03"], _at(m["M11"]), m["M05"], _channel(rec))
    if "M52" in m and "M49" in m and m["M52"][:4] != "MISS":
        m["M52"] = ctx.issue(m["M03"], _at(m["M49"]), m["M05"], Channel.NO_CARD)


def _move_visit(rec: Record, at: dt.datetime, ctx: MutationContext) -> None:
    """Set M11 and every D01 to ``at`` (re-issuing M15)."""
    value = format_roc_datetime(at)
    rec.mb1["M11"] = value
    for line in rec.mb2:
        line["D01"] = value
    _reissue(rec, ctx)


def _at(value: str) -> dt.datetime:
    return parse_roc_datetime(value)


def _has(*fields: str) -> Applies:
    return lambda rec, ctx: all(f in rec.mb1 for f in fields)


def _set(field: str, value: str) -> Apply:
    def apply(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
        rec.mb1[field] = value
        return field

    return apply


def _drop(field: str) -> Apply:
    def apply(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
        del rec.mb1[field]
        return field

    return apply


# -- the kinds -----------------------------------------------------------------------------------
# Each: (applies(record, ctx), apply(record, ctx, rng) -> the field actually changed).

Applies = Callable[[Record, MutationContext], bool]
Apply = Callable[[Record, MutationContext, random.Random], str]


def _malformed_visit_id(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    k = rng.randrange(20)
    rec.mb1["M15"] = rec.mb1["M15"][:k] + "O" + rec.mb1["M15"][k + 1 :]
    return "M15"


def _bad_checksum(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    pid = rec.mb1["M03"]
    # the last digit has weight 1: any change breaks the checksum
    rec.mb1["M03"] = pid[:9] + str((int(pid[9]) + rng.randint(1, 9)) % 10)
    _reissue(rec, ctx)
    return "M03"


def _not_allowed_m56(rec: Record) -> list[str]:
    m07, m56 = rec.mb1.get("M07"), rec.mb1.get("M56")
    return sorted(
        c for c, allowed in allowed_categories().items() if c != m56 and m07 not in allowed
    )


def _category_not_allowed(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    rec.mb1["M56"] = rng.choice(_not_allowed_m56(rec))
    return "M56"


def _impossible_birth(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    year = int(rec.mb1["M04"][:3])
    rec.mb1["M04"] = f"{year:03d}0230"
    return "M04"


def _birth_after_applies(rec: Record, ctx: MutationContext) -> bool:
    # BG is reported on every date before birth: only M11 may be
    if any(f in rec.mb1 for f in ("M08", "M19", "M49")) or "M11" not in rec.mb1:
        return False
    return _at(rec.mb1["M11"]).date() < ctx.as_of.date()


def _birth_after_visit(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    # after the visit, but not after the upload (BD)
    day = _at(rec.mb1["M11"]).date()
    rec.mb1["M04"] = format_roc_date(
        day + dt.timedelta(days=rng.randint(1, (ctx.as_of.date() - day).days))
    )
    return "M11"


def _future_visit(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    _move_visit(rec, ctx.as_of + dt.timedelta(minutes=rng.randint(10, 3 * 24 * 60)), ctx)
    return "M11"


def _stale_applies(rec: Record, ctx: MutationContext) -> bool:
    # moving M11 back must not put it before birth, M19 or M49
    if "M19" in rec.mb1 or "M49" in rec.mb1:
        return False
    birth = rec.mb1.get("M04", "")
    oldest = format_roc_date((ctx.as_of - dt.timedelta(days=400)).date())
    return bool(birth) and birth < oldest


def _stale_visit(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    _move_visit(rec, ctx.as_of - dt.timedelta(days=rng.randint(100, 300)), ctx)
    return "M11"


def _line_datetime(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    k = rng.randrange(len(rec.mb2))
    rec.mb2[k]["D01"] = format_roc_datetime(
        _at(rec.mb1["M11"]) - dt.timedelta(hours=rng.randint(1, 48))
    )
    return f"D01[{k + 1}]"


def _sequence_out_of_range(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    rec.mb1["M13"] = rng.choice(("0000", "1501", "1999", "9999"))
    return "M13"


def _ordinary_sequence(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    rec.mb1["M13"] = f"{rng.randint(1, 1500):04d}"
    return "M13"


def _signature_on_abnormal(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    rec.mb1["M14"] = f"{rng.getrandbits(1024):0256X}"
    return "M14"


def _duplicate_order(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    k = rng.randrange(1, len(rec.mb2))
    rec.mb2[k]["D03"] = rec.mb2[k - 1]["D03"]
    return f"D03[{k + 1}]"


def _too_many_orders(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    lines = rec.mb2
    base = list(lines)
    limit = max_order_lines()[rec.header.get("H00", "1")]
    while len(lines) <= limit:
        lines.append(dict(base[len(lines) % len(base)]))
    for n, line in enumerate(lines, 1):
        line["D03"] = f"{n:03d}"
    return "MB2"


def _days_over_applies(rec: Record, ctx: MutationContext) -> bool:
    return bool(_drug_lines(rec)) and 0 < int(rec.mb1.get("M20", "0") or 0) < 90


def _days_over_supply(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    k = rng.choice(_drug_lines(rec))
    m20 = int(rec.mb1["M20"])
    rec.mb2[k]["D09"] = f"{m20 + rng.randint(1, 90 - m20):02d}"
    return f"D09[{k + 1}]"


def _zero_days(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    k = rng.choice(_drug_lines(rec))
    rec.mb2[k]["D09"] = "00"
    return f"D09[{k + 1}]"


def _no_sentinel(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    rec.mb1["M52"] = ctx.issue(rec.mb1["M03"], _at(rec.mb1["M49"]), rec.mb1["M05"], Channel.NO_CARD)
    return "M52"


def _real_not_before(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    rec.mb1["M49"] = rec.mb1["M11"]
    _reissue(rec, ctx)
    return "M49"


def _original_not_before(rec: Record, ctx: MutationContext, rng: random.Random) -> str:
    rec.mb1["M19"] = rec.mb1["M11"]
    return "M19"


def _accumulating_with_orders(*absent: str) -> Applies:
    def applies(rec: Record, ctx: MutationContext) -> bool:
        m = rec.mb1
        return (
            m.get("M07") in accumulating_categories()
            and any(line.get("D02") for line in rec.mb2)
            and not any(f in m for f in absent)
        )

    return applies


_KINDS: dict[str, tuple[Applies, Apply]] = {
    "missing-visit-id": (_has("M15"), _drop("M15")),
    "malformed-visit-id": (_has("M15"), _malformed_visit_id),
    "bad-id-checksum": (_has("M03", "M15"), _bad_checksum),
    "unknown-category": (_has("M07"), _set("M07", "ZZ")),
    "category-not-allowed": (lambda r, c: bool(_not_allowed_m56(r)), _category_not_allowed),
    "unknown-card-mark": (lambda r, c: r.mb1.get("M12") == "1", _set("M12", "9")),
    "unknown-payment-category": (_has("M51"), _set("M51", "Q")),
    "impossible-birth-date": (_has("M04"), _impossible_birth),
    "birth-after-visit": (_birth_after_applies, _birth_after_visit),
    # no order lines: their D01 would be after the upload too; AC: the identifier's time is
    # checked for plausibility against the upload time (D076)
    "future-visit": (lambda r, c: not r.mb2 and r.mb1.get("M07") != "AC", _future_visit),
    "stale-visit": (_stale_applies, _stale_visit),
    "line-datetime-mismatch": (lambda r, c: bool(r.mb2), _line_datetime),
    "sequence-out-of-range": (_accumulating_a, _sequence_out_of_range),
    "abnormal-without-code": (
        lambda r, c: r.header.get("H01") == "B" and r.mb1.get("M07") in accumulating_categories(),
        _ordinary_sequence,
    ),
    "preventive-sequence": (
        lambda r, c: r.header.get("H01") == "A" and r.mb1.get("M07") == "AC",
        _ordinary_sequence,
    ),
    "signature-on-abnormal": (lambda r, c: r.header.get("H01") == "B", _signature_on_abnormal),
    "duplicate-order-number": (lambda r, c: len(r.mb2) >= 2, _duplicate_order),
    "too-many-orders": (lambda r, c: bool(r.mb2), _too_many_orders),
    # a secondary diagnosis without the main one could be reported on its own: only M35 alone
    "missing-main-diagnosis": (_accumulating_with_orders("M36"), _drop("M35")),
    "missing-fee": (_accumulating_with_orders(), _drop("M44")),
    "days-over-supply": (_days_over_applies, _days_over_supply),
    "zero-days": (lambda r, c: bool(_drug_lines(r)), _zero_days),
    # M20 = 1: above 1 would add D011 for M23=2
    "days-without-drugs": (
        lambda r, c: r.mb1.get("M23") == "2" and "M20" not in r.mb1,
        _set("M20", "1"),
    ),
    "refill-count-out-of-range": (_has("M21", "M26"), _set("M26", "5")),
    "reissue-without-real-time": (lambda r, c: r.mb1.get("M12") == "2", _drop("M49")),
    "reissue-without-sentinel": (lambda r, c: r.mb1.get("M12") == "4", _no_sentinel),
    "real-visit-not-before": (_has("M49"), _real_not_before),
    "original-not-before": (_has("M19"), _original_not_before),
}


def implemented() -> tuple[str, ...]:
    """Kinds with an implementation (every kind of ``data/mutations.tsv``; a test checks)."""
    return tuple(_KINDS)


def applicable(rec: Record, kinds: tuple[str, ...], ctx: MutationContext) -> list[str]:
    """The kinds among ``kinds`` that can be applied to ``rec`` with a certain outcome."""
    return [k for k in kinds if _KINDS[k][0](rec, ctx)]


def mutate(rec: Record, kind: str, ctx: MutationContext, rng: random.Random) -> tuple[str, str]:
    """Apply one kind to ``rec`` in place; (field, code) the checks will report."""
    field = _KINDS[kind][1](rec, ctx, rng)
    return field, mutation_kinds()[kind].code
