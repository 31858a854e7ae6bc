"""GA parsing, the GA centiles use (or "needs a dating GA"), and an exam's biometry on a standard."""

from __future__ import annotations

import pytest

from fada_desk.core.biometry import biometry_report
from fada_desk.core.growth import (
    NEEDS_DATING_GA,
    STANDARDS,
    CentileGA,
    EFWInput,
    GrowthError,
    assess_growth,
    assess_report,
    centile_ga,
    centile_to_z,
    get_standard,
    parse_ga,
    standard_quantile,
    z_to_centile,
)


@pytest.mark.parametrize(
    ("text", "days"),
    [("28w0d", 196), ("28w3d", 199), ("28w 3d", 199), ("28W", 196), ("28+3", 199), ("28 + 0", 196),
     ("196", 196), ("196d", 196), ("196.5", 196.5), ("40 weeks", 280)],
)
def test_parse_ga(text: str, days: float) -> None:
    assert parse_ga(text) == days


@pytest.mark.parametrize(("text", "message"), [("28w9d", "days must be 0-6 (write 29w2d)"),
                                               ("abc", "weeks+days like 28w0d"), ("", "weeks+days")])
def test_parse_ga_errors(text: str, message: str) -> None:
    with pytest.raises(GrowthError) as err:
        parse_ga(text)
    assert message in str(err.value)


def test_normal_helpers() -> None:
    assert z_to_centile(0) == 50 and z_to_centile(1.959964) == pytest.approx(97.5)
    assert centile_to_z(3) == pytest.approx(-1.880794, abs=1e-6)
    with pytest.raises(GrowthError):
        centile_to_z(100)


def test_dating_ga_known_or_needed() -> None:
    known = centile_ga(196, "LMP 2024-01-01")
    assert known.known and known.statement == "Centiles at GA 28w0d by dates (LMP 2024-01-01)."
    needed = centile_ga(None)
    assert not needed.known and needed.statement == NEEDS_DATING_GA
    assert "need a dating GA" in NEEDS_DATING_GA and needed.to_dict()["needs_dating_ga"] is True
    with pytest.raises(GrowthError):
        centile_ga(-3)


def test_without_a_dating_ga_there_are_no_centiles_and_it_says_so() -> None:
    a = assess_growth({"HC": 260, "AC": 233}, None, "who")
    assert a.needs_dating_ga and a.centiles == () and a.efw is None
    assert a.to_dict()["statement"] == NEEDS_DATING_GA and a.title == "Centiles (WHO)"


def test_standards_and_aliases() -> None:
    assert set(STANDARDS) == {"intergrowth", "who", "hadlock"}
    assert get_standard("Hadlock1991").key == "hadlock" and get_standard("IG").key == "intergrowth"
    assert STANDARDS["intergrowth"].ga_range_days == (98.0, 280.0)
    assert STANDARDS["hadlock"].ga_range_days == (70.0, 280.0)
    with pytest.raises(GrowthError, match="Unknown growth standard 'nichd'"):
        get_standard("nichd")


def test_intergrowth_assessment_pairs_its_efw_formula() -> None:
    efws = [EFWInput("hadlock1985_hc_ac_fl", "Hadlock 1985 (HC, AC, FL)", 1104.0),
            EFWInput("intergrowth2017_ac_hc", "INTERGROWTH-21st (AC, HC)", 1077.0)]
    measured = {"HC": 260, "AC": 233, "FL": 51, "CRL": 40}
    a = assess_growth(measured, CentileGA(196, "LMP"), "intergrowth", None, efws)
    assert [c.parameter for c in a.centiles] == ["HC", "AC", "FL"]
    assert a.efw is not None and a.efw.value == 1077.0 and a.efw_equation == "INTERGROWTH-21st (AC, HC)"
    assert a.notes == ()  # CRL is not a growth-chart measurement: no note
    d = a.to_dict()
    assert d["standard"] == "INTERGROWTH-21st" and d["efw"]["efw_equation"] == "INTERGROWTH-21st (AC, HC)"
    assert d["measurements"][0]["standard"] == "INTERGROWTH-21st Fetal Growth Standards"


