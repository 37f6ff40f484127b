"""dancerec.display: one summary_frames() gives both the lavaan-like summary() and Jupyter's HTML."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from dancerec.display import DisplayMixin, format_frame

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S


@dataclass
class Toy(DisplayMixin):
    paths: pd.DataFrame

    def summary_header(self) -> list[str]:
        return ["Estimator: ML", "N = 318"]

    def summary_frames(self) -> dict[str, pd.DataFrame]:
        return {"Regressions": self.paths, "Empty": pd.DataFrame()}


def _toy() -> Toy:
    return Toy(
        pd.DataFrame(
            {
                "lhs": ["usefulness", "<script>x</script>"],
                "rhs": ["ease", "content"],
                "estimate": [0.41234, -1.5],
                "p": [0.00001, 0.0312],
                "n": [318, 318],
                "ok": [True, False],
            }
        )
    )


def test_summary_is_lavaan_like_text():
    text = _toy().summary()
    lines = text.splitlines()
    assert lines[:4] == ["Toy", "===", "Estimator: ML", "N = 318"]
    assert "Regressions:" in lines and "Empty:" in lines and "  (none)" in lines
    row = next(line for line in lines if "usefulness" in line)
    assert row.split() == ["usefulness", "ease", "0.412", "<.001", "318", "yes"]
    assert "-1.500" in text and "0.031" in text
    assert repr(text) == str(text)  # shows as text in a notebook


def test_html_is_a_readable_escaped_table():
    out = _toy()._repr_html_()
    assert out.count("<table") == 1 and "<h4" in out and "Regressions" in out
    assert "&lt;script&gt;x&lt;/script&gt;" in out and "<script>" not in out
    assert "<td>0.412</td>" in out and "<td>&lt;.001</td>" in out


def test_a_class_must_implement_summary_frames():
    class Bare(DisplayMixin):
        pass

    with pytest.raises(NotImplementedError, match="Bare must implement summary_frames"):
        Bare().summary()


def test_report_data_uses_the_mixin():
    data = S.report_data(n_per_group=30)
    frames = data.summary_frames()
    assert list(frames) == ["Respondents", "Reliability", "Group tests", "Offline metrics", "Evaluation runs"]
    text = data.summary()
    alpha = format_frame(data.reliability)["alpha"].iloc[0]
    assert alpha in text and "fixture <study>" in text
    html = data._repr_html_()
    assert html.count("<table") == len(frames) and "对照组 C &amp; &lt;b&gt;" in html


def test_public_api_of_dancerec_reports():
    import dancerec.reports as reports
    from dancerec.reports import collect_report_data, write_reports
    from dancerec.reports.collect import collect_report_data as direct

    assert collect_report_data is direct and callable(write_reports)
    for name in reports.__all__:
        assert getattr(reports, name) is not None
    with pytest.raises(AttributeError):
        reports.nope  # noqa: B018
