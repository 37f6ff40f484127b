"""Robust ML (lavaan ``estimator = "MLR"``) for complete data: Yuan-Bentler scaled chi-square (Mplus
variant, lavaan's ``test = "yuan.bentler.mplus"``), scaled and robust CFI/TLI/RMSEA, and Huber-White
sandwich standard errors.

Why hand-written: semopy has no robust test statistics or sandwich SEs. Definitions follow lavaan 0.6.14
(no mean structure for complete data, ``information = "observed"``, unit information = per observation):

- scores s_i(theta) = tr(M_i dSigma/dtheta), M_i = -1/2 (W - W e_i e_i' W), W = Sigma^-1, e_i = y_i - ybar;
  B0 = mean s_i s_i'; E = observed information (1/2 Hessian of F_ML);
- the same for the unrestricted model (vech Sigma at S): A1 = expected = observed information, B1;
- scaling factor c = (tr(B1 A1^-1) - tr(B0 E^-1)) / df; chi2_scaled = chi2 / c; same for the baseline
  (independence) model with its own c;
- CFI/TLI ``.scaled`` from the scaled statistics; ``.robust`` (Brosseau-Liang & Savalei) from the ML
  statistics with c: CFI = 1 - max(T - c df, 0) / max(T - c df, T_B - c_B df_B, 0);
  RMSEA.robust = sqrt(max(T/(N df) - c/N, 0)), its CI = sqrt(c lambda / (N df)) with lambda from the scaled
  statistic; RMSEA.scaled uses df2 = c df;
- sandwich ACOV = E^-1 B0 E^-1 / N.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from dancerec.indices.fitindices import _ncp_for_cdf
from scipy import stats

__all__ = ["RobustFit", "mlr_statistics"]


@dataclass(frozen=True)
class RobustFit:
    """lavaan's MLR test statistics and fit indices (names as in ``fitMeasures``, dots as underscores)."""

    scaling_factor: float
    chi2_scaled: float
    pvalue_scaled: float
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

    def to_json(self) -> dict:
        out = asdict(self)
        out["rmsea_ci_scaled"] = list(self.rmsea_ci_scaled)
        out["rmsea_ci_robust"] = list(self.rmsea_ci_robust)
        return out


def _robust_fit(
    chi2: float,
    df: int,
    baseline_chi2: float,
    baseline_df: int,
    n: int,
    c: float,
    cb: float,
    robust: tuple[float, float, float, float],
) -> RobustFit:
    """Scaled and robust fit indices from the ML χ² and its Yuan–Bentler scaling factors (``c`` model,
    ``cb`` baseline). ``robust`` is (χ², c, baseline χ², baseline c) for the robust CFI/TLI/RMSEA: the same
    statistics with complete data; lavaan's FIML-corrected ones under FIML."""
    t_s, tb_s = chi2 / c, baseline_chi2 / cb
    df2 = c * df
    t_r, c_r, tb_r, cb_r = robust
    return RobustFit(
        scaling_factor=c,
        chi2_scaled=t_s,
        pvalue_scaled=float(stats.chi2.sf(t_s, df)),
        baseline_chi2_scaled=tb_s,
        baseline_scaling_factor=cb,
        cfi_scaled=_cfi(t_s, df, tb_s, baseline_df),
        tli_scaled=_tli(t_s, df, tb_s, baseline_df),
        rmsea_scaled=math.sqrt(max(chi2 / (n * df2) - 1.0 / n, 0.0)),
        rmsea_ci_scaled=_rmsea_ci(chi2, df2, n),
        cfi_robust=_cfi(t_r, df, tb_r, baseline_df, c_r, cb_r),
        tli_robust=_tli(t_r, df, tb_r, baseline_df, c_r, cb_r),
        rmsea_robust=math.sqrt(max(t_r / (n * df) - c_r / n, 0.0)),
        rmsea_ci_robust=_rmsea_ci(t_r / c_r, df, n, c_r),
    )


def _scores(e: np.ndarray, w: np.ndarray, dsig: list[np.ndarray]) -> np.ndarray:
    """Casewise scores (n x k): -1/2 tr(W dS_k) + 1/2 e_i' W dS_k W e_i."""
    ew = e @ w
    out = np.empty((e.shape[0], len(dsig)))
    for k, d in enumerate(dsig):
        out[:, k] = -0.5 * float(np.sum(w * d)) + 0.5 * np.einsum("ij,jk,ik->i", ew, d, ew)
    return out


