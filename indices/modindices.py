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

Under FIML (lavaan ``missing = "ml"``) the model is extended by every candidate (at 0), g is the gradient
of the FIML objective and the information is the expected information of the missing-data likelihood
at the model-implied moments (lavaan's default for modindices): per pattern
n_k/N [1/2 tr(W_o dSigma_a W_o dSigma_b) + dmu_a' W_o dmu_b].
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


def _values_by_location(model) -> dict[tuple[str, str, str], float]:
    """(matrix, row name, column name) -> value of every free parameter of a semopy model."""
    mats = {"beta": model.names_beta, "lambda": model.names_lambda, "psi": model.names_psi,
            "theta": model.names_theta}  # fmt: skip
    by_obj = {id(model.mx_beta): "beta", id(model.mx_lambda): "lambda", id(model.mx_psi): "psi",
              id(model.mx_theta): "theta"}  # fmt: skip
    active = [k for k, p in model.parameters.items() if p.active]
    vals = dict(zip(active, model.param_vals, strict=True))
    out = {}
    for name, param in model.parameters.items():
        if not param.active:
            continue
        for loc in param.locations:
            mx = by_obj.get(id(loc.matrix))
            if mx is None:
                continue
            rows, cols = mats[mx]
            i, j = loc.indices
            out[(mx, rows[i], cols[j])] = vals[name]
            if mx in ("psi", "theta"):
                out[(mx, cols[j], rows[i])] = vals[name]
    return out


def _fiml_expected_information(model, fiml, k: int) -> np.ndarray:
    """Unit expected information of the FIML likelihood (lavaan's "expected", structured): per pattern
    n_k/N [1/2 tr(W_o dSigma_a W_o dSigma_b) + dmu_a' W_o dmu_b], over (model parameters, free means)."""
    dsig = sigma_jacobian(model)
    ntheta = len(dsig)
    dsig_all = np.stack(dsig)
    pat = fiml.patterns
    info = np.zeros((k, k))
    free_mu = list(fiml.free_mu)
    for pt in pat.patterns:
        o = pt.observed
        w = np.linalg.inv(fiml.sigma[np.ix_(o, o)])
        ds = dsig_all[:, o[:, None], o[None, :]]  # (k, m, m), symmetric
        wd = w[None] @ ds @ w[None]
        m = len(o)
        info[:ntheta, :ntheta] += pt.n * 0.5 * (wd.reshape(ntheta, m * m) @ ds.reshape(ntheta, m * m).T)
        sel = np.zeros((len(o), len(free_mu)))
        pos = {j: i for i, j in enumerate(o)}
        for c, j in enumerate(free_mu):
            if j in pos:
                sel[pos[j], c] = 1.0
        info[ntheta:, ntheta:] += pt.n * sel.T @ w @ sel
    return info / pat.n


def _fiml_rows(fm) -> list[tuple]:
    """Score tests under FIML: the model extended by every candidate is evaluated at the estimates
    (candidates at 0); the gradient of the extended FIML objective and the expected information of the
    missing-data likelihood give MI and EPC as for complete data."""
    from dancerec.indices._semopy import model_class
    from dancerec.indices.fiml import FIMLObjective

    cand = _candidates(fm)
    if not cand:
        return []
    extra = [f"{lhs} {op} {rhs}" for lhs, op, rhs, *_ in cand]
    ext = model_class()(fm.spec.to_semopy() + "\n" + "\n".join(extra))
    if list(ext.vars["observed"]) != list(fm.observed):
        raise UserError("modification indices: the extended model orders the variables differently")
    cov = pd.DataFrame(fm.s, index=fm.observed, columns=fm.observed)
    ext.load(cov=cov, n_samples=fm.n)
    values = _values_by_location(fm.model)
    mats = {
        "beta": ext.names_beta,
        "lambda": ext.names_lambda,
        "psi": ext.names_psi,
        "theta": ext.names_theta,
    }
    by_obj = {id(ext.mx_beta): "beta", id(ext.mx_lambda): "lambda", id(ext.mx_psi): "psi",
              id(ext.mx_theta): "theta"}  # fmt: skip
    theta = []
    cand_pos = {}
    for param in ext.parameters.values():
        if not param.active:
            continue
        loc = param.locations[0]
        mx = by_obj[id(loc.matrix)]
        rows, cols = mats[mx]
        key = (mx, rows[loc.indices[0]], cols[loc.indices[1]])
        if key in values:
            theta.append(values[key])
        else:
            cand_pos[key] = len(theta)
            theta.append(0.0)
    fiml = fm.fiml
    obj = FIMLObjective(ext, fiml.patterns, fiml.free_mu, fiml.mu)
    x0 = np.concatenate([np.asarray(theta, float), fiml.mu[fiml.free_mu]])
    ext.param_vals = x0[: len(theta)].copy()
    ext.update_matrices(ext.param_vals)
    _, grad = obj(x0)
    info = _fiml_expected_information(ext, fiml, len(x0))
    cidx = np.array(sorted(cand_pos.values()))
    fidx = np.setdiff1d(np.arange(len(x0)), cidx)
    i11_inv = np.linalg.pinv(info[np.ix_(fidx, fidx)])
    rows_out = []
    lookup = {}
    for (mx, r, c), k in cand_pos.items():
        lookup[(mx, r, c)] = k
        if mx in ("psi", "theta"):
            lookup[(mx, c, r)] = k
    for lhs, op, rhs, _, s_lv, s_all in cand:
        key = ("lambda", rhs, lhs) if op == "=~" else ("theta", lhs, rhs)
        k = lookup[key]
        i21 = info[k, fidx]
        v = info[k, k] - float(i21 @ i11_inv @ i21)
        g = float(grad[k])
        mi, epc = (np.nan, np.nan) if v <= 1e-12 else (fm.n * g * g / (4.0 * v), -g / (2.0 * v))
        rows_out.append((lhs, op, rhs, mi, epc, epc * s_lv, epc * s_all))
    return rows_out


def modification_indices(fm, top: int | None = None, minimum: float = 0.0) -> pd.DataFrame:
    """Modification indices of a fitted model (``FittedModel``), sorted by MI (largest first).

    Columns: lhs, op, rhs, mi, epc, sepc_lv, sepc_all, p (chi-square 1 df, unadjusted: a screening
    statistic, not a test to report). ``top`` keeps the first rows; ``minimum`` drops smaller MIs.
    """
    from scipy import stats

    if getattr(fm, "missing", "listwise") == "fiml":
        return _finish(_fiml_rows(fm), top, minimum, stats)

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
    return _finish(rows, top, minimum, stats)


def _finish(rows: list, top: int | None, minimum: float, stats) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "mi", "epc", "sepc_lv", "sepc_all"])
    out["p"] = stats.chi2.sf(out["mi"], 1)
    out = out[out["mi"].fillna(0) >= minimum]
    out = out.sort_values("mi", ascending=False, kind="stable").reset_index(drop=True)
    return out.head(top) if top is not None else out
