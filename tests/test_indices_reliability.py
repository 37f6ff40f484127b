"""Alpha, omega, CR, AVE, HTMT and Fornell-Larcker against hand computations and R.

R reference (Holzinger & Swineford 1939, the three-factor CFA of lavaan's tutorial). We had no R here;
these values are the ones a public project's test suite records as computed with native R 4.6.0 by
lavaan ``cfa(std.lv = FALSE)``, semTools ``compRelSEM()``, ``AVE()``, ``htmt()`` (default
``htmt2 = TRUE``) and psych ``alpha()$total$raw_alpha`` (a webR statistics app, test
``cfaReliability``, reference values derived 2026-06-19). The alpha values are also recomputed from the
raw formula on the items' covariance matrix (test below), and the CFA behind omega/AVE matches lavaan
in test_indices_cfa.py:
alpha .6261171 / .8827069 / .6884550; omega (compRelSEM) .6120052 / .8850608 / .6858417;
AVE .3705589 / .7210163 / .4244883; HTMT visual-textual .3840886, visual-speed .3867729,
textual-speed .2796836; latent correlations .4585093 / .4705345 / .2829847.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.reliability import composite_reliability, cronbach_alpha, feldt_ci, reliability
from dancerec.indices.validity import cross_loadings, fornell_larcker, htmt, htmt_flags
from semopy.examples import holzinger39

HS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}


def _exact_data(corr: np.ndarray, n: int, names: list[str], seed: int = 0) -> pd.DataFrame:
    """Data whose ML covariance matrix is exactly ``corr`` (whitened noise, then coloured)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(corr)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T
    return pd.DataFrame(z @ np.linalg.cholesky(corr).T, columns=names)


def test_alpha_hand_computed():
    # 5 respondents x 3 items. Item variances (n-1): 2.5, 1.7, 2.8 (sum 7.0); total scores 4, 7, 9,
    # 13, 15 with variance 79.2 / 4 = 19.8; alpha = 3/2 * (1 - 7.0/19.8) = 0.969697
    x = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 4, 5], "c": [1, 3, 3, 5, 5]}, dtype=float)
    assert x.var().tolist() == pytest.approx([2.5, 1.7, 2.8])
    total = x.sum(axis=1).var()
    expected = 1.5 * (1 - x.var().sum() / total)
    res = cronbach_alpha(x)
    assert res.alpha == pytest.approx(expected, rel=1e-12)
    assert res.alpha == pytest.approx(1.5 * (1 - 7.0 / 19.8), rel=1e-12)
    r = x.corr().to_numpy()[np.triu_indices(3, 1)].mean()
    assert res.alpha_std == pytest.approx(3 * r / (1 + 2 * r))


def test_feldt_ci_against_the_f_distribution_by_hand():
    # Feldt: 1 - (1 - a) F(1 - q; n - 1, (n - 1)(k - 1)); alpha .80, n 101, k 5 -> F(100, 400)
    from scipy import stats

    lo, hi = feldt_ci(0.80, 101, 5)
    assert lo == pytest.approx(1 - 0.2 * stats.f.ppf(0.975, 100, 400))
    assert hi == pytest.approx(1 - 0.2 * stats.f.ppf(0.025, 100, 400))
    assert lo < 0.80 < hi


def test_composite_reliability_by_hand():
    # (.7 + .8 + .9)^2 = 5.76; error variances .51 + .36 + .19 = 1.06; CR = 5.76 / 6.82
    assert composite_reliability([0.7, 0.8, 0.9]) == pytest.approx(5.76 / 6.82)


def test_omega_and_ave_on_an_exactly_fitting_one_factor_model():
    # Sigma = l l' + diag(1 - l^2), l = (.6, .7, .8, .9): the CFA recovers l exactly, so
    # omega = (sum l)^2 / sum(Sigma) = 9 / 10.7 and semTools' AVE = sum l^2 / p = 2.3 / 4
    lam = np.array([0.6, 0.7, 0.8, 0.9])
    corr = np.outer(lam, lam)
    np.fill_diagonal(corr, 1.0)
    data = _exact_data(corr, 500, ["i1", "i2", "i3", "i4"])
    res = reliability(data, {"f": ["i1", "i2", "i3", "i4"]})
    row = res.table.iloc[0]
    assert row["omega"] == pytest.approx(9 / 10.7, abs=1e-6)
    assert row["ave"] == pytest.approx(2.3 / 4, abs=1e-6)
    assert row["ave_fl"] == pytest.approx(2.3 / 4, abs=1e-6)
    assert row["cr"] == pytest.approx(composite_reliability(lam), abs=1e-6)
    assert res.htmt is None  # one dimension: no discriminant validity


