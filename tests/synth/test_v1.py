"""nhihub.synth.v1: a generated 2.0 record written as format 1.0."""

from __future__ import annotations

from nhihub.formats.model import Record
from nhihub.specs.codes import codes
from nhihub.synth.profile import profile
from nhihub.synth.v1 import to_v1


def _record(**mb1: str) -> Record:
    base = {
        "M01": "123456789012", "M02": "000012345678", "M03": "A123456789", "M04": "0750101",
        "M05": "3502060427", "M06": "B120000005", "M07": "01", "M11": "1131014093000",
        "M12": "1", "M13": "0012", "M14": "F" * 256, "M15": "0" * 20, "M35": "J069",
        "M36": "R51", "M44": "500", "M45": "50", "M51": "4",
    }  # fmt: skip
    base.update(mb1)
    lines = [
        {"D01": base["M11"], "D02": "1", "D03": "001", "D04": "A", "D05": "0",
         "D06": "AC45827100", "D08": "TID", "D09": "03", "D10": "00009.0", "D11": "A" * 40},
        {"D01": base["M11"], "D02": "2", "D03": "002", "D05": "0", "D06": "08011C",
         "D07": "11", "D10": "00001.0"},
    ]  # fmt: skip
    return Record(5, 0, "2.0", {"H00": "1", "H01": "A"}, base, lines)


def test_fields_are_mapped() -> None:
    v1 = to_v1(_record(), profile())
    assert v1.version == "1.0" and v1.index == 5
    assert v1.header == {"A00": "1", "A01": "1", "A02": "1.0"}
    assert v1.mb1 == {
        "A11": "000012345678", "A12": "A123456789", "A13": "0750101", "A14": "3502060427",
        "A15": "B120000005", "A16": "123456789012", "A17": "1131014093000", "A18": "0012",
        "A19": "1", "A22": "F" * 256, "A23": "01", "A25": "J069", "A26": "R51", "A31": "500",
        "A32": "50", "A55": "4",
    }  # fmt: skip
    assert v1.mb2 == [
        {"A71": "1131014093000", "A72": "1", "A73": "AC45827100", "A75": "TID", "A76": "03",
         "A77": "00009.0", "A78": "01", "A79": "A" * 40},
        {"A71": "1131014093000", "A72": "3", "A73": "08011C", "A74": "11", "A77": "00001.0"},
    ]  # fmt: skip


def test_abnormal_upload_is_data_format_2() -> None:
    rec = _record(M13="A000")
    rec.header["H01"] = "B"
    assert to_v1(rec, profile()).header["A01"] == "2"


def test_card_replacement() -> None:
    v1 = to_v1(_record(M12="4", M49="1131010100000", M52="MISS0000000000000000"), profile())
    assert (v1.mb1["A19"], v1.mb1["A54"]) == ("2", "1131010")


def test_chronic_refill_at_a_pharmacy() -> None:
    rec = _record(M07="AE", M05="5901234560", M17="3502060427", M16="1" * 20, M33="2")
    del rec.mb1["M13"]
    rec.mb2 = [dict(rec.mb2[0], D04="C", D05="A")]
    v1 = to_v1(rec, profile(), refill=2)
    assert v1.mb1["A18"] == "IC02"
    assert (v1.mb2[0]["A72"], v1.mb2[0]["A78"]) == ("2", "06")
    own = _record()
    own.mb2 = [dict(own.mb2[0], D04="C")]
    assert to_v1(own, profile()).mb2[0]["A78"] == "05"


def test_codes_are_in_the_1_0_tables() -> None:
    v1 = to_v1(_record(), profile())
    assert v1.header["A01"] in codes("a01")
    assert all(line["A72"] in codes("a72") for line in v1.mb2)
    assert v1.mb1["A23"] in codes("m07") and v1.mb1["A19"] in codes("m12")
