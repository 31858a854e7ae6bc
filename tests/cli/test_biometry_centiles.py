"""`fada-desk biometry` centiles: --ga / --lmp, --standard, --sex, --hl (through main([...]))."""

from __future__ import annotations

import json

import pytest

from fada_desk.cli import main
from fada_desk.core.growth import hadlock1991, intergrowth, who

BASE = ["biometry", "--hc", "260", "--ac", "233", "--fl", "51"]


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_intergrowth_json_per_measurement_and_efw(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json([*BASE, "--ga", "28w0d"], capsys)
    cent = doc["centiles"]
    assert cent["standard"] == "INTERGROWTH-21st" and cent["needs_dating_ga"] is False
    assert cent["statement"] == "Centiles at GA 28w0d by dates (GA entered)."
    rows = {m["parameter"]: m for m in cent["measurements"]}
    assert list(rows) == ["HC", "AC", "FL"]
    for p, v in (("HC", 260.0), ("AC", 233.0), ("FL", 51.0)):
        expected = intergrowth.fetal_centile(p, v, 196)
        assert rows[p]["standard"] == "INTERGROWTH-21st Fetal Growth Standards"
        assert rows[p]["z"] == round(expected.z, 3) and rows[p]["centile"] == round(expected.centile, 2)
    efw = cent["efw"]
    ig = next(e for e in doc["efw"] if e["equation"] == "INTERGROWTH-21st (AC, HC)")
    assert efw["standard"] == "INTERGROWTH-21st EFW standard" and efw["efw_equation"] == ig["equation"]
    assert efw["centile"] == pytest.approx(intergrowth.efw_centile(ig["efw_g"], 196).centile, abs=0.02)
    assert doc["ga_by_dates_days"] == 196  # the GA by dates also feeds the GA-vs-dates check
    # EFW values in the JSON are rounded to 0.1 g, hence approx above


@pytest.mark.parametrize("ga", ["28w0d", "28+0", "28w", "196", "196d"])
def test_ga_forms(ga: str, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json([*BASE, "--ga", ga], capsys)
    assert doc["centiles"]["ga"]["ga_days"] == 196


def test_who_with_sex_and_humerus(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json([*BASE, "--hl", "47", "--ga", "28w0d", "--standard", "who", "--sex", "F"], capsys)
    cent = doc["centiles"]
    assert cent["standard"] == "WHO" and cent["sex"] == "F"
    assert [m["parameter"] for m in cent["measurements"]] == ["HC", "AC", "FL", "HL"]
    assert doc["measurements_mm"]["HL"] == 47.0
    hadlock = next(e for e in doc["efw"] if e["equation"] == "Hadlock 1985 (HC, AC, FL)")
    assert cent["efw"]["standard"] == "WHO fetal growth charts (female)"
    expected = who.centile("EFW", hadlock["efw_g"], 196, "F")
    assert cent["efw"]["centile"] == pytest.approx(expected.centile, abs=0.02)
    assert "Only the WHO EFW chart is by fetal sex." in cent["notes"]


def test_hadlock_1991_is_efw_only(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json([*BASE, "--lmp", "2024-01-01", "--date", "2024-07-15", "--standard", "hadlock"], capsys)
    cent = doc["centiles"]
    assert cent["measurements"] == [] and cent["notes"] == ["Hadlock 1991 has no chart for HC, AC, FL."]
    assert cent["statement"] == "Centiles at GA 28w0d by dates (LMP 2024-01-01)."
    primary = doc["primary_efw"]
    assert cent["efw"]["efw_equation"] == primary["equation"]
    assert cent["efw"]["z"] == pytest.approx(hadlock1991.efw_centile(primary["efw_g"], 196).z, abs=0.002)


def test_text_has_a_centiles_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--ga", "28+0"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Centiles (INTERGROWTH-21st)"):out.index("References")]
    assert "Centiles at GA 28w0d by dates (GA entered)." in section
    hc = intergrowth.fetal_centile("HC", 260, 196)
    row = f"HC    260.0 mm  z  {hc.z:+.2f}    P{hc.centile:.1f}  INTERGROWTH-21st Fetal Growth Standards"
    assert row in section
    assert "EFW" in section and "INTERGROWTH-21st EFW standard by INTERGROWTH-21st (AC, HC)" in section
    assert "Lancet 2014;384:869-879" in out  # the standard's reference is listed


def test_without_a_dating_ga_centiles_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(BASE) == 0
    out = capsys.readouterr().out
    assert "Centiles (INTERGROWTH-21st)\n  Centiles need a dating GA" in out
    doc = _json(BASE, capsys)
    assert doc["centiles"]["needs_dating_ga"] is True and doc["centiles"]["measurements"] == []
    assert doc["centiles"]["efw"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*BASE, "--ga", "41w0d"], "GA 41w0d is outside the range of the INTERGROWTH-21st charts "
         "(14+0 to 40+0 weeks)."),
        ([*BASE, "--ga", "13w6d", "--standard", "who"], "outside the range of the WHO charts"),
        ([*BASE, "--ga", "9w", "--standard", "hadlock"], "Hadlock 1991 charts (10+0 to 40+0 weeks)"),
        ([*BASE, "--ga", "28"], "a bare --ga number is days (28w0d is weeks)"),
        ([*BASE, "--ga", "28w8d"], "days must be 0-6"),
        ([*BASE, "--ga", "soon"], "GA must be weeks+days like 28w0d"),
        ([*BASE, "--ga", "28w", "--lmp", "2024-01-01"], "--ga or --lmp, not both"),
        ([*BASE, "--ga", "400"], "not a plausible GA"),
        ([*BASE, "--hl", "470"], "HL = 470 mm is not a plausible"),
    ],
)
def test_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("fada-desk: error: ") and message in err and err.count("\n") == 1


def test_lmp_outside_the_range_without_asking_for_centiles_is_a_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The GA by dates of a first-trimester exam is only compared with the CRL, as before."""
    argv = ["biometry", "--hc", "80", "--lmp", "2024-01-01", "--date", "2024-04-01"]
    doc = _json(argv, capsys)
    assert doc["centiles"]["measurements"] == [] and doc["centiles"]["notes"] == [
        "No centiles: GA 13w0d is outside the range of the INTERGROWTH-21st charts (14+0 to 40+0 weeks)."
    ]
    assert main([*argv, "--standard", "intergrowth"]) == 1  # asked for: an error
    assert "outside the range" in capsys.readouterr().err
    crl = _json(["biometry", "--crl", "45", "--ga", "13w0d"], capsys)  # nothing to chart: no error
    assert crl["centiles"]["notes"] == ["No measurement here is on the INTERGROWTH-21st charts."]


def test_unknown_standard_or_sex_is_an_argparse_error() -> None:
    with pytest.raises(SystemExit):
        main([*BASE, "--standard", "nichd"])
    with pytest.raises(SystemExit):
        main([*BASE, "--sex", "x"])
