"""Test statistics and fit indices of a DWLS fit to polychoric correlations, as lavaan 0.6 computes them.

Notation: r = sample polychoric correlations, sigma = implied ones, W = diag(1 / diag(Gamma_rr)) (DWLS
weights), Delta = d sigma / d theta, Gamma = NACOV of the correlations, N = complete cases and
N' = N - 1 (lavaan's ``lav_utils_get_ntotal``: N minus the number of groups for every estimator but ML).
Thresholds are saturated in these models (fitted exactly, Delta block-diagonal), so they drop out of
every statistic below; only the correlation block enters.

- T = N' (r - sigma)' W (r - sigma) (lavaan's ``chisq`` for DWLS), baseline T_0 = N' r' W r (all
  correlations zero), df_0 = number of correlations.
- Scaled-shifted (Asparouhov & Muthen 2010; lavaan ``scaled.shifted``): U = W - W Delta (Delta' W Delta)^-1
  Delta' W, a = sqrt(df / tr((U Gamma)^2)), b = df - a tr(U Gamma); T_ss = a T + b, reported scaling factor
  1/a and shift b; the baseline gets the same treatment with U = W.
- CFI/TLI/RMSEA: naive from T, scaled from T_ss (same df); RMSEA = sqrt(max(T/(N' df) - 1/N', 0)).
- Robust (Savalei 2021, lavaan's ``lav_fit_catml_dwls``): the ML discrepancy of the DWLS solution treated
  as a correlation structure, XX3 = N F_ML(R, Sigma*), with c = tr(U' V U Gamma) / df where
  U = I - Delta (Delta' W Delta)^-1 Delta' W and V the ML weight of the correlations at Sigma*
  (V_(ij),(kl) = s^ik s^jl + s^il s^jk, s = Sigma*^-1); baseline XX3_0 = -N ln|R| with c_0 = tr(Gamma)/df_0.
  Undefined (NaN) when R or Sigma* is not positive definite (lavaan returns NA).
  CFI_robust = 1 - max(XX3 - c df, 0) / max(XX3 - c df, XX3_0 - c_0 df_0, 0); RMSEA_robust =
  sqrt(max(XX3/(N' df) - c/N', 0)), its interval from XX3/c rescaled by sqrt(c).
- SRMR: root mean square of the correlation residuals over the lower triangle including the (zero)
  diagonal (lavaan's ``srmr`` = ``srmr_bentler_nomean`` for categorical data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from dancerec.indices.fitindices import cfi, rmsea, rmsea_ci, rmsea_pvalue, tli
from dancerec.indices.polychoric import pair_index
from scipy import stats

__all__ = ["OrdinalFitIndices", "ordinal_fit_indices"]


@dataclass(frozen=True)
class OrdinalFitIndices:
    """Global fit of a WLSMV model; names follow :class:`dancerec.indices.fitindices.FitIndices`.

    ``chi2`` is the unadjusted DWLS statistic; ``chi2_scaled`` the scaled-shifted one (same ``df``) that
    lavaan's WLSMV reports as "Robust"; ``*_robust`` are Savalei's (2021) robust CFI/TLI/RMSEA.
    """

    n: int
    npar: int
    chi2: float
    df: int
    pvalue: float
    chi2_df: float
    cfi: float
    tli: float
    rmsea: float
    rmsea_ci: tuple[float, float]
    rmsea_pvalue: float
    srmr: float
    baseline_chi2: float
    baseline_df: int
    chi2_scaled: float
    df_scaled: int
    pvalue_scaled: float
    scaling_factor: float
    shift: float
    baseline_chi2_scaled: float
    baseline_scaling_factor: float
    cfi_scaled: float
    tli_scaled: float
    rmsea_scaled: float
    rmsea_ci_scaled: tuple[float, float]
    cfi_robust: float
    tli_robust: float
    rmsea_robust: float
    rmsea_ci_robust: tuple[float, float]


def _scaled_shifted(t: float, df: int, ug: np.ndarray) -> tuple[float, float, float]:
    """Scaled-shifted statistic, lavaan's scaling factor (1/a) and shift b, from U Gamma."""
    tr1 = float(np.trace(ug))
    tr2 = float(np.sum(ug * ug.T))
    a = math.sqrt(df / tr2)
    b = df - a * tr1
    return a * t + b, 1.0 / a, b


def _robust_c(cor_sigma: np.ndarray, u: np.ndarray, gamma: np.ndarray, df: int) -> float:
    """Savalei's c-hat: tr(U' V U Gamma) / df with V the ML weight of the correlations at Sigma*."""
    s_inv = np.linalg.inv(cor_sigma)
    rows, cols = pair_index(cor_sigma.shape[0])
    v = (
        s_inv[np.ix_(rows, rows)] * s_inv[np.ix_(cols, cols)]
        + s_inv[np.ix_(rows, cols)] * s_inv[np.ix_(cols, rows)]
    )
    return float(np.sum((u.T @ v @ u) * gamma.T)) / df


