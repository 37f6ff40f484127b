"""The start-up-lean route of ``dancerec indices cfa --data FILE.csv --model FILE.lav``: numpy only.

Why it exists: a whole ``dancerec indices cfa`` process spent about 0.7 s of its 1 s importing pandas,
scipy and semopy (lavaan's whole ``Rscript`` run takes about 0.5 s). For the plain case -- a CSV file, a
measurement model that :mod:`dancerec.indices.mlcore` covers, ML, complete data or listwise deletion --
this module reads the file with the csv module, applies the checks of the full path, fits the model with
:func:`dancerec.indices.mlcore.fit_ml` and returns the tables the command prints, computed by the same
functions the full path uses (fit indices from :mod:`dancerec.indices.fitindices`, the estimator
recommendation from :func:`dancerec.indices.recommend.recommend_from_array`).

:func:`lean_cfa` returns None whenever anything is outside that case or looks unusual (quotes, tabs or
blank lines in the file, a non-numeric cell, a duplicated column, too few rows, a constant item, a
non-positive-definite matrix, a Heywood case, non-convergence, ...): the CLI then runs the full path,
which gives the same numbers or the proper error message. It never gives different numbers; the tests in
tests/test_cfa_lean*.py compare both routes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from dancerec.indices._threads import single_blas_thread

from dancerec.errors import UserError

__all__ = ["LeanCFA", "lean_cfa", "read_numeric_csv"]

#: a plain decimal number (what pandas and the csv module both read the same way)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
#: cells pandas reads as missing that are accepted here (pandas knows more; those send the file to pandas)
_NA = {"", "NA", "NaN", "nan"}
_LOADINGS_TITLE = "loadings (std = completely standardised)"


def read_numeric_csv(path: Path, columns: list[str]) -> tuple[np.ndarray, list[str]] | None:
    """``columns`` of a comma-separated UTF-8 file as an N x k float array (NaN = missing) and the header,
    or None when the file is anything but plain (the full path's pandas reader then decides)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.replace("\r\n", "\n")  # Windows line ends, as pandas reads them
    if any(ch in text for ch in '"\t\r '):
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2 or any(not line for line in lines) or "," not in lines[0]:
        return None
    header = lines[0].split(",")
    if any(not h for h in header) or len(set(header)) != len(header):
        return None
    where = {h: k for k, h in enumerate(header)}
    if any(c not in where for c in columns):
        return None
    width = len(header)
    body = lines[1:]
    if any(line.count(",") != width - 1 for line in body):
        return None  # a ragged row
    # no quotes anywhere (checked above): splitting on commas is what the csv module would do
    cells = np.array(",".join(body).split(","), dtype=object).reshape(len(body), width)
    picked = cells[:, [where[c] for c in columns]].ravel().tolist()
    distinct = set(picked)
    if any(v not in _NA and not _NUMBER.match(v) for v in distinct):
        return None
    values = {v: (np.nan if v in _NA else float(v)) for v in distinct}
    x = np.array([values[v] for v in picked], dtype=float)
    return x.reshape(len(body), len(columns)), header


@dataclass(frozen=True)
class LeanCFA:
    """What ``dancerec indices cfa`` prints, as pandas-free tables (column name -> numpy array)."""

    description: str
    n_dimensions: int
    n_items: int
    recommendation: Any  # EstimatorRecommendation or None (the recommendation could not be computed)
    fit_table: dict[str, np.ndarray]
    n_note: str
    loadings: dict[str, np.ndarray]
    factor_correlations: dict[str, np.ndarray]
    largest_residuals: dict[str, np.ndarray]
    problems: list[str]
    estimator: str
    fit: Any  # FitIndices
    result: Any  # mlcore.LeanFit

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` payload, as :meth:`dancerec.indices.cfa.CFAResult.to_json` writes it."""
        from types import SimpleNamespace

        from dancerec.indices.fitindices import measurement_json

        cols = ("factor", "item", "estimate", "std", "se", "p")
        rows = [
            SimpleNamespace(**dict(zip(cols, r, strict=True)))
            for r in zip(*(self.loadings[c] for c in cols), strict=True)
        ]
        return measurement_json(self.fit, rows, self.n_note)


@dataclass(frozen=True)
class _Row:
    kind: str
    lhs: str
    rhs: str
    free: bool
    estimate: float
    std: float


def _checks_pass(x: np.ndarray, min_n: int) -> bool:
    """The full path's data checks (prepare_items): enough rows, no constant item, a PD correlation matrix."""
    if x.shape[0] < min_n or x.shape[0] <= x.shape[1]:
        return False
    sd = x.std(axis=0)
    if not np.all(np.isfinite(sd)) or np.any(sd <= 1e-12):
        return False
    return bool(np.linalg.eigvalsh(np.corrcoef(x, rowvar=False))[0] > 1e-8)


def _recommendation(names: list[str], x: np.ndarray):
    from dancerec.indices.recommend import recommend_from_array

    try:
        return recommend_from_array(names, x)
    except UserError:
        return None


@single_blas_thread  # for 25 x 25 matrices BLAS threads cost more than they save (10 ms per eigh)
def lean_cfa(data: Path, model: Path, *, missing: str | None = None, std_lv: bool = False) -> LeanCFA | None:
    """The ML CFA of ``model`` on the CSV file ``data`` without pandas, scipy.stats or semopy; None when
    the full path must answer (see the module docstring)."""
    from dancerec.indices import mlcore
    from dancerec.indices.syntax import read_model_file

    if Path(data).suffix.lower() != ".csv" or missing not in (None, "listwise", "fiml"):
        return None
    try:
        spec = read_model_file(model)
    except (UserError, OSError):
        return None
    structure = spec.measurement
    st = mlcore.lean_structure(spec, std_lv)
    if st is None or any(len(items) < 3 for items in structure.values()):
        return None
    items = list(dict.fromkeys(i for its in structure.values() for i in its))  # a cross-loading item once
    read = read_numeric_csv(Path(data), items)
    if read is None:
        return None
    x_all, header = read
    if set(st.latent) & set(header):
        return None
    n_total = x_all.shape[0]
    order = [items.index(v) for v in st.observed]
    x_obs = x_all[:, order]
    incomplete = np.isnan(x_obs).any(axis=1)
    if incomplete.any() and missing != "listwise":
        return None  # FIML
    x = x_obs[~incomplete]
    if not _checks_pass(x, max(st.npar + 1, len(st.observed) + 1, 10)):
        return None
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / x.shape[0]
    res = mlcore.fit_ml(st, s, x.shape[0])
    if res is None or not res.converged:
        return None
    return _assemble(spec, st, res, x_all, items, n_total, data, model)


def _param_rows(spec, st, res) -> tuple[list[tuple[str, str, float, float, float]], list[_Row]]:
    """Loadings (factor, item, estimate, std, se) in the full path's order, and every parameter row."""
    obs = {v: k for k, v in enumerate(st.observed)}
    lat = {v: k for k, v in enumerate(st.latent)}
    se = {key: value for key, value in zip(st.free, res.se, strict=True)}
    std = res.std_loadings()
    loadings = []
    for factor, item in st.loadings:
        i, f = obs[item], lat[factor]
        loadings.append((factor, item, res.lam[i, f], std[i, f], se.get(("L", i, f), np.nan)))
    # the full path's order (paramtable.param_table): factor as written, then items by first appearance
    pos = {v: k for k, v in enumerate(dict.fromkeys([*st.latent, *spec.observed]))}
    loadings.sort(key=lambda r: (pos[r[0]], pos[r[1]]))
    rows = [_Row("loading", f, i, True, est, sd) for f, i, est, sd, _ in loadings]
    corr = res.factor_correlations()
    m = len(st.latent)  # covariances (earlier factor first), then variances, as the full path lists them
    for f in range(m):
        for g in range(f + 1, m):
            rows.append(_Row("covariance", st.latent[f], st.latent[g], True, res.psi[f, g], corr[f, g]))
    for f in range(m):
        rows.append(_Row("variance", st.latent[f], st.latent[f], not st.std_lv, res.psi[f, f], 1.0))
    for which, i, j in st.free:
        if which == "T":
            kind = "residual variance" if i == j else "residual covariance"
            rows.append(_Row(kind, st.observed[i], st.observed[j], True, res.th[i, j], np.nan))
    return loadings, rows


def _largest_residuals(st, res, k: int = 8) -> dict[str, np.ndarray]:
    """The k largest absolute residual correlations, as :meth:`CFAResult.largest_residuals` lists them."""
    r = res.residual_correlations()
    cols = st.observed
    pairs = [(cols[i], cols[j], float(r[i, j])) for i in range(len(cols)) for j in range(i)]
    top = np.argsort(-np.abs([v for _, _, v in pairs]), kind="stable")[:k]
    return {
        "item_a": np.array([pairs[t][0] for t in top], dtype=object),
        "item_b": np.array([pairs[t][1] for t in top], dtype=object),
        "residual_r": np.array([pairs[t][2] for t in top], dtype=float),
    }


def _assemble(spec, st, res, x_all, items, n_total, data, model) -> LeanCFA | None:
    from dancerec.indices import mlcore
    from dancerec.indices._dist import norm_sf
    from dancerec.indices.fitindices import fit_indices, fit_rows

    loadings, rows = _param_rows(spec, st, res)
    if any(r.kind in ("variance", "residual variance") and r.free and r.estimate <= 1e-6 for r in rows):
        return None  # a Heywood case: semopy's bounded solution is what the full path reports
    try:
        fit = fit_indices(res.s, res.sigma, res.n, st.npar)
    except np.linalg.LinAlgError:
        return None
    fit = replace(fit, n_total=n_total)
    table = fit_rows(fit)
    est = np.array([r[2] for r in loadings], dtype=float)
    se = np.array([r[4] for r in loadings], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)
    p = np.where(np.isfinite(z), 2 * np.asarray(norm_sf(np.abs(np.nan_to_num(z))), dtype=float), np.nan)
    dropped = n_total - res.n
    n_note = f"N used {res.n} of {n_total}"
    if dropped:
        n_note += f"; left out: {dropped} with at least one missing answer (listwise deletion)"
    corr = res.factor_correlations()
    identification = "unit latent variances (std.lv)" if st.std_lv else "marker-variable identification"
    return LeanCFA(
        description=f"{Path(data).name} with model {Path(model).name}",
        n_dimensions=len(spec.measurement),
        n_items=sum(len(v) for v in spec.measurement.values()),
        recommendation=_recommendation(items, x_all),
        fit_table={
            "index": np.array([label for label, _ in table], dtype=object),
            "value": np.array([value for _, value in table], dtype=float),
        },
        n_note=n_note,
        loadings={
            "factor": np.array([r[0] for r in loadings], dtype=object),
            "item": np.array([r[1] for r in loadings], dtype=object),
            "estimate": est,
            "std": np.array([r[3] for r in loadings], dtype=float),
            "se": se,
            "z": z,
            "p": p,
        },
        factor_correlations={
            "index": np.array(st.latent, dtype=object),
            **{f: corr[:, k].copy() for k, f in enumerate(st.latent)},
        },
        largest_residuals=_largest_residuals(st, res),
        problems=mlcore.improper_messages(rows),
        estimator=(
            f"ML (numpy Fisher scoring/Newton, dancerec.indices.mlcore: semopy obj=MLW's optimum), "
            f"{identification}, expected-information SEs, listwise deletion"
        ),
        fit=fit,
        result=res,
    )
