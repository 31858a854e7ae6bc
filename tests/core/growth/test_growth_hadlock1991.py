"""Hadlock 1991 in-utero weight standard against the paper's Table 1.

Table 1 (Radiology 1991;181:129-133) as transcribed in github
twumasiclement/Hadlock-Growth-Chart-Statistical-Validation-Analysis
(Empirical-Evaluation-Hadlock-Centiles.r). The paper printed it to the gram from its
rounded 50th column, so its other columns are within 1.5 g or 0.5 % of any smooth model;
the 50th column is the mean equation to the gram. 30 weeks' 97th is misprinted "1649"
(below its own 90th; 1.25 x 1559 = 1949).
"""

from __future__ import annotations

import pytest

from fada_desk.core.growth import GrowthError, hadlock1991, standard_centile

CENTILES = (3, 10, 50, 90, 97)
TABLE_1 = {  # menstrual weeks: 3rd, 10th, 50th, 90th, 97th (g)
    10: (26, 29, 35, 41, 44),
    11: (34, 37, 45, 53, 56),
    12: (43, 48, 58, 68, 73),
    13: (55, 61, 73, 85, 91),
    14: (70, 77, 93, 109, 116),
    15: (88, 97, 117, 137, 146),
    16: (110, 121, 146, 171, 183),
    17: (136, 150, 181, 212, 226),
    18: (167, 185, 223, 261, 279),
    19: (205, 227, 273, 319, 341),
    20: (248, 275, 331, 387, 414),
    21: (299, 331, 399, 467, 499),
    22: (359, 398, 478, 559, 598),
    23: (426, 471, 568, 665, 710),
    24: (503, 556, 670, 784, 838),
    25: (589, 652, 785, 918, 981),
    26: (685, 758, 913, 1068, 1141),
    27: (791, 876, 1055, 1234, 1319),
    28: (908, 1004, 1210, 1416, 1513),
    29: (1034, 1145, 1379, 1613, 1724),
    30: (1169, 1294, 1559, 1824, 1649),
    31: (1313, 1453, 1751, 2049, 2189),
    32: (1465, 1621, 1953, 2285, 2441),
    33: (1622, 1794, 2162, 2530, 2703),
    34: (1783, 1973, 2377, 2781, 2971),
    35: (1946, 2154, 2595, 3036, 3244),
    36: (2110, 2335, 2813, 3291, 3516),
    37: (2271, 2513, 3028, 3543, 3785),
    38: (2427, 2686, 3236, 3786, 4045),
    39: (2576, 2851, 3435, 4019, 4294),
    40: (2714, 3004, 3619, 4234, 4524),
}
MISPRINT = (30, 97)


def test_table_1_fiftieth_is_the_mean_equation_to_the_gram() -> None:
    for weeks, row in TABLE_1.items():
        assert round(hadlock1991.mean_efw(weeks * 7)) == row[2], weeks


def test_table_1_percentiles() -> None:
    for weeks, row in TABLE_1.items():
        for c, published in zip(CENTILES, row):
            if (weeks, c) == MISPRINT:
                continue
            got = hadlock1991.efw_quantile(weeks * 7, c)
            assert abs(got - published) <= max(1.5, 0.005 * published), (weeks, c, got)
    assert round(hadlock1991.efw_quantile(30 * 7, 97)) == 1949


def test_10th_50th_90th_at_several_weeks() -> None:
    for weeks in (20, 28, 32, 36, 40):
        lo, mid, hi = (round(hadlock1991.efw_quantile(weeks * 7, c)) for c in (10, 50, 90))
        assert mid == TABLE_1[weeks][2]
        assert abs(lo - TABLE_1[weeks][1]) <= 2 and abs(hi - TABLE_1[weeks][3]) <= 3


def test_centile_of_table_values() -> None:
    for weeks in (20, 30, 40):
        for c, published in zip(CENTILES, TABLE_1[weeks]):
            if (weeks, c) != MISPRINT:
                got = hadlock1991.efw_centile(published, weeks * 7).centile
                assert got == pytest.approx(c, abs=0.4), (weeks, c)


def test_abstract_dispersion_is_available_and_differs() -> None:
    """The abstract's 12.7 % SD puts the 40-week 10th at 3030 g, not the printed 3004 g."""
    assert round(hadlock1991.efw_quantile(280, 10, hadlock1991.SD_FRACTION_ABSTRACT)) == 3030
    c = hadlock1991.efw_centile(3619, 280)
    assert c.z == pytest.approx(0.0, abs=1e-3) and c.standard == "Hadlock 1991 in-utero weight standard"
    assert "Radiology 1991;181:129-133" in c.reference


def test_range_is_10_to_40_weeks() -> None:
    assert hadlock1991.efw_centile(hadlock1991.mean_efw(70), 70).centile == pytest.approx(50)
    for ga in (69, 281):
        with pytest.raises(GrowthError, match=r"outside the range of the Hadlock 1991 in-utero weight "
                           r"standard \(10\+0 to 40\+0 weeks\)\.$"):
            hadlock1991.efw_centile(1000, ga)
    with pytest.raises(GrowthError, match="Hadlock 1991 has no HC chart"):
        standard_centile("hadlock", "HC", 250, 196)
