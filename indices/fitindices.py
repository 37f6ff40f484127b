"""Fit indices computed the way lavaan computes them, from the sample and model-implied covariances.

Why hand-written: semopy's ``calc_stats`` has no SRMR and no RMSEA interval, divides RMSEA by N - 1
(lavaan divides by N), reports log-likelihood/AIC/BIC on a different scale, and its "GFI" is the
NFI-like ratio 1 - chi2/chi2_baseline. These small pure functions take S (the ML covariance, divisor
N), Sigma (model-implied) and N, so any estimator can use them.

Conventions (lavaan 0.6, ``estimator = "ML"``, ``likelihood = "normal"``, no mean structure):

- F_ML = ln|Sigma| - ln|S| + tr(S Sigma^-1) - p, chi2 = N * F_ML.
- RMSEA = sqrt(max(chi2 - df, 0) / (df * N)) * sqrt(G); the 90% interval inverts the noncentral
  chi-square distribution for its noncentrality parameter (Browne & Cudeck 1993).
- SRMR = sqrt(mean over the lower triangle incl. the diagonal of the squared residual correlations
  (s_ij - sigma_ij) / sqrt(s_ii s_jj)) (lavaan's ``srmr_bentler`` without means).
- logL = -N/2 (p ln 2 pi + ln|Sigma| + tr(S Sigma^-1)); AIC = -2 logL + 2k; BIC = -2 logL + k ln N.
  With fixed exogenous covariates the covariates' own (saturated) log-likelihood is left out, as lavaan.
- CFI (Bentler 1990), TLI (Tucker & Lewis 1973), NFI (Bentler & Bonett 1980) against the
  independence model; GFI is Joreskog & Sorbom's ML GFI, 1 - tr((Sigma^-1 S - I)^2) / tr((Sigma^-1 S)^2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from dancerec.indices._dist import chi2_cdf, chi2_sf, ncx2_cdf, ncx2_sf

__all__ = [
    "FitIndices",
    "baseline_chi_square",
    "cfi",
    "fit_indices",
    "gfi",
    "information_criteria",
    "loglik",
    "ml_discrepancy",
    "nfi",
    "rmsea",
    "rmsea_ci",
    "rmsea_pvalue",
    "srmr",
    "tli",
]

# (fiml_fit_indices is defined at the end of the module)
__all__ += ["covariate_loglik", "fiml_fit_indices", "fit_rows", "measurement_json"]


def _logdet(m: np.ndarray) -> float:
    sign, value = np.linalg.slogdet(m)
    if sign <= 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return float(value)


def ml_discrepancy(s: np.ndarray, sigma: np.ndarray) -> float:
    """The ML discrepancy F_ML = ln|Sigma| - ln|S| + tr(S Sigma^-1) - p."""
    s = np.asarray(s, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    p = s.shape[0]
    return _logdet(sigma) - _logdet(s) + float(np.trace(np.linalg.solve(sigma, s))) - p


def loglik(s: np.ndarray, sigma: np.ndarray, n: int) -> float:
    """Normal log-likelihood of the data summarised by S (divisor N) under Sigma (lavaan's ``logl``)."""
    s = np.asarray(s, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    p = s.shape[0]
    return (
        -n / 2.0 * (p * math.log(2 * math.pi) + _logdet(sigma) + float(np.trace(np.linalg.solve(sigma, s))))
    )


def information_criteria(logl: float, npar: int, n: int) -> tuple[float, float, float]:
    """AIC, BIC and the sample-size adjusted BIC (n* = (N + 2) / 24), as lavaan reports them."""
    aic = -2.0 * logl + 2.0 * npar
    bic = -2.0 * logl + npar * math.log(n)
    bic2 = -2.0 * logl + npar * math.log((n + 2.0) / 24.0)
    return aic, bic, bic2


def baseline_chi_square(
    s: np.ndarray, n: int, fixed_x: Sequence[int] = (), *, with_means: bool = False
) -> tuple[float, int]:
    """chi2 and df of the independence model: free variances, no covariances.

    ``fixed_x`` lists the indices of exogenous observed covariates whose variances and covariances are
    fixed at their sample values (lavaan's ``fixed.x = TRUE``): their block stays saturated.
    """
    s = np.asarray(s, dtype=float)
    p = s.shape[0]
    base = np.diag(np.diag(s))
    fx = list(fixed_x)
    if fx:
        base[np.ix_(fx, fx)] = s[np.ix_(fx, fx)]
    chi2 = n * (_logdet(base) - _logdet(s))
    df = p * (p - 1) // 2 - len(fx) * (len(fx) - 1) // 2
    del with_means  # means are saturated in the baseline model: they add nothing to chi2 or df
    return float(chi2), int(df)


def cfi(chi2: float, df: int, chi2_base: float, df_base: int) -> float:
    """Comparative fit index (Bentler 1990)."""
    num = max(chi2 - df, 0.0)
    den = max(chi2 - df, chi2_base - df_base, 0.0)
    return 1.0 if den == 0 else 1.0 - num / den


def tli(chi2: float, df: int, chi2_base: float, df_base: int) -> float:
    """Tucker-Lewis index (non-normed fit index)."""
    if df == 0 or df_base == 0:
        return float("nan")
    t_base = chi2_base / df_base
    if t_base == 1.0:
        return float("nan")
    return (t_base - chi2 / df) / (t_base - 1.0)


def nfi(chi2: float, chi2_base: float) -> float:
    """Normed fit index (Bentler & Bonett 1980); semopy calls this ratio "GFI"."""
    return 1.0 - chi2 / chi2_base if chi2_base > 0 else float("nan")


def gfi(s: np.ndarray, sigma: np.ndarray) -> float:
    """Joreskog & Sorbom's goodness-of-fit index for ML: 1 - tr((Sigma^-1 S - I)^2) / tr((Sigma^-1 S)^2)."""
    m = np.linalg.solve(np.asarray(sigma, float), np.asarray(s, float))
    r = m - np.eye(m.shape[0])
    return 1.0 - float(np.trace(r @ r)) / float(np.trace(m @ m))


def rmsea(chi2: float, df: int, n: int, groups: int = 1) -> float:
    """RMSEA with lavaan's N divisor (and its sqrt(G) multi-group correction)."""
    if df <= 0:
        return float("nan") if df < 0 else 0.0
    return math.sqrt(max(chi2 - df, 0.0) / (df * n)) * math.sqrt(groups)


def _ncp_for_cdf(chi2: float, df: int, target: float) -> float:
    """The noncentrality lambda with P(X <= chi2 | df, lambda) = target (0 when even lambda=0 is below).

    Bisection on [0, hi] to the tolerance scipy's ``brentq(xtol=1e-12, rtol=1e-12)`` was used with (the
    CDF falls monotonically in lambda); written out because ``import scipy.optimize`` alone costs about
    0.4 s, more than the rest of a lean ``dancerec indices cfa`` run.
    """

    def f(lam: float) -> float:
        if lam <= 0:
            return chi2_cdf(chi2, df) - target
        return ncx2_cdf(chi2, df, lam) - target

    if f(0.0) <= 0:
        return 0.0
    lo, hi = 0.0, max(chi2, 1.0)
    while f(hi) > 0:
        lo, hi = hi, hi * 2.0
        if hi > 1e9:  # pragma: no cover - absurd chi2
            return float("nan")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if hi - lo <= 1e-12 + 1e-12 * abs(mid):
            break
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def rmsea_ci(chi2: float, df: int, n: int, level: float = 0.90, groups: int = 1) -> tuple[float, float]:
    """The RMSEA confidence interval by inverting the noncentral chi-square distribution (lavaan)."""
    if df <= 0:
        return (float("nan"), float("nan"))
    alpha = (1.0 - level) / 2.0
    lam_low = _ncp_for_cdf(chi2, df, 1.0 - alpha)
    lam_high = _ncp_for_cdf(chi2, df, alpha)
    scale = df * n
    return (
        math.sqrt(lam_low / scale) * math.sqrt(groups),
        math.sqrt(lam_high / scale) * math.sqrt(groups),
    )


def rmsea_pvalue(chi2: float, df: int, n: int, close: float = 0.05, groups: int = 1) -> float:
    """p-value of the test of close fit, H0: RMSEA <= ``close`` (lavaan's ``rmsea.pvalue``)."""
    if df <= 0:
        return float("nan")
    ncp = n * df * (close / math.sqrt(groups)) ** 2
    return ncx2_sf(chi2, df, ncp) if ncp > 0 else chi2_sf(chi2, df)


def srmr(s: np.ndarray, sigma: np.ndarray) -> float:
    """Standardised root mean square residual (lavaan's ``srmr``, covariance part only)."""
    s = np.asarray(s, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    sd = np.sqrt(np.diag(s))
    resid = (s - sigma) / np.outer(sd, sd)
    idx = np.tril_indices(s.shape[0])
    return float(np.sqrt(np.mean(resid[idx] ** 2)))


@dataclass(frozen=True)
class FitIndices:
    """The global fit of one model, every value on lavaan's scale.

    ``nfi`` is the index semopy labels "GFI"; ``gfi`` here is Joreskog-Sorbom's GFI.
    """

    n: int
    npar: int
    chi2: float
    df: int
    pvalue: float
    chi2_df: float
    cfi: float
    tli: float
    nfi: float
    rmsea: float
    rmsea_ci: tuple[float, float]
    rmsea_pvalue: float
    srmr: float
    gfi: float
    loglik: float
    aic: float
    bic: float
    bic2: float
    baseline_chi2: float
    baseline_df: int
    n_total: int | None = None  # rows in the data before any were dropped (None: same as n)
    missing: str = "listwise"  # "listwise" (complete cases) or "fiml" (every row with an answer)
    srmr_nomean: float | None = None  # FIML: SRMR without means (lavaan srmr_bentler_nomean)
    robust: Any = None  # MLR: a dancerec.indices.robust.RobustFit (scaled/robust statistics)


def fit_indices(
    s: np.ndarray,
    sigma: np.ndarray,
    n: int,
    npar: int,
    *,
    fixed_x: Sequence[int] = (),
) -> FitIndices:
    """Every global fit index of a single-group covariance-structure model fitted by ML.

    ``npar`` counts the free parameters; ``fixed_x`` are indices of observed exogenous covariates whose
    (co)variances the estimator fixed at their sample values (they leave the df unchanged, as in lavaan).
    """
    s = np.asarray(s, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    p = s.shape[0]
    nx = len(fixed_x)
    df = p * (p + 1) // 2 - nx * (nx + 1) // 2 - npar
    chi2 = n * ml_discrepancy(s, sigma)
    chi2 = max(chi2, 0.0)
    pvalue = chi2_sf(chi2, df) if df > 0 else float("nan")
    chi2_b, df_b = baseline_chi_square(s, n, fixed_x)
    logl = loglik(s, sigma, n) - covariate_loglik(s, n, fixed_x)
    aic, bic, bic2 = information_criteria(logl, npar, n)
    return FitIndices(
        n=int(n),
        npar=int(npar),
        chi2=float(chi2),
        df=int(df),
        pvalue=pvalue,
        chi2_df=float(chi2 / df) if df > 0 else float("nan"),
        cfi=cfi(chi2, df, chi2_b, df_b),
        tli=tli(chi2, df, chi2_b, df_b),
        nfi=nfi(chi2, chi2_b),
        rmsea=rmsea(chi2, df, n),
        rmsea_ci=rmsea_ci(chi2, df, n),
        rmsea_pvalue=rmsea_pvalue(chi2, df, n),
        srmr=srmr(s, sigma),
        gfi=gfi(s, sigma),
        loglik=logl,
        aic=aic,
        bic=bic,
        bic2=bic2,
        baseline_chi2=chi2_b,
        baseline_df=df_b,
    )


def srmr_with_means(s: np.ndarray, mean: np.ndarray, sigma: np.ndarray, mu: np.ndarray) -> float:
    """lavaan's ``srmr_bentler`` with a mean structure: covariance and mean residuals scaled by S's SDs."""
    sd = np.sqrt(np.diag(s))
    resid = (s - sigma) / np.outer(sd, sd)
    rmean = (mean - mu) / sd
    p = s.shape[0]
    idx = np.tril_indices(p)
    return float(np.sqrt((np.sum(resid[idx] ** 2) + np.sum(rmean**2)) / (p * (p + 1) / 2 + p)))


def covariate_loglik(s: np.ndarray, n: int, fixed_x: Sequence[int]) -> float:
    """Saturated log-likelihood of the fixed exogenous covariates, which lavaan leaves out of ``logl``
    (and so of AIC/BIC) when ``fixed.x = TRUE``: -N/2 (k ln 2pi + ln|S_xx| + k)."""
    fx = list(fixed_x)
    if not fx:
        return 0.0
    sxx = np.asarray(s, dtype=float)[np.ix_(fx, fx)]
    return -n / 2.0 * (len(fx) * math.log(2 * math.pi) + _logdet(sxx) + len(fx))


def fiml_fit_indices(
    *,
    logl_h0: float,
    logl_h1: float,
    logl_base: float,
    h1_cov: np.ndarray,
    h1_mean: np.ndarray,
    sigma: np.ndarray,
    mu: np.ndarray,
    n: int,
    n_total: int,
    npar: int,
    n_free_means: int,
    fixed_x: Sequence[int] = (),
) -> FitIndices:
    """Global fit of a model fitted by FIML, from the three log-likelihoods (lavaan ``missing = "ml"``).

    ``npar`` counts the free covariance-structure parameters, ``n_free_means`` the free intercepts (both
    enter AIC/BIC, as in lavaan); the df are those of the complete-data model (intercepts are saturated).
    GFI and NFI use the EM (H1) covariance as the sample covariance.
    """
    p = h1_cov.shape[0]
    nx = len(fixed_x)
    df = p * (p + 1) // 2 - nx * (nx + 1) // 2 - npar
    chi2 = max(2.0 * (logl_h1 - logl_h0), 0.0)
    chi2_b = 2.0 * (logl_h1 - logl_base)
    df_b = p * (p - 1) // 2 - nx * (nx - 1) // 2
    k = npar + n_free_means
    logl_h0 = logl_h0 - covariate_loglik(h1_cov, n, fixed_x)  # lavaan's fixed.x logl (x part left out)
    aic, bic, bic2 = information_criteria(logl_h0, k, n)
    return FitIndices(
        n=int(n),
        npar=int(k),
        chi2=float(chi2),
        df=int(df),
        pvalue=chi2_sf(chi2, df) if df > 0 else float("nan"),
        chi2_df=float(chi2 / df) if df > 0 else float("nan"),
        cfi=cfi(chi2, df, chi2_b, df_b),
        tli=tli(chi2, df, chi2_b, df_b),
        nfi=nfi(chi2, chi2_b),
        rmsea=rmsea(chi2, df, n),
        rmsea_ci=rmsea_ci(chi2, df, n),
        rmsea_pvalue=rmsea_pvalue(chi2, df, n),
        srmr=srmr_with_means(h1_cov, h1_mean, sigma, mu),
        gfi=gfi(h1_cov, sigma),
        loglik=float(logl_h0),
        aic=aic,
        bic=bic,
        bic2=bic2,
        baseline_chi2=float(chi2_b),
        baseline_df=int(df_b),
        n_total=int(n_total),
        missing="fiml",
        srmr_nomean=srmr(h1_cov, sigma),
    )


def fit_rows(fit: FitIndices) -> list[tuple[str, float]]:
    """Global fit as (index, value) rows in the order papers report them (the CLI's and the report's fit
    table; :func:`dancerec.indices.cfa.fit_table` is the DataFrame of these rows)."""
    lo, hi = fit.rmsea_ci
    rows = [
        ("N", fit.n),
        ("N total", fit.n if fit.n_total is None else fit.n_total),
        ("chi2", fit.chi2),
        ("df", fit.df),
        ("p", fit.pvalue),
        ("chi2/df", fit.chi2_df),
        ("CFI", fit.cfi),
        ("TLI", fit.tli),
        ("RMSEA", fit.rmsea),
        ("RMSEA 90% CI low", lo),
        ("RMSEA 90% CI high", hi),
        ("SRMR", fit.srmr),
        ("GFI (Joreskog-Sorbom)", fit.gfi),
        ("NFI", fit.nfi),
        ("logL", fit.loglik),
        ("AIC", fit.aic),
        ("BIC", fit.bic),
        ("free parameters", fit.npar),
    ]
    r = fit.robust
    if r is not None:
        rows += [
            ("chi2 scaled (Yuan-Bentler)", r.chi2_scaled),
            ("scaling factor", r.scaling_factor),
            ("p scaled", r.pvalue_scaled),
            ("CFI robust", r.cfi_robust),
            ("TLI robust", r.tli_robust),
            ("RMSEA robust", r.rmsea_robust),
            ("RMSEA robust 90% CI low", r.rmsea_ci_robust[0]),
            ("RMSEA robust 90% CI high", r.rmsea_ci_robust[1]),
            ("CFI scaled", r.cfi_scaled),
            ("TLI scaled", r.tli_scaled),
            ("RMSEA scaled", r.rmsea_scaled),
        ]
    return rows


def measurement_json(fit: FitIndices, loadings: Iterable[Any], n_note: str = "") -> dict[str, Any]:
    """The ``--json`` payload of a measurement model: global fit and loadings (rows with factor, item,
    estimate, std, se and p attributes), shared by CFA and SEM and by the lean CFA path."""
    return {
        "n": fit.n,
        "n_used": fit.n,
        "n_total": fit.n if fit.n_total is None else fit.n_total,
        "missing": fit.missing,
        "n_note": n_note,
        "loglik": fit.loglik,
        "npar": fit.npar,
        "chi2": fit.chi2,
        "df": fit.df,
        "pvalue": fit.pvalue,
        "cfi": fit.cfi,
        "tli": fit.tli,
        "rmsea": fit.rmsea,
        "rmsea_ci": [fit.rmsea_ci[0], fit.rmsea_ci[1]],
        "srmr": fit.srmr,
        "aic": fit.aic,
        "bic": fit.bic,
        "robust": None if fit.robust is None else fit.robust.to_json(),
        "loadings": [
            {"factor": r.factor, "item": r.item, "estimate": r.estimate, "std": r.std, "se": r.se, "p": r.p}
            for r in loadings
        ],
    }
