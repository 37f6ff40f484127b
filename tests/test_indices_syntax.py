"""lavaan-style model syntax: parsing, generation and refusal of what is not supported."""

from __future__ import annotations

import pytest
from dancerec.indices.syntax import (
    ModelSyntaxError,
    check_against_data,
    evaluate_defined,
    measurement_syntax,
    parse_model,
    read_model_file,
)

from dancerec.errors import UserError


def test_parse_measurement_regressions_labels_and_definitions():
    spec = parse_model(
        """
        # a comment
        f =~ a1 + a2 +
             a3            ! continued line
        g =~ b1 + 0.5*b2 + b3; h =~ c1 + c2 + c3
        h ~ p*f + q*g
        a1 ~~ b1
        ind := p*2 + q
        """
    )
    assert spec.measurement == {"f": ["a1", "a2", "a3"], "g": ["b1", "b2", "b3"], "h": ["c1", "c2", "c3"]}
    assert [(t.lhs, t.rhs, t.label) for t in spec.regressions] == [("h", "f", "p"), ("h", "g", "q")]
    assert next(t for t in spec.terms if t.rhs == "b2").fixed == 0.5
    assert spec.endogenous == ["h"]
    assert spec.observed == ["a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3"]
    assert spec.defined == {"ind": "p*2 + q"}
    assert evaluate_defined("p*2 + q", {"p": 0.3, "q": -0.1}) == pytest.approx(0.5)
    assert "h ~ p*f" in spec.to_semopy()
    assert parse_model(spec.to_lavaan()).to_lavaan() == spec.to_lavaan()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("f =~ a1 + a2 + a3\nf ~ 1", "latent means"),
        ("f =~ a1 + a2 + a3\na1 ~ 0*1", "intercepts"),
        ("f =~ a1 + a*a2 + a3\na == b", "unknown label"),
        ("f =~ a1 + a*a2 + b*a3\na == 2*b", "only equality of two labels"),
        ("a < b", "inequality"),
        ("f a1 a2", "no operator"),
        ("f =~ a1 + 2b", "cannot read term"),
        ("f =~ a1 + a2 + a3\nind := p*q", "unknown label"),
        ("f =~ a1 + a2 + a3\nind := p**2", "cannot read|only"),
        ("", "no statements"),
    ],
)
def test_unsupported_or_broken_syntax_is_refused(text, message):
    with pytest.raises(ModelSyntaxError, match=message):
        parse_model(text)


def test_check_against_data_and_generation(tmp_path):
    spec = parse_model(measurement_syntax({"f": ["a1", "a2", "a3"], "g": ["b1", "b2"]}))
    with pytest.raises(UserError, match="'g' has 2 item"):
        check_against_data(spec, ["a1", "a2", "a3", "b1", "b2"])
    with pytest.raises(UserError, match="not in the data: b2"):
        check_against_data(spec, ["a1", "a2", "a3", "b1"], min_indicators=2)
    with pytest.raises(UserError, match="also data columns"):
        check_against_data(spec, ["a1", "a2", "a3", "b1", "b2", "f"], min_indicators=2)
    with pytest.raises(UserError, match="cannot be used as a variable name"):
        measurement_syntax({"f": ["a 1", "a2", "a3"]})
    path = tmp_path / "m.lav"
    path.write_text("f =~ a1 + a2 + a3\n", encoding="utf-8")
    assert read_model_file(path).measurement == {"f": ["a1", "a2", "a3"]}
    with pytest.raises(UserError, match="cannot read the model file"):
        read_model_file(tmp_path / "missing.lav")


def test_intercepts_equalities_free_markers_and_std_lv_are_parsed_and_written_back():
    text = "f =~ NA*a1 + p*a2 + q*a3\ng =~ b1 + b2 + b3\na1 ~ 1\np == q"
    spec = parse_model(text)
    assert spec.intercepts == ["a1"]
    assert spec.equalities == [("p", "q")]
    assert next(t for t in spec.terms if t.rhs == "a1").free
    assert parse_model(spec.to_lavaan()).to_lavaan() == spec.to_lavaan()
    assert "NA*a1" in spec.to_lavaan() and "p == q" in spec.to_lavaan()
    sem = spec.to_semopy()
    assert "f =~ p*a3" in sem  # q is written as p: one shared parameter
    assert "_free_f_a1*a1" in sem
    spec.std_lv = True
    sem = spec.to_semopy()
    assert "g =~ _free_g_b1*b1" in sem and "f ~~ 1.0*f" in sem and "g ~~ 1.0*g" in sem
