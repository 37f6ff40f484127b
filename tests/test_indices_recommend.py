"""Mardia's tests against psych::mardia (psych 2.2.9) and the estimator recommendation on planted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.normality import mardia
from dancerec.indices.recommend import recommend_estimator
from ordinal_data import bfi_items, r_values

from dancerec.errors import UserError


@pytest.mark.parametrize(
    ("csv", "rows", "cols"),
    [("bfi_mardia.csv", None, None), ("bfi80_mardia.csv", 80, ["A1", "A2", "A3", "A4", "A5"])],
)
def test_mardia_matches_psych(csv, rows, cols):
    data = bfi_items(complete=True)
    if rows is not None:
        data = data.iloc[:rows][cols]
    ref = r_values(csv)
    out = mardia(data).set_index("test")
    assert out.loc["skewness", "n"] == ref["n"]
    assert out.loc["skewness", "coefficient"] == pytest.approx(ref["b1p"], rel=1e-10)
    assert out.loc["kurtosis", "coefficient"] == pytest.approx(ref["b2p"], rel=1e-10)
    assert out.loc["skewness", "statistic"] == pytest.approx(ref["skew"], rel=1e-10)
    assert out.loc["skewness (small sample)", "statistic"] == pytest.approx(ref["small_skew"], rel=1e-10)
    assert out.loc["kurtosis", "statistic"] == pytest.approx(ref["kurtosis"], rel=1e-8)
    assert out.loc["skewness", "p"] == pytest.approx(ref["p_skew"], abs=1e-10)
    assert out.loc["skewness (small sample)", "p"] == pytest.approx(ref["p_small"], abs=1e-10)
    assert out.loc["kurtosis", "p"] == pytest.approx(ref["p_kurt"], abs=1e-10)


def test_mardia_refuses_too_few_cases():
    with pytest.raises(UserError, match="more complete cases than items"):
        mardia(pd.DataFrame(np.eye(3)))


def test_bfi_gets_wlsmv_for_floor_and_ceiling_effects():
    rec = recommend_estimator(bfi_items())
    name, reasons = rec  # unpacks as (name, reasons)
    assert name == "WLSMV"
    assert any("floor or ceiling" in r and "15%" in r for r in reasons)
    assert any("Mardia" in r and "N = 2436 of 2800" in r for r in reasons)
    assert all(r.endswith(".") for r in reasons)


def test_few_categories_get_wlsmv():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((500, 4)) + rng.standard_normal((500, 1))
    data = pd.DataFrame(np.digitize(z, [-0.8, 0.8]) + 1, columns=list("abcd"))  # 3 categories, central
    rec = recommend_estimator(data, extreme_share=0.5)
    assert rec.name == "WLSMV"
    assert "at most 4 observed answer categories" in rec.reasons[0]


def test_normal_continuous_items_get_ml_and_skewed_get_mlr():
    rng = np.random.default_rng(2)
    common = rng.standard_normal((600, 1))
    normal = pd.DataFrame(common + rng.standard_normal((600, 6)), columns=[f"x{i}" for i in range(6)])
    rec = recommend_estimator(normal)
    assert rec.name == "ML"  # the null: normal data, Mardia not rejected at .025 (this seed)
    skewed = np.exp(normal)  # lognormal: strongly skewed, continuous, no floor/ceiling
    assert recommend_estimator(skewed).name == "MLR"


def test_methods_paragraph_states_used_and_recommended_estimator():
    from dancerec.indices.recommend import EstimatorRecommendation, methods_paragraph

    rec = EstimatorRecommendation("WLSMV", ["Reason one.", "Reason two."])
    text = methods_paragraph("ml", rec)
    assert text.startswith("The model was estimated by maximum likelihood (ML) (lavaan's default")
    assert "WLSMV" in text and text.endswith("Reason one. Reason two.")
    assert "the estimator the item distributions call for" in methods_paragraph("WLSMV", rec)
