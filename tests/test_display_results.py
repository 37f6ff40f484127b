"""Result objects show readable tables in Jupyter (_repr_html_) and a lavaan-like summary()."""

from __future__ import annotations

import numpy as np
import pandas as pd
from dancerec.indices.cfa import fit_cfa
from dancerec.indices.groups import compare_groups
from dancerec.indices.reliability import reliability
from semopy.examples import holzinger39

HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
STRUCTURE = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}


def test_cfa_summary_and_html_show_fit_and_loadings():
    res = fit_cfa(holzinger39.get_data(), HS_MODEL)
    text = res.summary()
    assert "Global fit" in text and "CFI" in text and "0.931" in text  # lavaan: CFI .931
    assert "Loadings" in text and "x9" in text
    html = res._repr_html_()
    assert "<table" in html and "Factor correlations" in html and "textual" in html


def test_reliability_and_group_comparison_display():
    data = holzinger39.get_data()
    rel = reliability(data[[i for its in STRUCTURE.values() for i in its]], STRUCTURE)
    assert "Reliability per dimension" in rel.summary() and "visual" in rel._repr_html_()
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"a": rng.normal(size=90), "b": rng.normal(size=90)})
    groups = pd.Series(np.repeat(["G1", "G2", "G3"], 30))
    cmp = compare_groups(scores, groups)
    html = cmp._repr_html_()
    assert "Omnibus tests" in html and "G2" in html
    assert "<script" not in html


def test_linkage_result_display_names_every_family():
    from pathlib import Path
    from tempfile import mkdtemp

    from dancerec.indices import linkage as L
    from test_link_study import _make_study

    result = L.link_study(_make_study(Path(mkdtemp()) / "s", 0.5, pseudonymise=False), n_boot=50)
    frames = result.summary_frames()
    assert {"User-level correlations", "Regression terms", "SEM paths", "Missing links"} <= set(frames)
    assert "p_adj" in frames["SEM paths"].columns
    assert "N used" in result.summary() and "<table" in result._repr_html_()