def _robust_cfi_tli(x3, df, x3_0, df_0, c, c_0) -> tuple[float, float]:
    t1 = max(x3 - c * df, 0.0)
    t2 = max(x3 - c * df, x3_0 - c_0 * df_0, 0.0)
    cfi_r = 1.0 if t2 == 0 else 1.0 - t1 / t2
    num = (x3 - c * df) * df_0
    den = (x3_0 - c_0 * df_0) * df
    tli_r = 1.0 - num / den if df > 0 and den != 0 else float("nan")
    return cfi_r, tli_r


def ordinal_fit_indices(
    r: np.ndarray,
    sigma: np.ndarray,
    w: np.ndarray,
    delta: np.ndarray,
    gamma: np.ndarray,
    n: int,
    npar: int,
    n_thresholds: int,
) -> OrdinalFitIndices:
    """Every fit index above from the correlation matrices R, Sigma* (p x p), the weights ``w`` (vector),
    the Jacobian ``delta`` and the correlation block of Gamma. ``npar`` counts thresholds too, as lavaan."""
    n_eff = n - 1  # lavaan: N - G for (D)WLS statistics, SEs and RMSEA
    rows, cols = pair_index(r.shape[0])
    resid = r[rows, cols] - sigma[rows, cols]
    k = len(resid)
    df = k + n_thresholds - npar
    t = n_eff * float(resid @ (w * resid))
    t0 = n_eff * float(r[rows, cols] @ (w * r[rows, cols]))
    wd = w[:, None] * delta
    e_inv = np.linalg.inv(delta.T @ wd)
    proj = delta @ e_inv @ wd.T  # Delta E^-1 Delta' W
    ug = (np.diag(w) - wd @ e_inv @ wd.T) @ gamma
    t_ss, scale, shift = _scaled_shifted(t, df, ug)
    t0_ss, scale0, _ = _scaled_shifted(t0, k, w[:, None] * gamma)
    # Savalei's robust statistics: undefined (NaN, as lavaan's NA) unless R and Sigma* are positive definite
    p = r.shape[0]
    cfi_r = tli_r = rmsea_r = lo = hi = c3 = float("nan")
    pd_ok = min(np.linalg.eigvalsh(r)[0], np.linalg.eigvalsh(sigma)[0]) >= np.sqrt(np.finfo(float).eps)
    if pd_ok:
        logdet_s = np.linalg.slogdet(sigma)[1]
        logdet_r = np.linalg.slogdet(r)[1]
        x3 = n * (logdet_s - logdet_r + float(np.trace(np.linalg.solve(sigma, r))) - p)
        x3_0 = -n * logdet_r
        c3 = _robust_c(sigma, np.eye(k) - proj, gamma, df)
        c3_0 = float(np.trace(gamma)) / k
        cfi_r, tli_r = _robust_cfi_tli(x3, df, x3_0, k, c3, c3_0)
        rmsea_r = math.sqrt(max(x3 / (n_eff * df) - c3 / n_eff, 0.0)) if df > 0 else 0.0
        lo, hi = rmsea_ci(x3 / c3, df, n_eff)
    srmr = math.sqrt(float(np.sum(resid**2)) / (k + p))
    return OrdinalFitIndices(
        n=n,
        npar=npar,
        chi2=t,
        df=df,
        pvalue=float(stats.chi2.sf(t, df)),
        chi2_df=t / df if df > 0 else float("nan"),
        cfi=cfi(t, df, t0, k),
        tli=tli(t, df, t0, k),
        rmsea=rmsea(t, df, n_eff),
        rmsea_ci=rmsea_ci(t, df, n_eff),
        rmsea_pvalue=rmsea_pvalue(t, df, n_eff),
        srmr=srmr,
        baseline_chi2=t0,
        baseline_df=k,
        chi2_scaled=t_ss,
        df_scaled=df,
        pvalue_scaled=float(stats.chi2.sf(t_ss, df)),
        scaling_factor=scale,
        shift=shift,
        baseline_chi2_scaled=t0_ss,
        baseline_scaling_factor=scale0,
        cfi_scaled=cfi(t_ss, df, t0_ss, k),
        tli_scaled=tli(t_ss, df, t0_ss, k),
        rmsea_scaled=rmsea(t_ss, df, n_eff),
        rmsea_ci_scaled=rmsea_ci(t_ss, df, n_eff),
        cfi_robust=cfi_r,
        tli_robust=tli_r,
        rmsea_robust=rmsea_r,
        rmsea_ci_robust=(lo * math.sqrt(c3), hi * math.sqrt(c3)) if pd_ok else (lo, hi),
    )
