"""APA number formatting, checked against hand-written expected strings (APA 7th ed. §6.36, §6.43)."""

from __future__ import annotations

import math

import pytest
from dancerec.reports import apa


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.456, ".46"),
        (-0.071, "−.07"),
        (1.0, "1.00"),
        (0.0, ".00"),
        (-0.004, ".00"),
        (math.nan, "–"),
        (None, "–"),
    ],
)
def test_bounded_statistics_have_no_leading_zero(value, expected):
    assert apa.bounded(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0004, "< .001"),
        (0.001, ".001"),
        (0.0234, ".023"),
        (0.05, ".050"),
        (0.9996, "> .999"),
        (1.0, "> .999"),
    ],
)
def test_p_values(value, expected):
    assert apa.p_value(value) == expected


def test_other_numbers_counts_intervals_and_stars():
    assert apa.num(3.456) == "3.46" and apa.num(-0.5) == "−0.50" and apa.num(85.306, 3) == "85.306"
    assert apa.integer(12345) == "12,345" and apa.percent(0.125) == "12.5%"
    assert apa.ci(0.12, 0.456) == "[.12, .46]"
    assert apa.ci(2.1, 3.4, leading_zero=True) == "[2.10, 3.40]"
    assert apa.ci(-0.2, 0.1) == "[−.20, .10]"
    assert apa.p_clause(0.0001) == "p < .001" and apa.p_clause(0.03) == "p = .030"
    assert apa.p_clause(0.9999) == "p > .999"  # never "p = > .999"
    assert [apa.stars(p) for p in (0.0001, 0.005, 0.03, 0.2, None)] == ["***", "**", "*", "", ""]