def test_htmt_by_hand():
    # two constructs of two items; mono-trait r: .6 and .5; hetero-trait r: .3, .2, .25, .15
    corr = np.array(
        [
            [1.0, 0.6, 0.3, 0.2],
            [0.6, 1.0, 0.25, 0.15],
            [0.3, 0.25, 1.0, 0.5],
            [0.2, 0.15, 0.5, 1.0],
        ]
    )
    data = _exact_data(corr, 300, ["a1", "a2", "b1", "b2"])
    st = {"a": ["a1", "a2"], "b": ["b1", "b2"]}
    classic = 0.225 / math.sqrt(0.6 * 0.5)
    geometric = (0.3 * 0.2 * 0.25 * 0.15) ** 0.25 / math.sqrt(0.6 * 0.5)
    assert htmt(data, st, method="arithmetic").at["a", "b"] == pytest.approx(classic, abs=1e-10)
    assert htmt(data, st).at["a", "b"] == pytest.approx(geometric, abs=1e-10)
    assert htmt_flags(htmt(data, st)).empty


@pytest.fixture(scope="module")
def hs_rel():
    return reliability(holzinger39.get_data(), HS)


def test_hs1939_reliability_matches_r(hs_rel):
    t = hs_rel.table.set_index("dimension")
    assert t["alpha"].to_numpy() == pytest.approx([0.6261171, 0.8827069, 0.6884550], abs=1e-6)
    assert t["omega"].to_numpy() == pytest.approx([0.6120052, 0.8850608, 0.6858417], abs=1e-5)
    assert t["ave"].to_numpy() == pytest.approx([0.3705589, 0.7210163, 0.4244883], abs=1e-5)
    assert list(t["alpha_ok"]) == [False, True, False]
    assert list(t["ave_ok"]) == [False, True, False]
    h = hs_rel.htmt
    assert h.at["visual", "textual"] == pytest.approx(0.3840886, abs=1e-6)
    assert h.at["visual", "speed"] == pytest.approx(0.3867729, abs=1e-6)
    assert h.at["textual", "speed"] == pytest.approx(0.2796836, abs=1e-6)
    fl = hs_rel.fornell_larcker
    assert np.diag(fl) == pytest.approx(np.sqrt([0.3705589, 0.7210163, 0.4244883]), abs=1e-5)
    assert fl.at["visual", "textual"] == pytest.approx(0.4585093, abs=1e-5)
    assert fl.at["visual", "speed"] == pytest.approx(0.4705345, abs=1e-5)
    assert fl.at["textual", "speed"] == pytest.approx(0.2829847, abs=1e-5)


def test_hs1939_alpha_from_the_covariance_matrix():
    """alpha = k/(k-1) * (1 - sum of item variances / variance of the sum), straight from numpy."""
    data = holzinger39.get_data()
    by_formula = []
    for items in HS.values():
        cov = np.cov(data[items].to_numpy(), rowvar=False)
        k = len(items)
        by_formula.append(k / (k - 1) * (1 - np.trace(cov) / cov.sum()))
    assert by_formula == pytest.approx([0.6261171, 0.8827069, 0.6884550], abs=1e-6)


def test_reliability_json_keys_and_definitions(hs_rel):
    payload = hs_rel.to_json()
    assert {"dimensions", "htmt", "fornell_larcker"} <= set(payload)
    dim = payload["dimensions"][0]
    assert set(dim) == {"name", "n_items", "n", "n_total", "n_cfa", "alpha", "alpha_ci", "omega", "cr", "ave",
                        "negative_items"}  # fmt: skip
    assert payload["alpha_sample"] == "pairwise" and "pairwise" in payload["definitions"]["alpha"]
    assert payload["htmt"]["visual"]["textual"] == pytest.approx(0.3840886, abs=1e-6)
    assert "compRelSEM" in payload["definitions"]["omega"]


def test_fornell_larcker_defaults_to_mean_squared_loadings():
    from dancerec.indices.cfa import fit_cfa

    res = fit_cfa(holzinger39.get_data(), HS)
    fl = fornell_larcker(res)
    ave_fl = float(np.mean(res.std_loadings()["visual"] ** 2))
    assert fl.at["visual", "visual"] == pytest.approx(math.sqrt(ave_fl))


def test_cross_loadings_flag_a_misplaced_item():
    rng = np.random.default_rng(1)
    f, g = rng.standard_normal(400), rng.standard_normal(400)
    data = pd.DataFrame({f"a{i}": f + 0.5 * rng.standard_normal(400) for i in range(3)})
    for i in range(3):
        data[f"b{i}"] = g + 0.5 * rng.standard_normal(400)
    data["b3"] = f + 0.5 * rng.standard_normal(400)  # measures a, filed under b
    out = cross_loadings(data, {"a": ["a0", "a1", "a2"], "b": ["b0", "b1", "b2", "b3"]}).set_index("item")
    assert out.at["b3", "flag"]
    assert not out.loc[["a0", "a1", "a2", "b0", "b1", "b2"], "flag"].any()


# -- psych::alpha on psych's bfi (incomplete data); tests/fixtures/R/reliability/make_reliability.R ---------
def _bfi_reversed():
    import json
    from pathlib import Path

    root = Path(__file__).parent / "fixtures" / "R"
    ref = json.loads((root / "reliability" / "bfi_reliability.json").read_text())
    raw = pd.read_csv(root / "data" / "bfi.csv", index_col=0)
    rec = raw.copy()
    for item in ("A1", "C4", "C5", "E1", "E2", "O2", "O5"):
        rec[item] = 7 - rec[item]
    return raw, rec, ref


