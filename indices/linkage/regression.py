"""User level: each dimension score regressed on the per-user metrics, within groups.

Predictors are centred on their group's mean and divided by their pooled within-group SD, and the group
enters as fixed effects (dummies; ``method="fixed"``, the default and the defensible choice with few
groups), so a coefficient is the change in the score per within-group SD of the metric: the between-group
difference cannot leak into it. ``mixedlm`` (group random intercept) and ``cluster`` (OLS with
cluster-robust errors) use the same centred predictors, so they estimate the same within-group slope.
Adjusted p: one family per metric (term) across the dimensions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from dancerec.indices.linkage._common import within_z
from dancerec.indices.linkage.multiplicity import add_adjusted

REGRESSION_METHODS = ("fixed", "mixedlm", "cluster")
FAMILY = "regression terms (one metric across dimensions)"
COLUMNS = [
    "dimension",
    "term",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "stat",
    "p",
    "beta",
    "n",
    "n_groups",
    "method",
    "converged",
    "note",
]


def _fit_fixed(y: pd.Series, X: pd.DataFrame, group: pd.Series) -> Any:
    """OLS with group dummies and HC3 errors (plain OLS with one group)."""
    import statsmodels.api as sm

    dummies = pd.get_dummies(group.astype(str), prefix="group", drop_first=True, dtype=float)
    return sm.OLS(y, sm.add_constant(pd.concat([X, dummies], axis=1))).fit(cov_type="HC3")


def _fit_mixed(y: pd.Series, X: pd.DataFrame, group: pd.Series) -> tuple[Any, str]:
    """MixedLM with a group random intercept (REML); (None, why) when it cannot be fitted."""
    import statsmodels.api as sm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitted = sm.MixedLM(y, sm.add_constant(X), groups=group.astype(str)).fit(
                reml=True, method=["lbfgs", "powell"]
            )
        except (np.linalg.LinAlgError, ValueError) as exc:
            return None, f"MixedLM failed ({exc}); group fixed effects used"
    if not np.all(np.isfinite(fitted.bse[list(X.columns)])):
        return None, "MixedLM standard errors undefined; group fixed effects used"
    texts = " ".join(str(w.message).lower() for w in caught)
    note = ""
    if "boundary" in texts or "singular" in texts:
        note = f"group random-intercept variance at the boundary (0) with {group.nunique()} groups"
    elif "converge" in texts:
        note = "MixedLM reported convergence problems"
    return fitted, note


def _fit_one(y: pd.Series, X: pd.DataFrame, group: pd.Series, method: str) -> tuple[Any, str, str]:
    """(fitted model, method actually used, note)."""
    import statsmodels.api as sm

    n_groups = group.nunique()
    if n_groups < 2:
        return sm.OLS(y, sm.add_constant(X)).fit(cov_type="HC3"), "ols", "only one group: OLS"
    if method == "mixedlm":
        fitted, note = _fit_mixed(y, X, group)
        if fitted is not None:
            return fitted, "mixedlm", note
        return _fit_fixed(y, X, group), "fixed", note
    if method == "cluster":
        fitted = sm.OLS(y, sm.add_constant(X)).fit(
            cov_type="cluster", cov_kwds={"groups": pd.factorize(group)[0]}
        )
        note = f"cluster-robust errors with only {n_groups} clusters are unreliable" if n_groups < 10 else ""
        return fitted, "cluster", note
    return _fit_fixed(y, X, group), "fixed", ""


def user_regressions(
    joined: pd.DataFrame,
    dimensions: Sequence[str],
    predictors: Sequence[str],
    *,
    method: str = "fixed",
    group_col: str = "group",
    adjust: str = "holm",
) -> pd.DataFrame:
    """Per dimension: score ~ within-group-standardised per-user metrics + group.

    Columns: dimension, term, estimate, se, ci_low, ci_high, stat, p, beta (estimate / the score's SD),
    n, n_groups, method, converged, note, then p_adj, family (one per term), adjust, significant.
    """
    if method not in REGRESSION_METHODS:
        raise ValueError(f"method must be one of {', '.join(REGRESSION_METHODS)}, not {method!r}")
    preds = [p for p in predictors if p in joined.columns]
    rows: list[dict[str, Any]] = []
    for dim in dimensions:
        if dim not in joined.columns or not preds:
            continue
        data = joined[[dim, group_col, *preds]].dropna()
        group = data[group_col].astype(str)
        X = pd.DataFrame({p: within_z(data[p], group) for p in preds}, index=data.index)
        usable = [p for p in preds if X[p].abs().max() > 0]
        if len(data) < len(usable) + group.nunique() + 2 or not usable:
            continue
        y = data[dim].astype(float)
        fitted, how, note = _fit_one(y, X[usable], group, method)
        ci = fitted.conf_int()
        sd_y = float(y.std(ddof=1))
        for term in usable:
            est = float(fitted.params[term])
            rows.append(
                {
                    "dimension": dim,
                    "term": term,
                    "estimate": est,
                    "se": float(fitted.bse[term]),
                    "ci_low": float(ci.loc[term].iloc[0]),
                    "ci_high": float(ci.loc[term].iloc[1]),
                    "stat": float(fitted.tvalues[term]),
                    "p": float(fitted.pvalues[term]),
                    "beta": est / sd_y if sd_y > 0 else math.nan,
                    "n": len(data),
                    "n_groups": group.nunique(),
                    "method": how,
                    "converged": bool(getattr(fitted, "converged", True)),
                    "note": note,
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return add_adjusted(frame, "regression term", adjust=adjust, by=["term"])
