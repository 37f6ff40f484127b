"""The stored-results store (dancerec.results): JSON round trips, keys, staleness, safety."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.cfa import fit_cfa
from semopy.examples import holzinger39

from dancerec import results as R
from dancerec.errors import UserError
from dancerec.workspace import Study

HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@dataclasses.dataclass
class Inner:
    table: pd.DataFrame
    series: pd.Series
    ci: tuple[float, float]


@dataclasses.dataclass
class Outer:
    name: str
    inner: Inner
    by_group: dict[str, pd.DataFrame]
    pairs: dict[tuple[str, str], float]
    values: np.ndarray
    flags: list[bool]
    handle: object | None = dataclasses.field(default=None, compare=False)


def _outer() -> Outer:
    table = pd.DataFrame(
        {
            "item": ["a", "b", "é 推荐"],
            "n": np.array([1, 2, 3], dtype="int64"),
            "r": [0.5, np.nan, -1.25e-12],
            "ok": [True, False, True],
        },
        index=pd.Index(["x", "y", "z"], name="respondent_id"),
    )
    return Outer(
        name="demo",
        inner=Inner(table, pd.Series([1.5, np.inf], index=["p", "q"], name="s"), (0.1, 0.9)),
        by_group={"A": table.head(1)},
        pairs={("a", "b"): 0.3},
        values=np.array([[1.0, 2.0], [3.0, 4.0]]),
        flags=[True, False],
        handle=object(),  # a transient handle (compare=False) is stored as None
    )


@pytest.fixture(autouse=True)
def _register():
    R.register_result_class(Inner)
    R.register_result_class(Outer)


def test_round_trip_keeps_frames_dtypes_index_and_nested_dataclasses():
    obj = _outer()
    text = json.dumps(R.encode(obj), allow_nan=False)  # strict JSON: NaN/inf encoded, not emitted
    back = R.decode(json.loads(text))
    assert isinstance(back, Outer) and isinstance(back.inner, Inner)
    pd.testing.assert_frame_equal(back.inner.table, obj.inner.table)
    pd.testing.assert_series_equal(back.inner.series, obj.inner.series)
    pd.testing.assert_frame_equal(back.by_group["A"], obj.by_group["A"])
    assert back.inner.ci == (0.1, 0.9) and back.pairs == {("a", "b"): 0.3}
    np.testing.assert_array_equal(back.values, obj.values)
    assert back.flags == [True, False] and back.handle is None


def test_real_cfa_result_round_trips(tmp_path):
    cfa = fit_cfa(holzinger39.get_data(), HS_MODEL)
    study = Study.init(tmp_path / "s", name="t")
    key = R.result_key("indices.cfa", {"data": "hs"}, {"estimator": "ML"})
    R.save_result(study, "indices.cfa", key, {"estimator": "ML"}, cfa)
    back = R.load_result(study, "indices.cfa", key)
    assert type(back) is type(cfa) and back.fitted is None
    assert back.fit == cfa.fit  # FitIndices: every index (chi2, CFI, RMSEA CI ...) equal
    pd.testing.assert_frame_equal(back.loadings, cfa.loadings)
    pd.testing.assert_frame_equal(back.factor_correlations, cfa.factor_correlations)
    assert back.structure == cfa.structure and back.syntax == cfa.syntax


def test_key_depends_on_kind_fingerprint_and_settings_only():
    base = R.result_key("k", {"t": [3, "9"]}, {"seed": 1, "n": 2})
    assert base == R.result_key("k", {"t": [3, "9"]}, {"n": 2, "seed": 1})  # order-free
    assert base != R.result_key("k", {"t": [4, "9"]}, {"seed": 1, "n": 2})
    assert base != R.result_key("k", {"t": [3, "9"]}, {"seed": 2, "n": 2})
    assert base != R.result_key("other", {"t": [3, "9"]}, {"seed": 1, "n": 2})


def test_fingerprint_changes_when_a_row_changes(study):
    with study.transaction() as con:
        con.execute("CREATE TABLE toy (a INTEGER, b VARCHAR)")
        con.execute("INSERT INTO toy VALUES (1, 'x'), (2, 'y')")
    first = R.table_fingerprint(study, ["toy", "absent"])
    assert first["toy"][0] == 2 and first["absent"] == [0, None]
    assert R.table_fingerprint(study, ["toy"])["toy"] == first["toy"]  # stable
    with study.transaction() as con:
        con.execute("UPDATE toy SET b = 'z' WHERE a = 2")
    changed = R.table_fingerprint(study, ["toy"])["toy"]
    assert changed[0] == 2 and changed[1] != first["toy"][1]
    with study.transaction() as con:  # a duplicated row is not cancelled out (sum, not xor)
        con.execute("INSERT INTO toy VALUES (1, 'x'), (1, 'x')")
    assert R.table_fingerprint(study, ["toy"])["toy"][1] not in (first["toy"][1], changed[1])


def test_get_or_compute_caches_and_recomputes_when_stale(study):
    calls = []

    def compute():
        calls.append(1)
        return _outer()

    obj, cached = R.get_or_compute(study, "demo", {"rows": 1}, {"seed": 1}, compute)
    assert not cached and len(calls) == 1
    again, cached = R.get_or_compute(Study.open(study.root), "demo", {"rows": 1}, {"seed": 1}, compute)
    assert cached and len(calls) == 1
    pd.testing.assert_frame_equal(again.inner.table, obj.inner.table)
    _, cached = R.get_or_compute(study, "demo", {"rows": 2}, {"seed": 1}, compute)  # data changed
    assert not cached and len(calls) == 2
    _, cached = R.get_or_compute(study, "demo", {"rows": 1}, {"seed": 2}, compute)  # settings changed
    assert not cached and len(calls) == 3
    listed = R.list_results(study)
    assert len(listed) == 3 and json.loads(listed["settings"].iloc[0]) == {"__dict__": {"seed": 2}}


def test_versions_and_latest(study):
    assert R.latest_result(study, "x") is None and R.load_result(study, "x", "k") is None
    assert R.save_result(study, "x", "k", {}, {"v": 1}) == 1
    assert R.save_result(study, "x", "k", {}, {"v": 2}) == 2
    assert R.load_result(study, "x", "k") == {"v": 2}
    R.save_result(study, "x", "k2", {}, [3])
    assert R.latest_result(study, "x") == [3]


def test_a_failed_save_leaves_the_store_unchanged(study):
    R.save_result(study, "x", "k", {}, 1)
    with pytest.raises(TypeError, match="cannot store a"):
        R.save_result(study, "x", "k", {}, {"bad": object()})
    assert R.load_result(study, "x", "k") == 1 and len(R.list_results(study)) == 1


def test_decoding_refuses_classes_outside_dancerec():
    for name in ("os:system", "subprocess:Popen", "builtins:eval", "dancerecx.mod:Thing"):
        before = set(sys.modules)
        with pytest.raises(UserError, match="not an allowed result class"):
            R.decode({"__dataclass__": name, "fields": {}})
        assert set(sys.modules) == before  # nothing was imported
    with pytest.raises(UserError, match="not a result dataclass"):
        R.decode({"__dataclass__": "dancerec.workspace:Study", "fields": {}})
    with pytest.raises(UserError, match="does not have"):
        R.decode({"__dataclass__": "dancerec.workspace:Nope", "fields": {}})


@dataclasses.dataclass
class Evolving:
    a: int


def test_a_result_of_a_class_that_changed_fields_is_treated_as_missing(study):
    R.register_result_class(Evolving)
    key = R.result_key("evolving", None, {})
    R.save_result(study, "evolving", key, {}, Evolving(1))
    assert R.load_result(study, "evolving", key) == Evolving(1)
    assert R.get_or_compute(study, "evolving", None, {}, lambda: Evolving(2)) == (Evolving(1), True)
    with study.transaction() as con:  # as if stored by a version whose Evolving had a field "b" too
        con.execute(
            'UPDATE analysis_result SET payload = replace(payload, \'"fields":{"a":1}\', '
            '\'"fields":{"a":1,"b":2}\') WHERE kind = \'evolving\''
        )
    assert R.load_result(study, "evolving", key) is None
    calls = []
    obj, cached = R.get_or_compute(study, "evolving", None, {}, lambda: calls.append(1) or Evolving(3))
    assert not cached and calls == [1] and obj == Evolving(3)


def test_sets_round_trip():
    obj = {"free": frozenset({"x1", "x2"}), "seen": {("a", 1), ("b", 2)}}
    back = R.decode(json.loads(json.dumps(R.encode(obj), allow_nan=False)))
    assert back == obj and isinstance(back["free"], frozenset) and isinstance(back["seen"], set)
