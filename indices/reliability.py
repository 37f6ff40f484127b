"""Reliability per dimension: Cronbach's alpha (raw and standardised, Feldt CI), McDonald's omega,
composite reliability and average variance extracted, with the usual thresholds.

Several published definitions exist for omega, CR and AVE and they differ by up to .05, so each
number names the definition it uses:

- ``alpha``: Cronbach (1951) from the item covariance matrix of complete cases (psych's ``raw_alpha``
  when there are no missing answers; psych uses pairwise covariances when there are);
  ``alpha_std`` from the mean inter-item correlation; the CI is Feldt's (Feldt, Woodruff & Salih 1987),
  1 - (1 - alpha) F, as ``psych::alpha.ci``.
- ``omega``: semTools ``compRelSEM`` default (Bentler 1972/2009; Raykov 1997): per factor of the CFA,
  (sum of unstandardised loadings)^2 * factor variance / sum of the items' *observed* covariance matrix.
- ``cr``: Fornell & Larcker's (1981) composite reliability from standardised loadings,
  (sum l)^2 / ((sum l)^2 + sum(1 - l^2)).
- ``ave``: semTools ``AVE`` default, sum(l^2 * factor variance) / sum of the items' observed variances;
  ``ave_fl``: Fornell & Larcker's (1981) mean of squared standardised loadings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import DataCheckError, ml_covariance, prepare_items
from scipy import stats

__all__ = [
    "DEFINITIONS",
    "THRESHOLDS",
    "AlphaResult",
    "ReliabilityResult",
    "composite_reliability",
    "cronbach_alpha",
    "feldt_ci",
    "reliability",
]

THRESHOLDS = {"alpha": 0.70, "omega": 0.70, "cr": 0.70, "ave": 0.50}

DEFINITIONS = {
    "alpha": "Cronbach's alpha from the covariance matrix of complete cases; 95% CI by Feldt's F method",
    "alpha_std": "standardised alpha from the mean inter-item correlation",
    "omega": "omega total as semTools::compRelSEM (CFA loadings, observed-variance denominator)",
    "cr": "composite reliability of Fornell & Larcker (1981) from standardised loadings",
    "ave": "AVE as semTools::AVE (sum of l^2 psi over the sum of observed item variances)",
    "ave_fl": "AVE of Fornell & Larcker (1981): mean squared standardised loading",
}


@dataclass(frozen=True)
class AlphaResult:
    alpha: float
    alpha_std: float
    ci: tuple[float, float]
    n: int
    k: int
    mean_r: float


def feldt_ci(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt's confidence interval for alpha: (1 - alpha_pop) / (1 - alpha) ~ F(n - 1, (n - 1)(k - 1))."""
    df1, df2 = n - 1, (n - 1) * (k - 1)
    if df1 <= 0 or df2 <= 0:
        return (float("nan"), float("nan"))
    q = (1 - level) / 2
    low = 1 - (1 - alpha) * stats.f.ppf(1 - q, df1, df2)
    high = 1 - (1 - alpha) * stats.f.ppf(q, df1, df2)
    return (float(low), float(high))


def _alpha_from_cov(c: np.ndarray) -> float:
    k = c.shape[0]
    total = c.sum()
    return k / (k - 1) * (1 - np.trace(c) / total) if total > 0 else float("nan")


@single_blas_thread
def cronbach_alpha(items: pd.DataFrame, *, level: float = 0.95) -> AlphaResult:
    """Cronbach's alpha of the columns of ``items`` (complete cases), raw and standardised, Feldt CI."""
    data = prepare_items(items, list(items.columns), min_n=3, need_pd=False, what="alpha")
    x = data.frame.to_numpy(dtype=float)
    n, k = x.shape
    if k < 2:
        raise DataCheckError("alpha needs at least 2 items")
    c = np.cov(x, rowvar=False)
    r = np.corrcoef(x, rowvar=False)
    alpha = _alpha_from_cov(c)
    mean_r = float(r[np.triu_indices(k, 1)].mean())
    alpha_std = k * mean_r / (1 + (k - 1) * mean_r)
    return AlphaResult(
        alpha=float(alpha),
        alpha_std=float(alpha_std),
        ci=feldt_ci(alpha, n, k, level),
        n=n,
        k=k,
        mean_r=mean_r,
    )


def composite_reliability(std_loadings: Sequence[float]) -> float:
    """Fornell-Larcker composite reliability from standardised loadings."""
    lam = np.asarray(std_loadings, dtype=float)
    num = lam.sum() ** 2
    return float(num / (num + np.sum(1 - lam**2)))


