"""INTERGROWTH-21st fetal growth and EFW standards against the published tables.

Tables: the official centile / z-score PDFs of intergrowth21.tghn.org (as stored in the
gigs R package, github lshtm-gigs/gigs data-raw/tables/ig_fet/). Values are printed to
0.1 mm (EFW: 1 g); the tables were computed with slightly different rounding, so a value
is within 0.08 mm of the print (all 27 weeks checked when written: at most 0.073 mm).
"""

from __future__ import annotations

import pytest

from fada_desk.core.growth import GrowthError, intergrowth, standard_centile, standard_quantile

CENTILES = (3, 5, 10, 50, 90, 95, 97)

#: Official centile tables (P3, P5, P10, P50, P90, P95, P97; mm) at exact weeks, from
#: intergrowth21.tghn.org GROW_Fetal-ct_<hc|bpd|ofd|ac|fl>_Table.pdf (Papageorghiou 2014).
FETAL_CENTILES = {
    "HC": {
        14: (87.4, 88.7, 90.7, 97.9, 105.0, 107.1, 108.4),
        18: (134.9, 136.6, 139.1, 147.9, 156.7, 159.2, 160.9),
        22: (181.4, 183.3, 186.2, 196.3, 206.4, 209.3, 211.2),
        26: (224.3, 226.3, 229.5, 240.5, 251.6, 254.7, 256.7),
        30: (261.0, 263.2, 266.5, 278.4, 290.2, 293.6, 295.8),
        34: (289.1, 291.5, 295.2, 308.1, 321.0, 324.7, 327.1),
        38: (306.1, 308.9, 313.1, 328.1, 343.0, 347.3, 350.0),
        40: (309.6, 312.7, 317.4, 333.9, 350.5, 355.2, 358.3),
    },
    "BPD": {
        14: (26.3, 26.7, 27.4, 29.6, 31.8, 32.5, 32.9),
        18: (38.0, 38.5, 39.3, 42.0, 44.7, 45.4, 45.9),
        22: (50.3, 50.9, 51.8, 55.0, 58.1, 59.0, 59.6),
        26: (62.3, 63.0, 64.0, 67.6, 71.2, 72.2, 72.9),
        30: (73.1, 73.9, 75.0, 78.9, 82.8, 84.0, 84.7),
        34: (81.7, 82.4, 83.7, 87.9, 92.2, 93.4, 94.1),
        38: (86.7, 87.6, 88.9, 93.6, 98.3, 99.6, 100.5),
        40: (87.5, 88.4, 89.9, 94.9, 99.9, 101.3, 102.3),
    },
    "OFD": {
        14: (30.1, 30.6, 31.3, 33.8, 36.2, 36.9, 37.4),
        18: (47.1, 47.7, 48.6, 51.9, 55.1, 56.0, 56.6),
        22: (63.5, 64.2, 65.4, 69.2, 73.1, 74.2, 74.9),
        26: (78.4, 79.2, 80.5, 84.9, 89.3, 90.5, 91.4),
        30: (90.7, 91.6, 93.1, 98.0, 103.0, 104.4, 105.3),
        34: (99.6, 100.7, 102.3, 108.0, 113.7, 115.4, 116.4),
        38: (104.0, 105.3, 107.3, 114.2, 121.2, 123.2, 124.5),
        40: (104.1, 105.6, 107.8, 115.8, 123.7, 126.0, 127.4),
    },
    "AC": {
        14: (72.9, 73.8, 75.3, 80.6, 85.9, 87.4, 88.4),
        18: (113.2, 114.8, 117.2, 125.6, 134.0, 136.4, 138.0),
        22: (153.5, 155.5, 158.6, 169.6, 180.6, 183.7, 185.7),
        26: (192.9, 195.4, 199.1, 212.4, 225.7, 229.5, 231.9),
        30: (230.6, 233.5, 238.0, 253.8, 269.6, 274.1, 277.0),
        34: (265.2, 268.7, 274.3, 293.6, 313.0, 318.5, 322.0),
        38: (295.1, 299.6, 306.7, 331.6, 356.4, 363.5, 368.1),
        40: (307.7, 312.9, 321.1, 349.8, 378.5, 386.7, 392.0),
    },
    "FL": {
        14: (10.3, 10.6, 11.2, 13.1, 15.1, 15.6, 16.0),
        18: (22.3, 22.7, 23.4, 25.5, 27.7, 28.3, 28.7),
        22: (33.3, 33.7, 34.4, 36.7, 39.1, 39.8, 40.2),
        26: (42.9, 43.4, 44.1, 46.7, 49.3, 50.1, 50.5),
        30: (51.3, 51.8, 52.6, 55.5, 58.4, 59.2, 59.7),
        34: (58.3, 58.9, 59.8, 63.1, 66.3, 67.2, 67.8),
        38: (63.9, 64.6, 65.6, 69.4, 73.2, 74.3, 75.0),
        40: (66.1, 66.8, 68.0, 72.1, 76.2, 77.4, 78.2),
    },
}

