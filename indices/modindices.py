"""Modification indices: lavaan's ``modindices()`` (score test of each fixed-to-zero parameter) with the
expected parameter change (EPC) and its standardised versions.

Why hand-written: semopy has no modification indices. Definitions (lavaan 0.6, ML, expected information,
complete data; per-observation information I(theta) = 1/2 tr(W dSigma_a W dSigma_b), W = Sigma^-1):

- candidates: every cross-loading ``factor =~ item`` and every residual covariance ``item ~~ item`` that
  the model fixes at zero (lavaan's candidates for a measurement model);
- g = dF_ML/dtheta at the estimates (F_ML = ln|Sigma| + tr(S W) - ...), score = -N/2 g;
- V = I_22 - I_21 I_11^-1 I_12 (candidates given the free parameters);
- MI = N g^2 / (4 V) (chi-square, 1 df), EPC = -g / (2 V);
- sepc.lv scales the EPC by the latent SDs; sepc.all also by the observed SD (loadings) or, for residual
  covariances, by the residual SDs (lavaan's std.all of a residual covariance).

The Jacobian of Sigma for the free parameters is taken by central differences through semopy's
parameterisation (so labels/equality constraints are respected); the candidates' are analytic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dancerec.errors import UserError

__all__ = ["modification_indices", "sigma_jacobian"]


def _sigma(model) -> np.ndarray:
    beta, lamb, psi, theta = model.matrices[:4]
    c = np.linalg.inv(model.identity_c - beta)
    m = lamb @ c
    return m @ psi @ m.T + theta


def sigma_jacobian(model, h: float = 1e-6) -> list[np.ndarray]:
    """dSigma/dtheta_k for every free parameter (central differences)."""
    theta = np.asarray(model.param_vals, float).copy()
    out = []
    try:
        for k in range(len(theta)):
            step = h * max(1.0, abs(theta[k]))
            up, down = theta.copy(), theta.copy()
            up[k] += step
            down[k] -= step
            model.update_matrices(up)
            s_up = _sigma(model)
            model.update_matrices(down)
            s_down = _sigma(model)
            out.append((s_up - s_down) / (2 * step))
    finally:
        model.update_matrices(theta)
    return out


def _candidates(fm) -> list[tuple[str, str, str, np.ndarray, float, float]]:
    """(lhs, op, rhs, dSigma, sepc.lv scale, sepc.all scale) of every fixed-to-zero candidate."""
    model = fm.model
    beta, lamb, psi, theta = model.matrices[:4]
    c = np.linalg.inv(model.identity_c - beta)
    inner_cov = c @ psi @ c.T
    sigma = _sigma(model)
    obs = list(model.names_lambda[0])
    inner = list(model.names_lambda[1])
    latent = set(fm.spec.latent)
    p = len(obs)
    sd_obs = np.sqrt(np.diag(sigma))
    free = {(r.lhs, r.op, r.rhs) for r in fm.params.itertuples() if r.op in ("=~", "~~")}
    free |= {(r, o, lh) for (lh, o, r) in free if o == "~~"}
    # loadings, fixed or free, already in the model (markers included): not candidates
    present = {(t.lhs, t.rhs) for t in fm.spec.terms if t.op == "=~"}
    out = []
    a_lt = inner_cov @ lamb.T  # (inner x obs)
    for f_idx, f in enumerate(inner):
        if f not in latent:
            continue
        sd_f = np.sqrt(inner_cov[f_idx, f_idx])
        for i, item in enumerate(obs):
            if (f, item) in present or item in latent:
                continue
            d = np.zeros((p, p))
            d[i, :] += a_lt[f_idx]
            d[:, i] += a_lt[f_idx]
            out.append((f, "=~", item, d, sd_f, sd_f / sd_obs[i]))
    th_idx = {v: k for k, v in enumerate(model.names_theta[0])}
    for i in range(p):
        for j in range(i + 1, p):
            a, b = obs[i], obs[j]
            if (a, "~~", b) in free:
                continue
            d = np.zeros((p, p))
            d[i, j] = d[j, i] = 1.0
            ti, tj = theta[th_idx[a], th_idx[a]], theta[th_idx[b], th_idx[b]]
            out.append((a, "~~", b, d, 1.0, 1.0 / np.sqrt(ti * tj) if ti > 0 and tj > 0 else np.nan))
    return out


def modification_indices(fm, top: int | None = None, minimum: float = 0.0) -> pd.DataFrame:
    """Modification indices of a fitted model (``FittedModel``), sorted by MI (largest first).

    Columns: lhs, op, rhs, mi, epc, sepc_lv, sepc_all, p (chi-square 1 df, unadjusted: a screening
    statistic, not a test to report). ``top`` keeps the first rows; ``minimum`` drops smaller MIs.
    """
    if getattr(fm, "missing", "listwise") == "fiml":
        raise UserError(
            "modification indices are computed for complete data (lavaan's expected-information definition); "
            "refit with --missing listwise to get them"
        )
    from scipy import stats

    model = fm.model
    sigma = _sigma(model)
    w = np.linalg.inv(sigma)
    g_mat = w - w @ fm.s @ w
    free_d = sigma_jacobian(model)
    cand = _candidates(fm)
    if not cand:
        return pd.DataFrame(columns=["lhs", "op", "rhs", "mi", "epc", "sepc_lv", "sepc_all", "p"])
    wd_free = [w @ d @ w for d in free_d]
    i11 = 0.5 * np.array([[np.sum(a * b) for b in free_d] for a in wd_free])
    i11_inv = np.linalg.pinv(i11)
    rows = []
    n = fm.n
    for lhs, op, rhs, d, s_lv, s_all in cand:
        wd = w @ d @ w
        i22 = 0.5 * float(np.sum(wd * d))
        i21 = 0.5 * np.array([float(np.sum(wd * b)) for b in free_d])
        v = i22 - float(i21 @ i11_inv @ i21)
        g = float(np.sum(g_mat * d))
        if v <= 1e-12:
            mi, epc = np.nan, np.nan
        else:
            mi = n * g * g / (4.0 * v)
            epc = -g / (2.0 * v)
        rows.append((lhs, op, rhs, mi, epc, epc * s_lv, epc * s_all))
    out = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "mi", "epc", "sepc_lv", "sepc_all"])
    out["p"] = stats.chi2.sf(out["mi"], 1)
    out = out[out["mi"].fillna(0) >= minimum]
    out = out.sort_values("mi", ascending=False, kind="stable").reset_index(drop=True)
    return out.head(top) if top is not None else out
