"""A numpy-only ML fit of single-group CFA models (LISREL Lambda, Psi, Theta), for the lean CLI path.

Why it exists: start-up cost. ``dancerec indices cfa`` on a data file spent most of its time importing
semopy, pandas and scipy (about 0.7 s of a 1 s run, more than lavaan's whole ``Rscript`` run). This module
imports numpy only, so :mod:`dancerec.indices.cfa_lean` can answer the plain complete-data ML CFA with the
numbers :func:`dancerec.indices.cfa.fit_cfa` (semopy, SLSQP) gives. It is not a second estimator with
its own conventions: the same model (marker-variable or std.lv identification, free factor covariances,
free residual variances), the same ML discrepancy, the same expected-information SEs, and the fit indices
come from the one implementation in :mod:`dancerec.indices.fitindices`. tests/test_cfa_lean*.py assert
that both paths agree (estimates, SEs, every fit index, the standardised solution) and agree with lavaan.

Covered (anything else returns ``None`` from :func:`lean_structure`, and the caller uses the full path):
``=~`` loadings (cross-loadings allowed), ``~~`` covariances between two factors or between two
indicators (residual covariances) and explicit variances, all without labels, fixed values or ``NA*``;
no regressions, intercepts, defined parameters or equality constraints.

Estimation: Fisher scoring on F_ML = ln|Sigma| + tr(S Sigma^-1) - ln|S| - p with the analytic Jacobian of
Sigma, Newton steps with the analytic Hessian near the optimum (step halving when F does not fall), from
one-factor principal-axis starting values; SEs from the
expected information, acov = (2 / N) (J' (V x V) J)^-1 with V = Sigma^-1 (lavaan's ``information =
"expected"``, ``likelihood = "normal"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["CFAStructure", "LeanFit", "fit_ml", "improper_messages", "lean_structure"]


@dataclass(frozen=True)
class CFAStructure:
    """Which elements of Lambda (p x m), Psi (m x m) and Theta (p x p) are free.

    ``observed`` is semopy's order (sorted names), ``latent`` the order the factors are written in.
    ``free`` lists the free parameters as (matrix, row, column) with matrix "L", "P" or "T" (lower
    triangle for the symmetric ones); ``markers`` the (row, column) loadings fixed at 1.
    """

    observed: list[str]
    latent: list[str]
    free: list[tuple[str, int, int]]
    markers: list[tuple[int, int]]
    std_lv: bool
    loadings: list[tuple[str, str]]  # (factor, item) in the order the model names them

    @property
    def npar(self) -> int:
        return len(self.free)


def lean_structure(spec, std_lv: bool = False) -> CFAStructure | None:
    """The CFA structure of a parsed :class:`~dancerec.indices.syntax.ModelSpec`, or None when the model
    uses anything this module does not cover (see the module docstring)."""
    if spec.regressions or spec.defined or spec.intercepts or spec.equalities:
        return None
    std_lv = bool(std_lv or spec.std_lv)
    measurement = spec.measurement
    if not measurement:
        return None
    for t in spec.terms:
        if t.label is not None or t.fixed is not None or t.free or t.op not in ("=~", "~~"):
            return None
    latent = list(measurement)
    indicators = {i for items in measurement.values() for i in items}
    if indicators & set(latent):
        return None  # a factor measured by a factor: second-order models are not covered
    observed = sorted(indicators)
    obs = {v: k for k, v in enumerate(observed)}
    lat = {v: k for k, v in enumerate(latent)}
    loadings: list[tuple[str, str]] = []
    free: list[tuple[str, int, int]] = []
    markers: list[tuple[int, int]] = []
    for factor, items in measurement.items():
        if len(set(items)) != len(items):
            return None
        for k, item in enumerate(items):
            loadings.append((factor, item))
            if k == 0 and not std_lv:
                markers.append((obs[item], lat[factor]))
            else:
                free.append(("L", obs[item], lat[factor]))
    # Psi: every factor covariance free; variances free unless std.lv fixes them at 1
    psi = {(f, g) for f in range(len(latent)) for g in range(f if std_lv else f + 1)}
    theta = {(i, i) for i in range(len(observed))}
    for t in spec.covariances:
        if t.lhs in lat and t.rhs in lat:
            f, g = sorted((lat[t.lhs], lat[t.rhs]), reverse=True)
            if std_lv and f == g:
                return None  # a latent variance written out with std.lv: not the plain model
        elif t.lhs in obs and t.rhs in obs:
            i, j = sorted((obs[t.lhs], obs[t.rhs]), reverse=True)
            theta.add((i, j))
        else:
            return None
    free += [("P", f, g) for f, g in sorted(psi, key=lambda fg: (fg[1], fg[0]))]
    free += [("T", i, j) for i, j in sorted(theta, key=lambda ij: (ij[1], ij[0]))]
    return CFAStructure(observed, latent, free, markers, std_lv, loadings)


def _matrices(st: CFAStructure, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, m = len(st.observed), len(st.latent)
    lam, psi, th = np.zeros((p, m)), np.zeros((m, m)), np.zeros((p, p))
    for i, f in st.markers:
        lam[i, f] = 1.0
    if st.std_lv:
        psi[np.diag_indices(m)] = 1.0
    mats = {"L": lam, "P": psi, "T": th}
    for value, (which, i, j) in zip(theta, st.free, strict=True):
        mats[which][i, j] = value
        if which != "L":
            mats[which][j, i] = value
    return lam, psi, th


def _jacobian(st: CFAStructure, lam: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """d Sigma / d theta_k for every free parameter k, shape (q, p, p)."""
    p = lam.shape[0]
    lp = lam @ psi
    out = np.zeros((len(st.free), p, p))
    for k, (which, i, j) in enumerate(st.free):
        d = out[k]
        if which == "L":  # Sigma = L Psi L' + Theta: e_i (L Psi)_j' + (L Psi)_j e_i'
            d[i, :] += lp[:, j]
            d[:, i] += lp[:, j]
        elif which == "P":
            d += np.outer(lam[:, i], lam[:, j])
            if i != j:
                d += np.outer(lam[:, j], lam[:, i])
        else:
            d[i, j] = 1.0
            d[j, i] = 1.0
    return out


def _information(v: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """J' (V x V) J: entry (k, l) = tr(V dSigma_k V dSigma_l) (twice the expected information per row)."""
    q = jac.shape[0]
    vdv = v @ jac @ v
    return jac.reshape(q, -1) @ vdv.reshape(q, -1).T