@dataclass
class ReliabilityResult:
    """Per-dimension reliability (``table``) plus the discriminant-validity matrices.

    ``table`` columns: dimension, n_items, n, alpha, alpha_std, alpha_ci_low, alpha_ci_high, omega,
    cr, ave, ave_fl, sqrt_ave, alpha_ok, omega_ok, cr_ok, ave_ok.
    """

    table: pd.DataFrame
    htmt: pd.DataFrame | None = None
    htmt_method: str = "geometric"
    fornell_larcker: pd.DataFrame | None = None
    definitions: dict[str, str] = field(default_factory=lambda: dict(DEFINITIONS))
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))

    def to_json(self) -> dict:
        """The JSON payload of ``dancerec indices reliability --json``."""
        dims = [
            {
                "name": r.dimension,
                "n_items": int(r.n_items),
                "alpha": r.alpha,
                "alpha_ci": [r.alpha_ci_low, r.alpha_ci_high],
                "omega": r.omega,
                "cr": r.cr,
                "ave": r.ave,
            }
            for r in self.table.itertuples()
        ]

        def nested(df: pd.DataFrame | None) -> dict | None:
            if df is None:
                return None
            return {str(i): {str(c): df.at[i, c] for c in df.columns} for i in df.index}

        return {
            "dimensions": dims,
            "htmt": nested(self.htmt),
            "htmt_method": self.htmt_method,
            "fornell_larcker": nested(self.fornell_larcker),
            "definitions": self.definitions,
        }


def _cfa_parts(cfa, factor: str, items: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """Unstandardised and standardised loadings of ``items`` on ``factor`` and the factor variance."""
    lo = cfa.loadings[cfa.loadings["factor"] == factor].set_index("item").reindex(items)
    params = cfa.params
    var = params[(params["kind"] == "variance") & (params["lhs"] == factor)]["estimate"]
    return lo["estimate"].to_numpy(float), lo["std"].to_numpy(float), float(var.iloc[0])


@single_blas_thread
def reliability(
    data: pd.DataFrame,
    structure: Mapping[str, Sequence[str]],
    *,
    cfa=None,
    htmt_method: str = "geometric",
    level: float = 0.95,
) -> ReliabilityResult:
    """Alpha, omega, CR and AVE per dimension, HTMT and the Fornell-Larcker table.

    ``cfa`` is a :class:`~dancerec.indices.cfa.CFAResult` of the same structure; it is fitted here
    when omitted. omega/CR/AVE come from the CFA; alpha from the item data (complete cases of all
    analysed items, so every index describes the same respondents).
    """
    from dancerec.indices.cfa import fit_cfa
    from dancerec.indices.validity import fornell_larcker, htmt

    structure = {str(k): [str(i) for i in v] for k, v in structure.items()}
    all_items = [i for items in structure.values() for i in items]
    prepared = prepare_items(data, all_items, min_n=3, what="reliability analysis")
    frame = prepared.frame
    if cfa is None:
        cfa = fit_cfa(frame, structure)
    s_all = pd.DataFrame(ml_covariance(frame.to_numpy(float)), index=all_items, columns=all_items)
    rows = []
    for dim, items in structure.items():
        a = cronbach_alpha(frame[items], level=level)
        lam, lam_std, psi = _cfa_parts(cfa, dim, items)
        s = s_all.loc[items, items].to_numpy()
        omega = float(lam.sum() ** 2 * psi / s.sum())
        ave = float(np.sum(lam**2) * psi / np.trace(s))
        rows.append(
            {
                "dimension": dim,
                "n_items": len(items),
                "n": a.n,
                "alpha": a.alpha,
                "alpha_std": a.alpha_std,
                "alpha_ci_low": a.ci[0],
                "alpha_ci_high": a.ci[1],
                "omega": omega,
                "cr": composite_reliability(lam_std),
                "ave": ave,
                "ave_fl": float(np.mean(lam_std**2)),
            }
        )
    table = pd.DataFrame(rows)
    table["sqrt_ave"] = np.sqrt(table["ave"])
    for key, thr in THRESHOLDS.items():
        table[f"{key}_ok"] = table[key] >= thr
    h = htmt(frame, structure, method=htmt_method) if len(structure) > 1 else None
    fl = fornell_larcker(cfa, ave=table.set_index("dimension")["ave"]) if len(structure) > 1 else None
    return ReliabilityResult(table=table, htmt=h, htmt_method=htmt_method, fornell_larcker=fl)