def _h1_trace(e: np.ndarray, ws: np.ndarray) -> float:
    """tr(B1 A1^-1) of the unrestricted model (parameters vech Sigma, at S), vectorised.

    With u_i = W e_i the casewise score of sigma_jl is u_j u_l - W_jl (j != l) and (u_j^2 - W_jj) / 2
    (j = l); A1 = 1/2 D' (W x W) D with D the duplication matrix.
    """
    n, p = e.shape
    rows, cols = np.tril_indices(p)
    u = e @ ws
    scale = np.where(rows == cols, 0.5, 1.0)
    s1 = (u[:, rows] * u[:, cols] - ws[rows, cols]) * scale
    b1 = s1.T @ s1 / n
    dup = np.zeros((p * p, len(rows)))
    k = np.arange(len(rows))
    dup[rows * p + cols, k] = 1.0
    dup[cols * p + rows, k] = 1.0
    a1 = 0.5 * dup.T @ np.kron(ws, ws) @ dup
    return float(np.sum(b1 * np.linalg.inv(a1).T))


def _cfi(t: float, df: float, tb: float, dfb: float, c: float = 1.0, cb: float = 1.0) -> float:
    t1 = max(t - c * df, 0.0)
    t2 = max(t - c * df, tb - cb * dfb, 0.0)
    return 1.0 if t2 == 0 else 1.0 - t1 / t2


def _tli(t: float, df: float, tb: float, dfb: float, c: float = 1.0, cb: float = 1.0) -> float:
    t1 = (t - c * df) * dfb
    t2 = (tb - cb * dfb) * df
    return 1.0 - t1 / t2 if df > 0 and abs(t2) > 0 else 1.0


def _rmsea_ci(x2: float, df: float, n: int, c: float = 1.0, level: float = 0.90) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo = _ncp_for_cdf(x2, df, 1.0 - alpha)
    hi = _ncp_for_cdf(x2, df, alpha)
    return math.sqrt(c * lo / (n * df)), math.sqrt(c * hi / (n * df))


def mlr_statistics(
    x: np.ndarray,
    s: np.ndarray,
    sigma: np.ndarray,
    dsig: list[np.ndarray],
    hessian_f: np.ndarray,
    chi2: float,
    df: int,
    baseline_chi2: float,
    baseline_df: int,
) -> tuple[RobustFit, np.ndarray]:
    """Robust statistics of an ML fit to complete data ``x`` (n x p).

    ``dsig``: dSigma/dtheta for every free parameter; ``hessian_f``: Hessian of F_ML at the estimates.
    Returns the robust fit and the sandwich covariance matrix of the free parameters.
    """
    n = x.shape[0]
    e = x - x.mean(axis=0)
    # H0
    w = np.linalg.inv(sigma)
    s0 = _scores(e, w, dsig)
    b0 = s0.T @ s0 / n
    e_inv = np.linalg.inv(hessian_f / 2.0)
    tr_h0 = float(np.sum(b0 * e_inv.T))
    # H1 (unstructured, at S)
    tr_h1 = _h1_trace(e, np.linalg.inv(s))
    c = (tr_h1 - tr_h0) / df
    # baseline: Sigma = diag(S): E = diag(1 / (2 s_jj^2)), scores on the diagonal parameters
    var = np.diag(s)
    sb = -0.5 / var + 0.5 * e**2 / var**2
    bb = sb.T @ sb / n
    tr_b = float(np.sum(np.diag(bb) * 2.0 * var**2))
    cb = (tr_h1 - tr_b) / baseline_df
    robust = _robust_fit(chi2, df, baseline_chi2, baseline_df, n, c, cb, (chi2, c, baseline_chi2, cb))
    acov = e_inv @ b0 @ e_inv / n
    return robust, acov


# ----------------------------------------------------------------------------------------------
# MLR with incomplete data (FIML): lavaan estimator = "MLR", missing = "ml"
# ----------------------------------------------------------------------------------------------
def _fiml_row_terms(pat, mu: np.ndarray, sigma: np.ndarray):
    """Per row: the observed indices, M_i = -1/2 (W_o - W_o e e' W_o) and W_o e (embedded p x p / p)."""
    p = pat.p
    n = pat.n
    m_all = np.zeros((n, p, p))
    u_all = np.zeros((n, p))
    row = 0
    for pt in pat.patterns:
        o = pt.observed
        w = np.linalg.inv(sigma[np.ix_(o, o)])
        e = pat.x[np.ix_(pt.rows, o)] - mu[o]
        u = e @ w
        m = -0.5 * (w[None, :, :] - u[:, :, None] * u[:, None, :])
        idx = slice(row, row + pt.n)
        m_all[idx][:, o[:, None], o[None, :]] = m
        u_all[idx][:, o] = u
        row += pt.n
    return m_all, u_all