def _hessian(
    st: CFAStructure, lam: np.ndarray, psi: np.ndarray, v: np.ndarray, s: np.ndarray, jac: np.ndarray
):
    """The (observed) Hessian of F_ML: 2 tr(V S_l V S V S_k) - tr(V S_l V S_k) + tr((V - V S V) S_kl), with
    S_k = dSigma/dtheta_k and S_kl the second derivatives (non-zero for loading-loading and
    loading-factor-(co)variance pairs only)."""
    q = jac.shape[0]
    w = v @ s @ v
    r = v - w
    a = v @ jac
    at = a.transpose(0, 2, 1).reshape(q, -1)
    h = 2.0 * ((w @ jac).reshape(q, -1) @ at.T) - a.reshape(q, -1) @ at.T
    h = (h + h.T) / 2.0
    idx = np.array([k for k, (which, _, _) in enumerate(st.free) if which == "L"], dtype=int)
    if len(idx):
        items = np.array([st.free[k][1] for k in idx])
        factors = np.array([st.free[k][2] for k in idx])
        h[np.ix_(idx, idx)] += 2.0 * psi[np.ix_(factors, factors)] * r[np.ix_(items, items)]
        rl = r @ lam  # (R Lambda)[i, g]
        for k, (which, f, g) in enumerate(st.free):
            if which != "P":
                continue
            val = 2.0 * (factors == f) * rl[items, g]
            if f != g:
                val = val + 2.0 * (factors == g) * rl[items, f]
            h[idx, k] += val
            h[k, idx] += val
    return h


