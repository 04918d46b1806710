"""Write a generated visit as a format-1.0 record (A00..A81).

1.0 has fewer fields: no visit identifier, no links to the original visit, no refill count. A
chronic refill carries the 1.0 sequence ``IC02``/``IC03`` instead, a later visit of a treatment
course the sequence number of its first visit. The field map and the codes
live in ``data/synth.json`` (section ``v1``).
"""

from __future__ import annotations

from nhihub.formats.model import Record
from nhihub.synth.profile import Profile


def to_v1(rec: Record, prof: Profile, *, refill: int = 0) -> Record:
    """The 1.0 rendering of a (valid) 2.0 record; matched to it on 身分證號 (A12/M03), 出生日期
    (A13/M04), 就診日期時間 (A17/M11) and 就醫類別 (A23/M07)."""
    cfg = prof.raw["v1"]
    mb1 = {a: rec.mb1[m] for m, a in cfg["mb1"].items() if m in rec.mb1}
    mb1["A19"] = cfg["reissue"][rec.mb1.get("M12", "1")]
    if "M49" in rec.mb1:
        mb1["A54"] = rec.mb1["M49"][:7]
    if refill:
        mb1["A18"] = str(cfg["refill_sequence"]).format(n=refill)
    elif "A18" not in mb1 and "M18" in rec.mb1:
        # a course visit after the first carries the first visit's sequence number in 1.0
        mb1["A18"] = rec.mb1["M18"]
    own = rec.mb1.get("M17", rec.mb1["M05"]) == rec.mb1["M05"]
    types, disp = cfg["order_type"], cfg["dispensing"]
    mb2: list[dict[str, str]] = []
    for line in rec.mb2:
        out = {a: line[d] for d, a in cfg["mb2"].items() if d in line}
        if line.get("D02") == "1":
            chronic = line.get("D04") == "C"
            out["A72"] = types["chronic_drug" if chronic else "drug"]
            key = ("chronic_" if chronic else "") + ("self" if own else "other")
            out["A78"] = disp[key]
        else:
            out["A72"] = types["treatment"]
        mb2.append(out)
    header = {"A00": rec.header["H00"], "A01": cfg["data_format"][rec.header["H01"]], "A02": "1.0"}
    return Record(index=rec.index, line=0, version="1.0", header=header, mb1=mb1, mb2=mb2)
