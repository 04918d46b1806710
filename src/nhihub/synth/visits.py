"""Build realistic, valid format-2.0 records: ordinary visits, abnormal uploads, 補卡 cases,
treatment courses (AA) and chronic continuous prescriptions (慢性病連續處方箋) with their refills.

One :class:`VisitMaker` draws everything from one ``random.Random``; :meth:`VisitMaker.group`
returns one visit, or a short chain of linked visits (original first), so the caller can stream
any number of records while holding only the per-card visit counters.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from nhihub.formats.model import Record
from nhihub.ids.rocdate import format_roc_date, format_roc_datetime
from nhihub.specs.codes import accumulating_categories, sequence_forms
from nhihub.synth.people import Person, PersonPool
from nhihub.synth.places import Institution, build_institutions
from nhihub.synth.profile import Item, Profile
from nhihub.visitid import Channel, Keyring, issue

MISSING_VISIT_ID = "MISS0000000000000000"  # M52 when M12=4 (no identifier from the real visit)
_MINUTE = dt.timedelta(minutes=1)
_PERSON_CACHE = 1 << 16  # persons kept decoded; frequent visitors are drawn again and again


@dataclass(slots=True)
class Visit:
    """A generated visit: its 2.0 record and what it is (for the 1.0 rendering and mutations)."""

    record: Record
    kind: str  # ordinary, abnormal, reissue, course-first, course, chronic, refill
    refill: int = 0  # refill number (2, 3) of a chronic refill, else 0


def _roc(at: dt.datetime) -> str:
    return format_roc_datetime(at)


def _quantity(value: float) -> str:
    """D10 總量 as seven characters, e.g. ``00021.0``."""
    return f"{value:07.1f}"


class VisitMaker:
    """Everything drawn for one seed: persons, institutions, visits."""

    def __init__(
        self,
        seed: int,
        records: int,
        as_of: dt.datetime,
        prof: Profile,
        keyring: Keyring | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.prof = prof
        self.as_of = as_of.replace(microsecond=0)
        self.keyring = keyring
        # about one person per few visits, capped so that the per-card counters stay small
        per_person = int(prof.raw["person"]["per_person_visits"])
        size = min(max(50, records // per_person), int(prof.raw["person"]["max_persons"]))
        self.people = PersonPool(seed, size, as_of, prof)
        self.places = build_institutions(seed, prof)
        self.counters: dict[int, int] = {}
        self._persons: dict[int, Person] = {}
        ordinary = [k for k in prof.kinds if k.weight > 0]
        self._kinds = ordinary
        self._kind_cum = list(_cumulative([k.weight for k in ordinary]))
        w = prof.raw["window"]
        self._recent = int(w["recent_days"])
        card = next(f for f in sequence_forms() if f.kind == "card")
        self._card_max = card.high or 1500
        self._clinic_hours = (int(w["clinic_hours"][0]), int(w["clinic_hours"][1]))
        self._er_hours = (int(w["er_hours"][0]), int(w["er_hours"][1]))

    # -- drawing helpers -------------------------------------------------------------------------

    def _person(self) -> Person:
        # squared uniform: a few persons visit often, most rarely
        u = self.rng.random()
        k = int(self.people.size * u * u)
        person = self._persons.get(k)
        if person is None:
            if len(self._persons) >= _PERSON_CACHE:
                self._persons.clear()
            person = self._persons[k] = self.people.person(k)
        return person

    def _person_born_before(self, day: dt.date) -> Person:
        # chains reach back weeks: a baby must be born before the first visit (BG)
        while True:
            person = self._person()
            if person.birth < day:
                return person

    def _at(self, day: dt.date, er: bool = False) -> dt.datetime:
        lo, hi = self._er_hours if er else self._clinic_hours
        at = dt.datetime.combine(day, dt.time(self.rng.randint(lo, hi - 1 if hi > lo else lo)))
        at += dt.timedelta(seconds=self.rng.randrange(3600))
        latest = self.as_of - _MINUTE
        if at > latest:  # today, after the upload time: move back within today's past
            span = max(
                1, int((latest - dt.datetime.combine(latest.date(), dt.time())).total_seconds())
            )
            at = dt.datetime.combine(latest.date(), dt.time()) + dt.timedelta(
                seconds=self.rng.randrange(span)
            )
        return at

    def _recent_day(self) -> dt.date:
        return self.as_of.date() - dt.timedelta(days=self.rng.randrange(self._recent))

    def _id(self, person: Person, at: dt.datetime, inst: Institution, channel: Channel) -> str:
        return issue(person.pid, at, inst.code, channel, keyring=self.keyring)

    def _sequence(self, person: Person) -> str:
        # 就醫序號: the card's own counter, 0001-1500, wrapping as a renewed card would
        n = self.counters.get(person.number, person.first_sequence)
        self.counters[person.number] = n % self._card_max + 1
        return f"{n:04d}"

    def _virtual_sequence(self) -> str:
        # a virtual-card visit is numbered by the cloud service, not by a card counter
        form = self.prof.raw["virtual_sequence"]
        return f"{form['prefix']}{self.rng.randint(1, int(form['max'])):03d}"

    def _institution(self, kind: str) -> Institution:
        return self.rng.choice(self.places[kind])

    # -- record skeleton -------------------------------------------------------------------------

    def _record(
        self,
        person: Person,
        inst: Institution,
        at: dt.datetime,
        m07: str,
        *,
        abnormal: str | None = None,
        channel: Channel = Channel.CARD,
    ) -> Record:
        h01 = "B" if abnormal else "A"
        mb1: dict[str, str] = {
            "M03": person.pid,
            "M04": format_roc_date(person.birth),
            "M05": inst.code,
            "M06": self.rng.choice(inst.staff),
            "M07": m07,
            "M11": _roc(at),
            "M12": "1",
            "M15": self._id(person, at, inst, Channel.NO_CARD if abnormal else channel),
        }
        if h01 == "A":
            mb1["M01"] = inst.sam
            mb1["M02"] = person.card
            mb1["M14"] = f"{self.rng.getrandbits(1024):0256X}"
        if abnormal:
            mb1["M13"] = abnormal
        elif channel is Channel.VIRTUAL:
            mb1["M13"] = self._virtual_sequence()
        elif m07 in accumulating_categories():
            mb1["M13"] = self._sequence(person)
        if inst.kind.m56:
            mb1["M56"] = inst.kind.m56
        return Record(index=0, line=0, version="2.0", header={"H00": "1", "H01": h01}, mb1=mb1)

    # -- order lines (MB2) -----------------------------------------------------------------------

    def _drug_lines(
        self, rec: Record, items: tuple[Item, ...], count: int, days: int, d04: str, d05: str
    ) -> float:
        """Add ``count`` drug lines; return their cost (points)."""
        cost = 0.0
        freqs = list(self.prof.frequencies.items())
        signed = rec.header["H01"] == "A"
        for code, _name, price in self.rng.sample(items, min(count, len(items))):
            freq, per_day = self.rng.choice(freqs)
            total = float(per_day * days)
            cost += price * total
            line = {
                "D02": "1",
                "D04": d04,
                "D05": d05,
                "D06": code,
                "D08": freq,
                "D09": f"{days:02d}",
                "D10": _quantity(total),
                "D14": "PO",
            }
            if signed:
                line["D11"] = f"{self.rng.getrandbits(160):040X}"
            rec.mb2.append(line)
        return cost

    def _fee_lines(
        self, rec: Record, items: tuple[Item, ...], count: int, tooth: bool = False
    ) -> float:
        points = 0.0
        for code, _name, pts in self.rng.sample(items, min(count, len(items))):
            line = {"D02": "2", "D05": "0", "D06": code, "D10": _quantity(1.0)}
            if tooth:
                line["D07"] = self.rng.choice(self.prof.raw["teeth"])
            rec.mb2.append(line)
            points += pts
        return points

    def _finish_lines(self, rec: Record) -> None:
        at = rec.mb1["M11"]
        for n, line in enumerate(rec.mb2, 1):
            line["D01"] = at
            line["D03"] = f"{n:03d}"

    def _diagnoses(self, rec: Record, group: str, count: int = 1) -> None:
        codes = self.rng.sample(
            self.prof.diagnoses[group], min(count, len(self.prof.diagnoses[group]))
        )
        for field, code in zip(("M35", "M36", "M37", "M38", "M39", "M40"), codes, strict=False):
            rec.mb1[field] = code

    def _fees(self, rec: Record, points: float, copay: int) -> None:
        fee = max(1, round(points))
        rec.mb1["M44"] = str(fee)
        rec.mb1["M45"] = str(min(copay, fee))

    def _drug_copay(self, level: str, cost: float) -> int:
        c = self.prof.raw["copay"]
        if level not in c["drug_cap"]:
            return 0
        if cost <= float(c["drug_free_up_to"]):
            return int(c["drug_small"][level]) if cost > 0 else 0
        step, amount = (int(x) for x in c["drug_step"])
        charged = amount * math.ceil((cost - float(c["drug_free_up_to"])) / step)
        return min(charged, int(c["drug_cap"][level]))

    def _basic_copay(self, inst: Institution, m07: str, referred: bool) -> int:
        c = self.prof.raw["copay"]
        disc, level = inst.kind.discipline, inst.kind.level
        if m07 == "04":
            return int(c["er"][level])
        if disc in ("dental", "tcm"):
            return int(c[disc])
        if disc == "western":
            return int(c["western"][level][1 if referred else 0])
        return 0

    def _consultation(self, inst: Institution, er: bool) -> float:
        table = self.prof.raw["er_consultation_points" if er else "consultation_points"]
        return float(table.get(inst.kind.level, 0))

    def _set_drugs(self, rec: Record, days: int, *, chronic: bool = False) -> None:
        rec.mb1["M20"] = str(days)
        rec.mb1["M23"] = "0"
        if chronic:
            refills = int(self.prof.raw["chronic_refills"])
            rec.mb1["M21"] = str(days * refills)
            rec.mb1["M26"] = str(refills)
        else:
            rec.mb1["M24"] = "1"

    # -- visits ----------------------------------------------------------------------------------

    def group(self) -> list[Visit]:
        """The next visit, or a chain of linked visits (original first)."""
        kind = self.rng.choices(self._kinds, cum_weights=self._kind_cum)[0]
        cats = kind.categories
        m07 = self.rng.choices(cats.values, cum_weights=cats.cum_weights)[0]
        inst = self._institution(kind.kind)
        if m07 == "AA":
            return self._course(inst)
        if m07 == "AE":
            return self._chronic(inst, elsewhere=False)
        if m07 == "AC":
            return [self._preventive(inst)]
        if m07 == "01" and self.rng.random() < float(self.prof.share("chronic")):
            elsewhere = inst.kind.level == "clinic" or self.rng.random() < float(
                self.prof.share("chronic_refill_elsewhere")
            )
            return self._chronic(inst, elsewhere=elsewhere)
        return [self._ordinary(inst, m07)]

    def _ordinary(self, inst: Institution, m07: str) -> Visit:
        person = self._person()
        er = m07 == "04"
        abnormal, reissue = self._special_case()
        channel = Channel.CARD
        if not abnormal and self.rng.random() < float(self.prof.share("virtual_card")):
            channel = Channel.VIRTUAL
        at = self._at(self._recent_day(), er=er)
        rec = self._record(person, inst, at, m07, abnormal=abnormal, channel=channel)
        self._clinical(rec, inst, m07, referred=m07 == "06")
        if reissue:
            self._reissue(rec, person, inst, at, reissue)
        self._finish_lines(rec)
        return Visit(rec, "abnormal" if abnormal else "reissue" if reissue else "ordinary")

    def _special_case(self) -> tuple[str | None, str | None]:
        """(abnormal sequence code, card-replacement mark M12) of an ordinary visit: mostly
        (None, None); an abnormal upload (H01=B) or a 補卡 case (M12 2 or 4) by their shares."""
        r = self.rng.random()
        share = self.prof.share
        if r < (bound := float(share("abnormal"))):
            ab = self.prof.abnormal_codes
            return self.rng.choices(ab.values, cum_weights=ab.cum_weights)[0], None
        if r < (bound := bound + float(share("reissue"))):
            return None, "2"
        if r < bound + float(share("reissue_missing")):
            return None, "4"
        return None, None

    def _clinical(self, rec: Record, inst: Institution, m07: str, referred: bool) -> None:
        """Diagnoses, orders and fees of an accumulating visit (01-09)."""
        disc, level = inst.kind.discipline, inst.kind.level
        er = m07 == "04"
        shares = self.prof.raw["shares"]
        points = self._consultation(inst, er)
        drug_cost = 0.0
        if er:
            self._diagnoses(rec, "er", self.rng.randint(1, 2))
            if self.rng.random() < float(shares["drugs_er"]):
                lo, hi = self.prof.raw["acute_days"]["er"]
                days = self.rng.randint(int(lo), int(hi))
                drug_cost = self._drug_lines(
                    rec, self.prof.drugs["western"], self.rng.randint(1, 3), days, "A", "0"
                )
                self._set_drugs(rec, days)
            points += self._fee_lines(rec, self.prof.fee_items["er"], self.rng.randint(1, 3))
        elif disc == "western":
            self._diagnoses(rec, "western", self.rng.randint(1, 3))
            if self.rng.random() < float(shares["drugs_western"]):
                lo, hi = self.prof.raw["acute_days"]["western"]
                days = self.rng.choice((int(lo), int(hi)))
                drug_cost = self._drug_lines(
                    rec, self.prof.drugs["western"], self.rng.randint(1, 5), days, "A", "0"
                )
                self._set_drugs(rec, days)
            if self.rng.random() < float(shares["lab_western"]):
                points += self._fee_lines(
                    rec, self.prof.fee_items["western"], self.rng.randint(1, 3)
                )
        elif disc == "dental":
            self._diagnoses(rec, "dental", self.rng.randint(1, 2))
            points += self._fee_lines(
                rec, self.prof.fee_items["dental"], self.rng.randint(1, 2), tooth=True
            )
            if self.rng.random() < float(shares["drugs_dental"]):
                lo, _ = self.prof.raw["acute_days"]["dental"]
                drug_cost = self._drug_lines(
                    rec, self.prof.drugs["dental"], self.rng.randint(1, 2), int(lo), "A", "0"
                )
                self._set_drugs(rec, int(lo))
        elif disc == "tcm":
            self._diagnoses(rec, "tcm", self.rng.randint(1, 2))
            if self.rng.random() < float(shares["drugs_tcm"]):
                lo, _ = self.prof.raw["acute_days"]["tcm"]
                drug_cost = self._drug_lines(
                    rec, self.prof.drugs["tcm"], self.rng.randint(1, 4), int(lo), "A", "0"
                )
                self._set_drugs(rec, int(lo))
            if self.rng.random() < 0.3:
                points += self._fee_lines(rec, self.prof.fee_items["tcm"], 1)
        if drug_cost:
            points += drug_cost + float(self.prof.raw["dispensing_points"][disc])
        else:
            rec.mb1["M23"] = "2"  # 未開處方
        copay = self._basic_copay(inst, m07, referred)
        if disc != "dental":
            copay += self._drug_copay(level, drug_cost)
        self._fees(rec, points, copay)
        injury = self.rng.random() < float(shares["injury"])
        rec.mb1["M51"] = self.prof.raw["payment_category"]["injury" if injury else "disease"]

    def _reissue(
        self, rec: Record, person: Person, inst: Institution, at: dt.datetime, m12: str
    ) -> None:
        """補卡: the visit really happened days earlier without the card (M49); the card is shown
        now (M11). M52 is the identifier taken offline then, or MISS... for M12=4."""
        lo, hi = (int(x) for x in self.prof.window("reissue_days"))
        real = self._at(at.date() - dt.timedelta(days=self.rng.randint(lo, hi)))
        rec.mb1["M12"] = m12
        rec.mb1["M49"] = _roc(real)
        rec.mb1["M52"] = (
            self._id(person, real, inst, Channel.NO_CARD) if m12 == "2" else MISSING_VISIT_ID
        )

    def _preventive(self, inst: Institution) -> Visit:
        """預防保健 (AC): sequence IC**, no copay."""
        person = self._person()
        at = self._at(self._recent_day())
        rec = self._record(person, inst, at, "AC")
        age = (at.date() - person.birth).days // 365
        codes = self.prof.raw["preventive_codes"]
        rec.mb1["M13"] = codes["child" if age < 7 else "senior" if age >= 65 else "adult"]
        items = self.prof.fee_items["preventive"]
        item = items[1] if age < 7 else items[0]
        points = self._fee_lines(rec, (item,), 1)
        self._diagnoses(rec, "preventive", 1)
        rec.mb1["M23"] = "2"
        self._fees(rec, points, 0)
        rec.mb1["M51"] = self.prof.raw["payment_category"]["disease"]
        self._finish_lines(rec)
        return Visit(rec, "preventive")

    def _link(self, rec: Record, original: Record) -> None:
        """M16-M19: the original visit this one continues."""
        rec.mb1["M16"] = original.mb1["M15"]
        rec.mb1["M17"] = original.mb1["M05"]
        if "M13" in original.mb1:
            rec.mb1["M18"] = original.mb1["M13"]
        rec.mb1["M19"] = original.mb1["M11"]

    def _course(self, inst: Institution) -> list[Visit]:
        """同一療程 (AA): a first visit (01/03) and follow-ups on later days at the same place."""
        lo, hi = (int(x) for x in self.prof.share("course_length"))
        length = self.rng.randint(lo, hi)
        gap_lo, gap_hi = (int(x) for x in self.prof.window("course_gap_days"))
        first_day = self.as_of.date() - dt.timedelta(
            days=self.rng.randrange(self._recent, self._recent + length * gap_hi)
        )
        person = self._person_born_before(first_day)
        disc = inst.kind.discipline
        m07 = "03" if disc == "tcm" else "01"
        at = self._at(first_day)
        first = self._record(person, inst, at, m07)
        rehab = "tcm" if disc == "tcm" else "rehab"
        self._diagnoses(first, "tcm" if disc == "tcm" else "rehab", 1)
        points = self._consultation(inst, False) + self._fee_lines(
            first, self.prof.fee_items[rehab], 1
        )
        first.mb1["M23"] = "2"
        copay = self._basic_copay(inst, m07, False)
        self._fees(first, points, copay)
        first.mb1["M51"] = self.prof.raw["payment_category"]["disease"]
        self._finish_lines(first)
        visits = [Visit(first, "course-first")]
        day = first_day
        for _ in range(length - 1):
            day += dt.timedelta(days=self.rng.randint(gap_lo, gap_hi))
            if day > self.as_of.date():
                break
            at_n = self._at(day)
            if at_n <= at:
                break
            at = at_n
            rec = self._record(person, inst, at, "AA")
            self._link(rec, first)
            rec.mb1["M35"] = first.mb1["M35"]
            pts = self._fee_lines(rec, self.prof.fee_items[rehab], 1)
            rec.mb1["M23"] = "2"
            self._fees(rec, pts, int(self.prof.raw["copay"]["course_visit"]))
            rec.mb1["M51"] = first.mb1["M51"]
            self._finish_lines(rec)
            visits.append(Visit(rec, "course"))
        return visits

    def _chronic(self, inst: Institution, *, elsewhere: bool) -> list[Visit]:
        """A chronic continuous prescription (慢連箋, three fills of 28 days): the prescribing
        visit dispenses the 1st fill; refill 2 (and 3) follow 28 days apart, at a pharmacy
        (AE, M16-M19 pointing at the original) or at the prescribing hospital."""
        days = int(self.prof.raw["chronic_days"])
        interval = int(self.prof.window("refill_interval_days"))
        early = int(self.prof.window("refill_early_days"))
        last_refill = self.rng.choice((2, 3))
        # the last refill falls in the recent window; the original lies 28 or 56 days earlier
        refill_days = [self._recent_day()]
        for _ in range(last_refill - 2):
            refill_days.insert(
                0, refill_days[0] - dt.timedelta(days=interval - self.rng.randrange(early))
            )
        first_day = refill_days[0] - dt.timedelta(days=interval - self.rng.randrange(early))
        person = self._person_born_before(first_day)
        at = self._at(first_day)
        orig = self._record(person, inst, at, "01")
        self._diagnoses(orig, "chronic", self.rng.randint(1, 3))
        cost = self._drug_lines(
            orig, self.prof.drugs["chronic"], self.rng.randint(1, 4), days, "C", "0"
        )
        self._set_drugs(orig, days, chronic=True)
        orig.mb1["M33"] = "1"
        level = inst.kind.level
        points = (
            self._consultation(inst, False)
            + cost
            + float(self.prof.raw["dispensing_points"]["western"])
        )
        copay = self._basic_copay(inst, "01", False)
        if level != "clinic":  # hospital-issued: the first fill carries the drug copay
            copay += self._drug_copay(level, cost)
        self._fees(orig, points, copay)
        orig.mb1["M51"] = self.prof.raw["payment_category"]["disease"]
        self._finish_lines(orig)
        visits = [Visit(orig, "chronic")]
        place = self._institution("pharmacy") if elsewhere else inst
        for n, day in enumerate(refill_days, 2):
            at_n = self._at(day)
            if at_n <= at:
                break
            at = at_n
            rec = self._record(person, place, at, "AE")
            self._link(rec, orig)
            rec.mb1["M35"] = orig.mb1["M35"]
            d05 = "A" if elsewhere else "0"
            rec.mb2 = [dict(line, D05=d05) for line in orig.mb2]
            if rec.header["H01"] == "A":
                for line in rec.mb2:
                    line["D11"] = f"{self.rng.getrandbits(160):040X}"
            self._set_drugs(rec, days, chronic=True)
            rec.mb1["M33"] = str(n)
            disc = "pharmacy" if elsewhere else "western"
            self._fees(rec, cost + float(self.prof.raw["dispensing_points"][disc]), 0)
            rec.mb1["M51"] = orig.mb1["M51"]
            self._finish_lines(rec)
            visits.append(Visit(rec, "refill", n))
            # a refill may be picked up at another pharmacy next time
            if elsewhere:
                place = self._institution("pharmacy")
        return visits


def _cumulative(weights: list[float]) -> list[float]:
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return out