def _scoring_step(info: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """info^-1 grad on the well-determined directions only: a start such as a cross-loading at 0 can make
    the information singular (the model is identified, that point locally is not)."""
    w, u = np.linalg.eigh(info)
    keep = w > 1e-10 * w[-1]
    return u[:, keep] @ ((u[:, keep].T @ grad) / w[keep])


def _step(
    st: CFAStructure, theta: np.ndarray, lam: np.ndarray, psi: np.ndarray, sigma: np.ndarray, s: np.ndarray
) -> np.ndarray:
    """A Fisher-scoring step; close to the optimum (scoring step below 1% of the parameters, or 0.01 for
    parameters below 1) a Newton step with the
    observed Hessian when that is positive definite. Scoring alone converges only linearly when the model
    fits badly (expected and observed information differ: 40 iterations on bfi), Newton quadratically."""
    v = np.linalg.inv(sigma)
    jac = _jacobian(st, lam, psi)
    grad = jac.reshape(len(jac), -1) @ (v @ (s - sigma) @ v).reshape(-1)  # minus dF/dtheta
    step = _scoring_step(_information(v, jac), grad)
    if np.max(np.abs(step) / np.maximum(1.0, np.abs(theta))) < 1e-2:
        hess = _hessian(st, lam, psi, v, s, jac)
        w, u = np.linalg.eigh(hess)
        if w[0] > 1e-8 * w[-1]:
            return u @ ((u.T @ grad) / w)
    return step


def _discrepancy(s: np.ndarray, sigma: np.ndarray, logdet_s: float) -> float:
    sign, logdet = np.linalg.slogdet(sigma)
    if sign <= 0:
        return np.inf
    return float(logdet + np.trace(np.linalg.solve(sigma, s)) - logdet_s - s.shape[0])


def _starts(st: CFAStructure, s: np.ndarray) -> np.ndarray:
    """Per factor, the first principal component of its items' covariances as standardised loadings (sign:
    marker positive), factor covariances 0, residual variances what the loadings leave of the observed
    variances (at least 10%)."""
    obs = {v: k for k, v in enumerate(st.observed)}
    lat = {v: k for k, v in enumerate(st.latent)}
    p, m = len(st.observed), len(st.latent)
    std_load = np.zeros((p, m))
    first: dict[int, int] = {}
    for factor, item in st.loadings:
        first.setdefault(lat[factor], obs[item])
    for f in range(m):
        idx = [obs[i] for fac, i in st.loadings if lat[fac] == f]
        vals, vecs = np.linalg.eigh(s[np.ix_(idx, idx)])
        v = vecs[:, -1] * np.sqrt(max(vals[-1], 1e-8))
        ref = idx.index(first[f])
        if v[ref] < 0:
            v = -v
        if abs(v[ref]) < 1e-3:
            v[ref] = np.sqrt(s[first[f], first[f]]) * 0.5
        std_load[idx, f] = v
    theta = []
    used: set[int] = set()
    for which, i, j in st.free:
        if which == "L":
            if i in used:  # a cross-loading starts at 0
                theta.append(0.0)
                continue
            used.add(i)
            marker = std_load[first[j], j]
            theta.append(std_load[i, j] if st.std_lv else std_load[i, j] / marker)
        elif which == "P":
            theta.append((1.0 if st.std_lv else std_load[first[i], i] ** 2) if i == j else 0.0)
        else:
            rest = s[i, i] - float(np.max(std_load[i] ** 2))
            theta.append(max(rest, 0.1 * s[i, i]) if i == j else 0.0)
    return np.asarray(theta, dtype=float)


@dataclass(frozen=True)
class LeanFit:
    """The ML solution: parameters, SEs, model matrices and the implied covariance matrix."""

    structure: CFAStructure
    theta: np.ndarray
    se: np.ndarray
    lam: np.ndarray
    psi: np.ndarray
    th: np.ndarray
    sigma: np.ndarray
    s: np.ndarray
    n: int
    converged: bool
    iterations: int

    def std_loadings(self) -> np.ndarray:
        """lavaan std.all loadings (p x m): lambda * sd(factor) / sd(item), from the implied variances."""
        return self.lam * np.sqrt(np.diag(self.psi))[None, :] / np.sqrt(np.diag(self.sigma))[:, None]

    def factor_correlations(self) -> np.ndarray:
        sd = np.sqrt(np.diag(self.psi))
        return self.psi / np.outer(sd, sd)

    def residual_correlations(self) -> np.ndarray:
        """Observed minus implied correlations (lavaan's ``resid(fit, "cor")``)."""
        ds, dm = np.sqrt(np.diag(self.s)), np.sqrt(np.diag(self.sigma))
        return self.s / np.outer(ds, ds) - self.sigma / np.outer(dm, dm)


def fit_ml(
    st: CFAStructure, s: np.ndarray, n: int, *, tol: float = 1e-11, maxiter: int = 500
) -> LeanFit | None:
    """Fisher scoring (then Newton) to the ML estimate of ``st`` for the ML covariance ``s`` (divisor N)
    of N rows.

    Returns None when Sigma stops being positive definite or the information matrix is singular (the
    caller then uses the full path, which reports the problem in its own words).
    """
    s = np.asarray(s, dtype=float)
    sign, logdet_s = np.linalg.slogdet(s)
    if sign <= 0:
        return None
    theta = _starts(st, s)
    lam, psi, th = _matrices(st, theta)
    sigma = lam @ psi @ lam.T + th
    f = _discrepancy(s, sigma, logdet_s)
    if not np.isfinite(f):
        return None
    converged, it = False, 0
    for it in range(1, maxiter + 1):  # noqa: B007 - the count is reported
        try:
            step = _step(st, theta, lam, psi, sigma, s)
        except np.linalg.LinAlgError:
            return None
        scale = 1.0
        for _ in range(40):
            cand = theta + scale * step
            lam_c, psi_c, th_c = _matrices(st, cand)
            sigma_c = lam_c @ psi_c @ lam_c.T + th_c
            f_c = _discrepancy(s, sigma_c, logdet_s)
            if f_c <= f + 1e-15 * max(1.0, abs(f)):
                break
            scale /= 2.0
        else:  # F cannot fall any more: at the optimum up to rounding, or stuck
            converged = bool(np.max(np.abs(step) / np.maximum(1.0, np.abs(theta))) < 1e-6)
            break
        theta, lam, psi, th, sigma, f = cand, lam_c, psi_c, th_c, sigma_c, f_c
        if np.max(np.abs(scale * step) / np.maximum(1.0, np.abs(theta))) < tol:
            converged = True
            break
    info = _information(np.linalg.inv(sigma), _jacobian(st, lam, psi))
    try:
        acov = 2.0 / n * np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    se = np.sqrt(np.clip(np.diag(acov), 0, None))
    return LeanFit(st, theta, se, lam, psi, th, sigma, s, int(n), converged, it)


def improper_messages(rows: Iterable) -> list[str]:
    """Heywood cases and other improper solutions, described for the reader.

    ``rows`` have attributes kind, lhs, rhs, free, estimate and std (a parameter table's rows); used by
    :func:`dancerec.indices.paramtable.improper_solutions` and the lean path alike.
    """
    out = []
    for r in rows:
        if r.kind in ("variance", "residual variance") and r.free and r.estimate <= 1e-6:
            out.append(
                f"Heywood case: variance of {r.lhs} is {r.estimate:.2g} at semopy's zero bound "
                "(lavaan would report a negative variance)"
            )
        if r.kind == "loading" and abs(r.std) > 1.0 + 1e-9:
            out.append(f"Heywood case: standardised loading {r.lhs} =~ {r.rhs} is {r.std:.3f} (> 1)")
        if r.kind == "covariance" and abs(r.std) > 1.0 + 1e-9:
            out.append(f"improper solution: correlation {r.lhs} ~~ {r.rhs} is {r.std:.3f} (|r| > 1)")
    return out