def _saturated_gradient(pat, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gradient of -logL/N of the unrestricted model over (mu, vech Sigma), summed over patterns."""
    p = pat.p
    g = np.zeros((p, p))
    gmu = np.zeros(p)
    for pt in pat.patterns:
        o = pt.observed
        inv = np.linalg.inv(sigma[np.ix_(o, o)])
        d = pt.mean - mu[o]
        iw = inv @ (pt.cov + np.outer(d, d))
        g[np.ix_(o, o)] += 0.5 * pt.n * (inv - iw @ inv)
        gmu[o] += -pt.n * (inv @ d)
    rows, cols = np.tril_indices(p)
    vech = np.where(rows == cols, g[rows, cols], g[rows, cols] + g[cols, rows])
    return np.concatenate([gmu, vech]) / pat.n


def _h1_fiml_matrices(
    pat, mu: np.ndarray, sigma: np.ndarray, h: float = 1e-5
) -> tuple[np.ndarray, np.ndarray]:
    """(A1, B1) of the unrestricted model under FIML over (mu, vech Sigma): A1 = observed information
    (numeric Hessian of the analytic gradient), B1 = mean outer product of the casewise scores."""
    p = pat.p
    rows, cols = np.tril_indices(p)
    m_all, u_all = _fiml_row_terms(pat, mu, sigma)
    s_sig = np.where(rows == cols, m_all[:, rows, cols], 2.0 * m_all[:, rows, cols])
    scores = np.concatenate([u_all, s_sig], axis=1)
    b1 = scores.T @ scores / pat.n
    x0 = np.concatenate([mu, sigma[rows, cols]])

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.zeros((p, p))
        s[rows, cols] = x[p:]
        s[cols, rows] = x[p:]
        return x[:p], s

    k = len(x0)
    a1 = np.empty((k, k))
    for j in range(k):
        step = h * max(1.0, abs(x0[j]))
        up, down = x0.copy(), x0.copy()
        up[j] += step
        down[j] -= step
        a1[j] = (_saturated_gradient(pat, *unpack(up)) - _saturated_gradient(pat, *unpack(down))) / (2 * step)
    return (a1 + a1.T) / 2.0, b1


def _complete_ml_chi2(n: int, s: np.ndarray, m: np.ndarray, sigma: np.ndarray, mu: np.ndarray) -> float:
    """N * F_ML with a mean structure, sample moments (m, S) against (mu, Sigma)."""
    w = np.linalg.inv(sigma)
    d = m - mu
    f = np.linalg.slogdet(sigma)[1] - np.linalg.slogdet(s)[1] + np.trace(s @ w) - len(m) + d @ w @ d
    return float(n * f)


def _fimlc_k(wm: np.ndarray, wmi: np.ndarray, wc: np.ndarray, gamma: np.ndarray, delta: np.ndarray) -> float:
    """k of lavaan's FIML-C (V3): tr(U Wm^-1 Wc Wm^-1 U Gamma), U = Wm - Wm D (D' Wm D)^-1 D' Wm."""
    wd = wm @ delta
    u = wm - wd @ np.linalg.inv(delta.T @ wd) @ wd.T
    return float(np.trace(u @ wmi @ wc @ wmi @ u @ gamma))


