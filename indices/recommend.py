"""Which estimator suits the item data: WLSMV, MLR or ML, with one sentence per reason for a methods section.

Rules, checked in this order (the first that applies decides; every finding is reported):

1. **WLSMV** when some indicator has few answer categories (at most ``max_categories`` = 4 distinct
   values observed; Rhemtulla, Brosseau-Liard & Savalei 2012 found ML-type estimators biased below five
   categories), or a strong floor/ceiling effect: more than ``extreme_share`` = 15% of the answers in the
   lowest or highest category of the scale (Terwee et al. 2007's 15% criterion, applied per item).
2. **MLR** when multivariate normality is rejected: Mardia's skewness or kurtosis test with p below
   ``alpha`` / 2 (alpha = .05, Bonferroni-adjusted for the two tests) on the complete cases.
3. **ML** otherwise.

Only a recommendation: dancerec's default estimator stays ML, as lavaan's, so numbers remain comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from dancerec.indices.normality import mardia_tests

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EstimatorRecommendation", "methods_paragraph", "recommend_estimator", "recommend_from_array"]


class EstimatorRecommendation(NamedTuple):
    """``name`` is "WLSMV", "MLR" or "ML"; ``reasons`` are complete sentences."""

    name: str
    reasons: list[str]


def _listing(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def recommend_estimator(
    items: pd.DataFrame,
    *,
    scale: tuple[float, float] | None = None,
    max_categories: int = 4,
    extreme_share: float = 0.15,
    alpha: float = 0.05,
) -> EstimatorRecommendation:
    """Recommend an estimator for a CFA/SEM of ``items`` (rules in the module docstring).

    ``scale`` is the possible answer range (e.g. (1, 5)); by default the observed minimum and maximum of
    each item are its extreme categories. A column named twice (an item loading on two factors) counts once.
    """
    import pandas as pd

    frame = items.apply(pd.to_numeric, errors="coerce")
    frame = frame.loc[:, ~frame.columns.duplicated()]
    return recommend_from_array(
        [str(c) for c in frame.columns],
        frame.to_numpy(dtype=float),
        scale=scale,
        max_categories=max_categories,
        extreme_share=extreme_share,
        alpha=alpha,
    )


def recommend_from_array(
    names: Sequence[str],
    x: np.ndarray,
    *,
    scale: tuple[float, float] | None = None,
    max_categories: int = 4,
    extreme_share: float = 0.15,
    alpha: float = 0.05,
) -> EstimatorRecommendation:
    """:func:`recommend_estimator` on an N x k float array (NaN = missing) with column ``names`` (numpy
    only: the start-up-lean CFA path calls it without pandas)."""
    x = np.asarray(x, dtype=float)
    reasons: list[str] = []
    ordinal = False
    columns = [x[:, k][~np.isnan(x[:, k])] for k in range(x.shape[1])]
    # distinct answers (a set, not np.unique: that imports numpy.ma, 30 ms of a lean CLI start)
    counts = {c: len(set(col.tolist())) for c, col in zip(names, columns, strict=True)}
    few = [c for c, k in counts.items() if k <= max_categories]
    if few:
        ordinal = True
        reasons.append(
            f"{len(few)} of {len(counts)} items have at most {max_categories} observed answer categories "
            f"({_listing(few)}), too few to treat them as continuous, so WLSMV on polychoric correlations is "
            "recommended."
        )
    extreme = []
    for c, col in zip(names, columns, strict=True):
        if not len(col):
            continue
        lo, hi = scale if scale is not None else (col.min(), col.max())
        share = max(float(np.mean(col == lo)), float(np.mean(col == hi)))
        if share > extreme_share:
            extreme.append((c, share))
    if extreme:
        ordinal = True
        worst = max(extreme, key=lambda t: t[1])
        reasons.append(
            f"{len(extreme)} of {len(counts)} items have floor or ceiling effects (more than "
            f"{extreme_share:.0%} of answers in the lowest or highest category; largest {worst[1]:.0%} for "
            f"{worst[0]}), so they are better treated as ordinal and WLSMV is recommended."
        )
    complete = x[~np.isnan(x).any(axis=1)]
    tests = {row[0]: row for row in mardia_tests(complete, x.shape[0])}
    _, _, skew_stat, skew_df, skew_p = tests["skewness"]
    _, _, kurt_stat, _, kurt_p = tests["kurtosis"]
    cut = alpha / 2
    nonnormal = bool(skew_p < cut or kurt_p < cut)
    n, n_total = complete.shape[0], x.shape[0]
    verdict = "rejected" if nonnormal else "not rejected"
    reasons.append(
        f"Multivariate normality was {verdict} by Mardia's tests (skewness chi2({skew_df:.0f}) = "
        f"{skew_stat:.1f}, p {_p(skew_p)}; kurtosis z = {kurt_stat:.2f}, p {_p(kurt_p)}; "
        f"N = {n} of {n_total}, each test at alpha = {cut:g}, Bonferroni over the two)"
        + (", so MLR (robust ML) is recommended." if nonnormal and not ordinal else ".")
    )
    if ordinal:
        return EstimatorRecommendation("WLSMV", reasons)
    if nonnormal:
        return EstimatorRecommendation("MLR", reasons)
    reasons.append("The items are many-categoried and approximately normal, so ML is adequate.")
    return EstimatorRecommendation("ML", reasons)


def _p(p: float) -> str:
    return "< .001" if p < 0.001 else f"= {p:.3f}".replace("0.", ".")


_FULL_NAMES = {
    "ML": "maximum likelihood (ML)",
    "MLR": "robust maximum likelihood (MLR)",
    "WLSMV": "WLSMV (diagonally weighted least squares on polychoric correlations, scaled-shifted test)",
}


def methods_paragraph(used: str, recommendation: EstimatorRecommendation) -> str:
    """The methods-section text: which estimator was used, what the data suggest and why.

    ``used`` is the estimator actually fitted ("ML", "MLR" or "WLSMV").
    """
    used = used.upper()
    name = recommendation.name
    first = f"The model was estimated by {_FULL_NAMES.get(used, used)}"
    if used == name:
        first += ", the estimator the item distributions call for."
    elif used == "ML":
        first += (
            f" (lavaan's default, kept so that the numbers stay comparable); {_FULL_NAMES.get(name, name)} "
            "is recommended for these data."
        )
    else:
        first += f"; the item distributions alone would suggest {_FULL_NAMES.get(name, name)}."
    return " ".join([first, *recommendation.reasons])
