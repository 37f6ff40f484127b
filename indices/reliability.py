"""Reliability per dimension: Cronbach's alpha (raw and standardised, Feldt CI), McDonald's omega,
composite reliability and average variance extracted, with the usual thresholds.

Several published definitions exist for omega, CR and AVE and they differ by up to .05, so each
number names the definition it uses:

- ``alpha``: Cronbach (1951), k / (k - 1) (1 - tr C / sum C), as ``psych::alpha``'s ``raw_alpha``.
  By default (``alpha_sample="pairwise"``) C is the pairwise-complete covariance matrix of the
  dimension's items over every respondent who answered at least one of them (psych's and
  pingouin's default), so nobody is dropped for one missing answer; ``alpha_sample="complete"``
  uses the respondents who answered every analysed item (the CFA's sample). ``alpha_std`` from the
  mean correlation of cov2cor(C) (psych's ``std.alpha``); the CI is Feldt's (Feldt, Woodruff &
  Salih 1987), 1 - (1 - alpha) F, as ``psych::alpha.ci``, with N the respondents used.
- reverse keying: an item whose corrected item-rest correlation (psych's ``r.drop``, from C) is
  negative is named in a warning: usually a reverse-keyed item that was not recoded.
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
from dancerec.indices.data import DataCheckError, _numeric, ml_covariance, prepare_items
from scipy import stats

from dancerec.display import DisplayMixin
from dancerec.errors import UserError

__all__ = [
    "DEFINITIONS",
    "THRESHOLDS",
    "AlphaResult",
    "ReliabilityResult",
    "composite_reliability",
    "cronbach_alpha",
    "feldt_ci",
    "reliability",
    "reverse_keying_warnings",
]

ALPHA_SAMPLES = ("pairwise", "complete")

THRESHOLDS = {"alpha": 0.70, "omega": 0.70, "cr": 0.70, "ave": 0.50}

ALPHA_DEFINITIONS = {
    "pairwise": "Cronbach's alpha from pairwise-complete covariances of everyone who answered the dimension "
    "(psych::alpha default); 95% CI by Feldt's F method",
    "complete": "Cronbach's alpha from the covariances of the respondents who answered every item "
    "(complete cases); 95% CI by Feldt's F method",
}

DEFINITIONS = {
    "alpha": ALPHA_DEFINITIONS["pairwise"],
    "alpha_std": "standardised alpha from the mean inter-item correlation",
    "omega": "omega total as semTools::compRelSEM (CFA loadings, observed-variance denominator)",
    "cr": "composite reliability of Fornell & Larcker (1981) from standardised loadings",
    "ave": "AVE as semTools::AVE (sum of l^2 psi over the sum of observed item variances)",
    "ave_fl": "AVE of Fornell & Larcker (1981): mean squared standardised loading",
}


@dataclass(frozen=True)
class AlphaResult:
    """Alpha of one set of items; ``n`` respondents used of ``n_total``; ``r_drop`` per item."""

    alpha: float
    alpha_std: float
    ci: tuple[float, float]
    n: int
    k: int
    mean_r: float
    n_total: int = 0
    sample: str = "pairwise"
    r_drop: pd.Series | None = None

    @property
    def negative_items(self) -> list[str]:
        """Items correlating negatively with the rest of their dimension (not reverse-keyed?)."""
        if self.r_drop is None:
            return []
        return [str(i) for i, v in self.r_drop.items() if v < 0]


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


def _r_drop(c: np.ndarray) -> np.ndarray:
    """Corrected item-rest correlation from a covariance matrix (psych's ``r.drop``)."""
    k = c.shape[0]
    out = np.empty(k)
    for i in range(k):
        rest = np.delete(np.arange(k), i)
        var_rest = c[np.ix_(rest, rest)].sum()
        out[i] = c[i, rest].sum() / np.sqrt(c[i, i] * var_rest) if var_rest > 0 else np.nan
    return out


def _alpha_covariance(items: pd.DataFrame, sample: str) -> tuple[np.ndarray, int, int]:
    """(C, N used, N total) for ``sample``: pairwise over anyone with an answer, or complete cases."""
    if sample not in ALPHA_SAMPLES:
        raise UserError(f"unknown alpha sample {sample!r} (use pairwise or complete)")
    n_total = len(items)
    if sample == "complete":
        data = prepare_items(items, list(items.columns), min_n=3, need_pd=False, what="alpha")
        return np.cov(data.frame.to_numpy(dtype=float), rowvar=False), data.n, n_total
    frame = _numeric(items, "data").dropna(how="all")
    if len(frame) < 3:
        raise DataCheckError(f"alpha: {len(frame)} respondent(s) answered these items, at least 3 needed")
    ok = frame.notna().to_numpy()
    pair_n = ok.T.astype(int) @ ok.astype(int)
    if pair_n.min() < 3:
        i, j = np.unravel_index(np.argmin(pair_n), pair_n.shape)
        cols = list(frame.columns)
        raise DataCheckError(
            f"alpha: items {cols[i]!r} and {cols[j]!r} were answered together by {pair_n[i, j]} "
            "respondent(s); at least 3 are needed for pairwise covariances"
        )
    c = frame.cov(ddof=1).to_numpy(float)
    sd = np.sqrt(np.diag(c))
    constant = [str(col) for col, v in zip(frame.columns, sd, strict=True) if not v > 1e-12]
    if constant:
        raise DataCheckError(f"alpha: constant item(s) {', '.join(constant)} (every answer the same)")
    return c, len(frame), n_total


@single_blas_thread
def cronbach_alpha(items: pd.DataFrame, *, level: float = 0.95, sample: str = "pairwise") -> AlphaResult:
    """Cronbach's alpha of the columns of ``items``, raw and standardised, Feldt CI, as psych::alpha.

    ``sample="pairwise"`` (default): pairwise-complete covariances of every respondent with at least
    one answer; ``"complete"``: complete cases only.
    """
    k = items.shape[1]
    if k < 2:
        raise DataCheckError("alpha needs at least 2 items")
    c, n, n_total = _alpha_covariance(items, sample)
    sd = np.sqrt(np.diag(c))
    r = c / np.outer(sd, sd)
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
        n_total=n_total,
        sample=sample,
        r_drop=pd.Series(_r_drop(c), index=[str(col) for col in items.columns], name="r_drop"),
    )