def _fiml_corrected(pat, fit_mu, fit_sigma, h1_mean, h1_cov, dsig, free_mu, df, dfb, a1, b1):
    """lavaan's ``lav_fit_fiml_corrected`` (V3): (T, c) of the model and of the baseline, where T is the
    complete-data ML statistic at the FIML estimates against the EM moments and c comes from the
    missing-data (Wm, Jm) and complete-data (Wc) unrestricted information matrices."""
    n, p = pat.n, pat.p
    rows, cols = np.tril_indices(p)
    wm, jm = a1, b1
    wmi = np.linalg.inv(wm)
    gamma = wmi @ jm @ wmi
    # complete-data unrestricted information at the EM moments: blockdiag(S^-1, 1/2 D'(S^-1 x S^-1)D)
    si = np.linalg.inv(h1_cov)
    dup = np.zeros((p * p, len(rows)))
    kk = np.arange(len(rows))
    dup[rows * p + cols, kk] = 1.0
    dup[cols * p + rows, kk] = 1.0
    wc = np.zeros_like(wm)
    wc[:p, :p] = si
    wc[p:, p:] = 0.5 * dup.T @ np.kron(si, si) @ dup
    # model Jacobian over (theta, free intercepts)
    k_theta = len(dsig)
    delta = np.zeros((p + len(rows), k_theta + len(free_mu)))
    for j, d in enumerate(dsig):
        delta[p:, j] = d[rows, cols]
    for c, j in enumerate(free_mu):
        delta[j, k_theta + c] = 1.0
    t3 = _complete_ml_chi2(n, h1_cov, h1_mean, fit_sigma, fit_mu)
    c3 = _fimlc_k(wm, wmi, wc, gamma, delta) / df
    # baseline: available-case means and variances (its FIML estimates)
    x = pat.x
    mean_b = np.nanmean(x, axis=0)
    var_b = np.nanmean((x - mean_b) ** 2, axis=0)
    tb = _complete_ml_chi2(n, h1_cov, h1_mean, np.diag(var_b), mean_b)
    delta_b = np.zeros((p + len(rows), 2 * p))
    delta_b[:p, :p] = np.eye(p)
    diag_pos = np.flatnonzero(rows == cols)
    delta_b[p + diag_pos, p + np.arange(p)] = 1.0
    cb = _fimlc_k(wm, wmi, wc, gamma, delta_b) / dfb
    return t3, c3, tb, cb


def mlr_fiml_statistics(
    pat,
    mu: np.ndarray,
    sigma: np.ndarray,
    h1_mean: np.ndarray,
    h1_cov: np.ndarray,
    dsig: list[np.ndarray],
    free_mu: list[int],
    hessian_f: np.ndarray,
    chi2: float,
    df: int,
    baseline_chi2: float,
    baseline_df: int,
) -> tuple[RobustFit, np.ndarray]:
    """MLR statistics of a FIML fit: scaled chi2 (and baseline), scaled CFI/TLI/RMSEA, sandwich ACOV.

    ``hessian_f``: Hessian of F = -2 logL / N over (semopy parameters, free intercepts). The robust
    CFI/TLI/RMSEA are lavaan's FIML-corrected ones (``lav_fit_fiml_corrected``, version V3).
    """
    n = pat.n
    # H0 casewise scores over (theta, free intercepts)
    m_all, u_all = _fiml_row_terms(pat, mu, sigma)
    s_theta = np.stack([np.einsum("ijk,jk->i", m_all, d) for d in dsig], axis=1)
    s0 = np.concatenate([s_theta, u_all[:, free_mu]], axis=1)
    b0 = s0.T @ s0 / n
    e_inv = np.linalg.inv(hessian_f / 2.0)
    tr_h0 = float(np.sum(b0 * e_inv.T))
    a1, b1 = _h1_fiml_matrices(pat, h1_mean, h1_cov)
    tr_h1 = float(np.sum(b1 * np.linalg.inv(a1).T))
    c = (tr_h1 - tr_h0) / df
    # baseline: independent items, available-case means and variances; E and scores per item
    x = pat.x
    obs = ~np.isnan(x)
    mean_b = np.nanmean(x, axis=0)
    var_b = np.nanmean((x - mean_b) ** 2, axis=0)
    e = np.where(obs, x - mean_b, 0.0)
    sb = np.concatenate([e / var_b, np.where(obs, -0.5 / var_b + 0.5 * e**2 / var_b**2, 0.0)], axis=1)
    bb = sb.T @ sb / n
    nj = obs.sum(axis=0)
    eb_diag = np.concatenate([nj / (n * var_b), nj / (2.0 * n * var_b**2)])
    tr_b = float(np.sum(np.diag(bb) / eb_diag))
    cb = (tr_h1 - tr_b) / baseline_df
    t3, c3, tb3, cb3 = _fiml_corrected(
        pat, mu, sigma, h1_mean, h1_cov, dsig, free_mu, df, baseline_df, a1, b1
    )
    robust = _robust_fit(chi2, df, baseline_chi2, baseline_df, n, c, cb, (t3, c3, tb3, cb3))
    acov = e_inv @ b0 @ e_inv / n
    return robust, acov