def test_other_efw_formula_is_used_with_a_note() -> None:
    ig = EFWInput("intergrowth2017_ac_hc", "INTERGROWTH-21st (AC, HC)", 1077.0)
    a = assess_growth({"AC": 233}, 196, "who", None, [ig])
    assert a.efw is not None and a.efw_equation == "INTERGROWTH-21st (AC, HC)"
    assert a.notes == (
        "EFW by INTERGROWTH-21st (AC, HC): the WHO EFW chart was built on Hadlock 1985 (HC, AC, FL).",
    )


def test_charts_with_a_narrower_range_are_left_out_with_a_note() -> None:
    a = assess_growth({"HC": 170}, 140, "intergrowth", None, [EFWInput("intergrowth2017_ac_hc", "IG", 330.0)])
    assert [c.parameter for c in a.centiles] == ["HC"] and a.efw is None
    assert a.notes == ("No EFW centile: the INTERGROWTH-21st EFW chart covers 22 to 40 weeks.",)


def test_ga_outside_every_chart_is_an_error() -> None:
    with pytest.raises(GrowthError) as err:
        assess_growth({"HC": 100}, 13 * 7, "intergrowth")
    assert str(err.value) == (
        "GA 13w0d is outside the range of the INTERGROWTH-21st charts (14+0 to 40+0 weeks)."
    )
    with pytest.raises(GrowthError, match=r"WHO charts \(14\+0 to 40\+0 weeks\)"):
        assess_growth({"HC": 360}, 40 * 7 + 1, "who")


def test_notes_for_uncharted_measurements_and_sex() -> None:
    a = assess_growth({"HC": 260, "OFD": 90}, 196, "who", "m")
    assert "WHO has no chart for OFD." in a.notes and "Only the WHO EFW chart is by fetal sex." in a.notes
    b = assess_growth({"HC": 260}, 196, "intergrowth", "f")
    assert b.notes == ("INTERGROWTH-21st charts are not by fetal sex.",) and b.sex == "F"
    with pytest.raises(GrowthError, match="Fetal sex must be f or m"):
        assess_growth({"HC": 260}, 196, "who", "x")


def test_assess_report_uses_the_report_efws_primary_first() -> None:
    report = biometry_report({"HC": 260, "AC": 233, "FL": 51}, ga_by_dates_days=196)
    hadlock = assess_report(report, CentileGA(196, "LMP"), "hadlock")
    assert hadlock.efw is not None and hadlock.efw_equation == report.primary_efw.equation.name
    assert hadlock.centiles == () and hadlock.notes == ("Hadlock 1991 has no chart for HC, AC, FL.",)
    who = assess_report(report, 196, "who", "f", {"HL": 47.8})
    assert [c.parameter for c in who.centiles] == ["HC", "AC", "FL", "HL"]
    assert who.efw is not None and who.efw.sex == "F"
    assert who.efw.standard == "WHO fetal growth charts (female)"


def test_standard_quantile_is_the_centile_curve() -> None:
    for key, parameter in (("intergrowth", "AC"), ("intergrowth", "EFW"), ("who", "FL"), ("hadlock", "EFW")):
        curve = [standard_quantile(key, parameter, ga, 10) for ga in range(168, 281, 7)]
        assert curve == sorted(curve)  # grows with GA
        assert standard_quantile(key, parameter, 200, 3) < standard_quantile(key, parameter, 200, 97)


def test_nothing_to_chart_is_a_note_not_an_error() -> None:
    a = assess_growth({"CRL": 45, "NT": 1.8}, 13 * 7, "intergrowth")
    assert a.centiles == () and a.notes == ("No measurement here is on the INTERGROWTH-21st charts.",)