#: Official z-score tables (-3 ... +3 SD; mm), GROW_Fetal-zs_<hc|ac|fl>_Table.pdf.
FETAL_ZSCORES = {
    "HC": {
        16: (104.1, 110.4, 116.6, 122.9, 129.2, 135.5, 141.7),
        24: (194.2, 202.5, 210.8, 219.1, 227.4, 235.7, 244.0),
        32: (265.5, 275.1, 284.7, 294.4, 304.0, 313.6, 323.2),
        40: (295.2, 308.1, 321.0, 333.9, 346.9, 359.8, 372.7),
    },
    "AC": {
        16: (87.0, 92.4, 97.8, 103.2, 108.6, 114.0, 119.5),
        24: (162.7, 172.2, 181.7, 191.2, 200.6, 210.1, 219.6),
        32: (233.2, 246.8, 260.3, 273.9, 287.5, 301.1, 314.7),
        40: (282.6, 305.0, 327.4, 349.8, 372.2, 394.6, 417.1),
    },
    "FL": {
        16: (14.6, 16.2, 17.9, 19.5, 21.1, 22.7, 24.3),
        24: (36.1, 38.0, 40.0, 41.9, 43.8, 45.8, 47.7),
        32: (52.3, 54.7, 57.1, 59.5, 61.8, 64.2, 66.6),
        40: (62.5, 65.7, 68.9, 72.1, 75.4, 78.6, 81.8),
    },
}

#: Official EFW centile table (g), GROW_EFW_ct_Table_values.pdf (Stirnemann 2017).
EFW_CENTILES = {
    22: (463, 470, 481, 525, 578, 596, 607),
    24: (575, 585, 602, 669, 751, 778, 796),
    26: (716, 732, 757, 856, 980, 1020, 1048),
    28: (892, 915, 951, 1097, 1276, 1335, 1375),
    30: (1106, 1138, 1190, 1396, 1647, 1728, 1783),
    32: (1357, 1401, 1473, 1755, 2089, 2195, 2266),
    34: (1641, 1700, 1795, 2162, 2583, 2713, 2800),
    36: (1948, 2024, 2144, 2594, 3089, 3237, 3335),
    38: (2265, 2355, 2495, 3006, 3541, 3697, 3799),
    40: (2574, 2670, 2818, 3338, 3858, 4006, 4101),
}


@pytest.mark.parametrize("parameter", sorted(FETAL_CENTILES))
def test_fetal_centile_tables(parameter: str) -> None:
    for weeks, row in FETAL_CENTILES[parameter].items():
        for c, published in zip(CENTILES, row):
            got = intergrowth.fetal_quantile(parameter, weeks * 7, c)
            assert got == pytest.approx(published, abs=0.08), (parameter, weeks, c)


@pytest.mark.parametrize("parameter", sorted(FETAL_ZSCORES))
def test_fetal_zscore_tables(parameter: str) -> None:
    for weeks, row in FETAL_ZSCORES[parameter].items():
        mean, sd = intergrowth.fetal_mean_sd(parameter, weeks * 7)
        for z, published in zip(range(-3, 4), row):
            assert mean + z * sd == pytest.approx(published, abs=0.08), (parameter, weeks, z)


def test_p3_p50_p97_of_hc_ac_fl_examples() -> None:
    """A few values as a reader finds them in the tables (HC 20w P50, AC 28w P3, FL 36w P97)."""
    assert round(intergrowth.fetal_quantile("HC", 20 * 7, 50), 1) == 172.5
    assert round(intergrowth.fetal_quantile("AC", 28 * 7, 3), 1) == 212.1
    assert round(intergrowth.fetal_quantile("FL", 36 * 7, 97), 1) == 71.5


def test_efw_centile_table() -> None:
    for weeks, row in EFW_CENTILES.items():
        for c, published in zip(CENTILES, row):
            assert intergrowth.efw_quantile(weeks * 7, c) == pytest.approx(published, abs=0.51), (weeks, c)


def test_value_on_a_centile_comes_back_as_that_centile() -> None:
    for parameter in intergrowth.FETAL_EQUATIONS:
        for ga in (98, 150, 203, 280):
            value = intergrowth.fetal_quantile(parameter, ga, 10)
            c = intergrowth.fetal_centile(parameter, value, ga)
            assert c.centile == pytest.approx(10.0) and c.z == pytest.approx(-1.2815516, abs=1e-6)
    c = intergrowth.efw_centile(intergrowth.efw_quantile(230, 97), 230)
    assert c.centile == pytest.approx(97.0) and c.standard == "INTERGROWTH-21st EFW standard"


def test_result_names_its_standard_and_the_ga() -> None:
    c = standard_centile("intergrowth", "HC", 260.0, 196)
    assert c.standard == "INTERGROWTH-21st Fetal Growth Standards"
    assert "Lancet 2014;384:869" in c.reference
    assert c.ga_days == 196 and c.z is not None and c.to_dict()["ga_text"] == "28w0d"
    assert standard_quantile("intergrowth", "EFW", 30 * 7, 3) == pytest.approx(1106, abs=0.5)  # paper: 1106 g


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: intergrowth.fetal_centile("HC", 100, 97), "GA 13w6d is outside the range of the "
         "INTERGROWTH-21st Fetal Growth Standards (14+0 to 40+0 weeks)."),
        (lambda: intergrowth.fetal_centile("FL", 60, 281), "40+0 weeks"),
        (lambda: intergrowth.efw_centile(400, 153), "GA 21w6d is outside the range of the "
         "INTERGROWTH-21st EFW standard (22+0 to 40+0 weeks)."),
        (lambda: intergrowth.fetal_centile("CRL", 60, 150), "have no CRL standard"),
        (lambda: intergrowth.fetal_centile("HC", -1, 150), "positive number of mm"),
    ],
)
def test_out_of_range_is_a_one_line_error(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(GrowthError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_range_edges_are_inclusive() -> None:
    assert intergrowth.fetal_centile("HC", 97.9, 98).centile == pytest.approx(50, abs=0.5)
    assert intergrowth.fetal_centile("HC", 333.9, 280).centile == pytest.approx(50, abs=0.5)
    assert intergrowth.efw_centile(525, 154).centile == pytest.approx(50, abs=0.5)