def test_alpha_uses_every_respondent_as_psych_alpha():
    """Default alpha = psych::alpha (pairwise covariances, N = everyone who answered); 'complete' = the
    complete cases of all 25 items (N = 2436 of 2800), both to 1e-10, Feldt CIs to 1e-8."""
    _, rec, ref = _bfi_reversed()
    structure = {d: v["items"] for d, v in ref["dimensions"].items()}
    for dim, r in ref["dimensions"].items():
        a = cronbach_alpha(rec[r["items"]])
        assert (a.n, a.n_total, a.sample) == (r["n_answered"], r["n_total"], "pairwise")
        assert a.alpha == pytest.approx(r["alpha_pairwise"], abs=1e-10), dim
        assert a.alpha_std == pytest.approx(r["alpha_std_pairwise"], abs=1e-10), dim
        assert a.ci == pytest.approx(tuple(r["feldt_pairwise"]), abs=1e-8), dim
        assert a.r_drop.to_numpy() == pytest.approx(r["rdrop_pairwise"], abs=1e-10), dim
        assert a.negative_items == []
    res = reliability(rec, structure)
    t = res.table.set_index("dimension")
    assert t["n"].tolist() == [2800] * 5 and t["n_cfa"].tolist() == [2436] * 5
    assert t["alpha"].to_numpy() == pytest.approx([r["alpha_pairwise"] for r in ref["dimensions"].values()])
    assert res.warnings == []
    comp = reliability(rec, structure, alpha_sample="complete", cfa=None)
    c = comp.table.set_index("dimension")
    for dim, r in ref["dimensions"].items():
        assert c.at[dim, "n"] == r["n_complete"] == 2436
        assert c.at[dim, "alpha"] == pytest.approx(r["alpha_complete"], abs=1e-10), dim
        assert (c.at[dim, "alpha_ci_low"], c.at[dim, "alpha_ci_high"]) == pytest.approx(
            tuple(r["feldt_complete"]), abs=1e-8
        )
    assert comp.to_json()["alpha_sample"] == "complete"


def test_unreversed_items_are_named_in_a_warning():
    """Unrecoded bfi: E1, E2 (negatively keyed) against E3-E5 make every item-rest r negative
    (psych r.drop), alpha = -.633 (psych); A1 alone is negative in A; N has no reverse-keyed item."""
    raw, _, ref = _bfi_reversed()
    e = ref["dimensions"]["E"]
    a = cronbach_alpha(raw[e["items"]])
    assert a.alpha == pytest.approx(e["alpha_unreversed"], abs=1e-10)
    assert a.r_drop.to_numpy() == pytest.approx(e["rdrop_unreversed"], abs=1e-10)
    assert a.negative_items == ["E1", "E2", "E3", "E4", "E5"]
    res = reliability(raw, {d: v["items"] for d, v in ref["dimensions"].items()})
    t = res.table.set_index("dimension")
    assert t.at["A", "negative_items"] == "A1"
    assert t.at["N", "negative_items"] == ""
    assert any(w.startswith("E: item(s) E1, E2, E3, E4, E5 correlate negatively") for w in res.warnings)
    assert not any(w.startswith("N:") for w in res.warnings)


def test_omega_hierarchical_matches_psych_omega():
    """psych::omega(bfi reverse-keyed, nfactors = 3 and 5) and HS (3): omega_h and omega_total to 1e-5,
    the reflected items (psych's key) the neuroticism items and O4."""
    import json
    from pathlib import Path

    from dancerec.indices.omega import omega_hierarchical

    ref = json.loads(
        (Path(__file__).parent / "fixtures" / "R" / "reliability" / "bfi_omega.json").read_text()
    )
    _, rec, _ = _bfi_reversed()
    items = [f"{t}{i}" for t in "ACENO" for i in range(1, 6)]
    for k in (3, 5):
        om = omega_hierarchical(rec, items, n_factors=k)
        r = ref[f"k{k}"]
        assert om.omega_h == pytest.approx(r["omega_h"], abs=1e-5)
        assert om.omega_total == pytest.approx(r["omega_tot"], abs=1e-5)
        assert om.g_loadings.to_numpy() == pytest.approx(r["g"], abs=1e-4)  # psych reports them reflected
        assert om.reflected == [i for i, k_ in zip(items, r["key"], strict=True) if k_ < 0]
        assert om.n == 2800
    hs = omega_hierarchical(holzinger39.get_data(), [f"x{i}" for i in range(1, 10)], n_factors=3)
    assert hs.omega_h == pytest.approx(ref["hs_k3"]["omega_h"], abs=1e-5)
    assert hs.omega_total == pytest.approx(ref["hs_k3"]["omega_tot"], abs=1e-5)


def test_omega_hierarchical_rejects_too_many_factors():
    from dancerec.indices.omega import omega_hierarchical

    from dancerec.errors import UserError

    with pytest.raises(UserError, match="group factors"):
        omega_hierarchical(holzinger39.get_data(), [f"x{i}" for i in range(1, 10)], n_factors=8)