def reverse_keying_warnings(negative: Mapping[str, Sequence[str]]) -> list[str]:
    """One warning per dimension naming the items that correlate negatively with the rest."""
    return [
        f"{dim}: item(s) {', '.join(items)} correlate negatively with the rest of the dimension; "
        "a reverse-keyed item that was not recoded? (alpha is not meaningful until it is)"
        for dim, items in negative.items()
        if items
    ]


def composite_reliability(std_loadings: Sequence[float]) -> float:
    """Fornell-Larcker composite reliability from standardised loadings."""
    lam = np.asarray(std_loadings, dtype=float)
    num = lam.sum() ** 2
    return float(num / (num + np.sum(1 - lam**2)))


@dataclass
class ReliabilityResult(DisplayMixin):
    """Per-dimension reliability (``table``) plus the discriminant-validity matrices.

    ``table`` columns: dimension, n_items, n (alpha's N used), n_total, n_cfa (omega/CR/AVE), alpha,
    alpha_std, alpha_ci_low, alpha_ci_high, omega, cr, ave, ave_fl, negative_items, sqrt_ave,
    alpha_ok, omega_ok, cr_ok, ave_ok. ``warnings``: reverse-keying warnings naming the items.
    """

    table: pd.DataFrame
    htmt: pd.DataFrame | None = None
    htmt_method: str = "geometric"
    fornell_larcker: pd.DataFrame | None = None
    definitions: dict[str, str] = field(default_factory=lambda: dict(DEFINITIONS))
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))
    alpha_sample: str = "pairwise"
    warnings: list[str] = field(default_factory=list)

    def summary_header(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.definitions.items()] + list(self.warnings)

    def summary_frames(self) -> dict[str, pd.DataFrame]:
        """Reliability per dimension, then discriminant validity (Fornell-Larcker, HTMT) when computed."""
        frames = {"Reliability per dimension": self.table}
        if self.fornell_larcker is not None:
            frames["Fornell-Larcker (diagonal: sqrt AVE)"] = self.fornell_larcker
        if self.htmt is not None:
            frames[f"HTMT ({self.htmt_method})"] = self.htmt
        return frames

    def to_json(self) -> dict:
        """The JSON payload of ``dancerec indices reliability --json``."""
        dims = [
            {
                "name": r.dimension,
                "n_items": int(r.n_items),
                "n": int(r.n),
                "n_total": int(r.n_total),
                "n_cfa": int(r.n_cfa),
                "alpha": r.alpha,
                "alpha_ci": [r.alpha_ci_low, r.alpha_ci_high],
                "omega": r.omega,
                "cr": r.cr,
                "ave": r.ave,
                "negative_items": [i for i in r.negative_items.split(", ") if i],
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
            "alpha_sample": self.alpha_sample,
            "warnings": self.warnings,
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
    alpha_sample: str = "pairwise",
) -> ReliabilityResult:
    """Alpha, omega, CR and AVE per dimension, HTMT and the Fornell-Larcker table.

    ``cfa`` is a :class:`~dancerec.indices.cfa.CFAResult` of the same structure; it is fitted here
    when omitted. omega/CR/AVE come from the CFA (its sample: ``n_cfa``). alpha by default uses
    every respondent who answered the dimension (pairwise covariances, ``n`` of ``n_total``);
    ``alpha_sample="complete"`` uses the complete cases of all analysed items (the CFA's sample).
    """
    if alpha_sample not in ALPHA_SAMPLES:
        raise UserError(f"unknown alpha sample {alpha_sample!r} (use pairwise or complete)")
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
    negative: dict[str, list[str]] = {}
    alpha_data = data if alpha_sample == "pairwise" else frame
    for dim, items in structure.items():
        a = cronbach_alpha(alpha_data[items], level=level, sample=alpha_sample)
        negative[dim] = a.negative_items
        lam, lam_std, psi = _cfa_parts(cfa, dim, items)
        s = s_all.loc[items, items].to_numpy()
        omega = float(lam.sum() ** 2 * psi / s.sum())
        ave = float(np.sum(lam**2) * psi / np.trace(s))
        rows.append(
            {
                "dimension": dim,
                "n_items": len(items),
                "n": a.n,
                "n_total": len(data),
                "n_cfa": len(frame),
                "alpha": a.alpha,
                "alpha_std": a.alpha_std,
                "alpha_ci_low": a.ci[0],
                "alpha_ci_high": a.ci[1],
                "omega": omega,
                "cr": composite_reliability(lam_std),
                "ave": ave,
                "ave_fl": float(np.mean(lam_std**2)),
                "negative_items": ", ".join(a.negative_items),
            }
        )
    table = pd.DataFrame(rows)
    table["sqrt_ave"] = np.sqrt(table["ave"])
    for key, thr in THRESHOLDS.items():
        table[f"{key}_ok"] = table[key] >= thr
    h = htmt(frame, structure, method=htmt_method) if len(structure) > 1 else None
    fl = fornell_larcker(cfa, ave=table.set_index("dimension")["ave"]) if len(structure) > 1 else None
    definitions = dict(DEFINITIONS, alpha=ALPHA_DEFINITIONS[alpha_sample])
    return ReliabilityResult(
        table=table,
        htmt=h,
        htmt_method=htmt_method,
        fornell_larcker=fl,
        definitions=definitions,
        alpha_sample=alpha_sample,
        warnings=reverse_keying_warnings(negative),
    )
