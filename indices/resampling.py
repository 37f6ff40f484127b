"""Resampling and delta-method uncertainty of effects computed from a fitted model: the nonparametric
bootstrap (warm-started refits by ML, or by FIML when the fit used FIML; failed resamples counted, never
fatal), Monte Carlo draws from the parameters' sampling distribution, and delta-method SEs. Split from
:mod:`sem`; ``effects`` is any callable returning (unstandardised, standardised) effect vectors from the
model's current matrices.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Protocol

import numpy as np
from dancerec.indices.data import ml_covariance
from dancerec.indices.estimation import Estimator, FittedModel, MLObjective
from scipy import optimize
from threadpoolctl import threadpool_limits

__all__ = ["Effects", "bootstrap", "delta_se", "montecarlo", "parameter_acov"]


class Effects(Protocol):
    """Named effects evaluated from the model's current matrices: (unstandardised, standardised)."""

    names: list[str]

    def __call__(self) -> tuple[np.ndarray, np.ndarray]: ...


# ----------------------------------------------------------------------------------------------
def _fixed_x_locations(fm: FittedModel) -> list[tuple[np.ndarray, tuple[int, int], int, int]]:
    """(matrix, index, i, j) of every fixed (co)variance of observed exogenous covariates."""
    m = fm.model
    pos = {v: k for k, v in enumerate(fm.observed)}
    xs = {fm.observed[i] for i in fm.fixed_x}
    out = []
    for param in m.parameters.values():
        if param.active:
            continue
        for loc in param.locations:
            if loc.matrix is not m.mx_psi:
                continue
            a, b = m.names_psi[0][loc.indices[0]], m.names_psi[1][loc.indices[1]]
            if a in xs and b in xs:
                out.append((loc.matrix, loc.indices, pos[a], pos[b]))
    return out


def _refit(
    objective: MLObjective,
    s: np.ndarray,
    theta0: np.ndarray,
    bounds: list,
    fixed_x: list,
    est: Estimator,
) -> bool:
    """Refit the model to covariance ``s`` from ``theta0`` (warm start); False when it fails."""
    m = objective.model
    try:
        np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        return False
    objective.set_cov(s)
    for mx, idx, i, j in fixed_x:
        mx[idx] = s[i, j]
        mx[idx[::-1]] = s[i, j]
    try:
        res = optimize.minimize(
            objective,
            theta0,
            jac=True,
            bounds=bounds,
            method=est.solver,
            options={"ftol": est.ftol, "maxiter": est.maxiter},
        )
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
        return False  # a resample the model cannot be fitted to: counted as failed, as lavaan does
    if not res.success or not np.isfinite(res.fun):
        return False
    m.param_vals = res.x
    m.update_matrices(res.x)
    return True


def _fiml_refitter(
    fm: FittedModel, theta0: np.ndarray, bounds: list, est: Estimator
) -> Callable[[np.ndarray], bool]:
    """A resample refit by FIML (warm start at the full-sample solution; fixed-x means from the resample)."""
    from dancerec.indices.fiml import FIMLObjective, missing_patterns

    m = fm.model
    p = len(fm.observed)
    free_mu = [j for j in range(p) if j not in set(fm.fixed_x)]
    x0 = np.concatenate([theta0, fm.fiml.mu[free_mu]])
    all_bounds = list(bounds) + [(None, None)] * len(free_mu)

    def refit(xb: np.ndarray) -> bool:
        pat = missing_patterns(xb)
        mu_fixed = np.nanmean(xb, axis=0)
        obj = FIMLObjective(m, pat, free_mu, mu_fixed)
        try:
            res = optimize.minimize(
                obj,
                x0,
                jac=True,
                bounds=all_bounds,
                method=est.solver,
                options={"ftol": est.ftol, "maxiter": est.maxiter},
            )
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            return False
        if not res.success or not np.isfinite(res.fun):
            return False
        theta = res.x[: obj.ntheta]
        m.param_vals = theta
        m.update_matrices(theta)
        return True

    return refit


def _restore(fm: FittedModel, theta: np.ndarray, fixed_x: list) -> None:
    m = fm.model
    for mx, idx, i, j in fixed_x:
        mx[idx] = fm.s[i, j]
        mx[idx[::-1]] = fm.s[i, j]
    m.param_vals = theta.copy()
    m.update_matrices(theta)


def bootstrap(
    fm: FittedModel,
    x: np.ndarray,
    effects: Effects,
    n_boot: int,
    seed: int,
    est: Estimator,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    theta = fm.model.param_vals.copy()
    bounds = fm.model.get_bounds()
    fixed_x = _fixed_x_locations(fm)
    n = x.shape[0]
    objective = MLObjective(fm.model, fm.s)
    if fm.missing == "fiml":
        refit = _fiml_refitter(fm, theta, bounds, est)
    else:

        def refit(xb: np.ndarray) -> bool:
            return _refit(objective, ml_covariance(xb), theta, bounds, fixed_x, est)

    raw, std = [], []
    failed = 0
    try:
        with threadpool_limits(1), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)
            for b in range(n_boot):
                idx = rng.integers(0, n, n)
                ok = refit(x[idx])
                if ok:
                    try:
                        e, sd = effects()
                    except (np.linalg.LinAlgError, ValueError):
                        ok = False
                    ok = ok and bool(np.all(np.isfinite(e)))
                if ok:
                    raw.append(e)
                    std.append(sd)
                else:
                    failed += 1
                if progress is not None:
                    progress(b + 1, n_boot)
    finally:
        logging.disable(logging.NOTSET)
        _restore(fm, theta, fixed_x)
    return np.array(raw), np.array(std), failed


def montecarlo(
    fm: FittedModel, effects: Effects, n_draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    m = fm.model
    theta = m.param_vals.copy()
    acov = parameter_acov(fm)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(theta, (acov + acov.T) / 2, size=n_draws, method="eigh")
    raw, std = [], []
    failed = 0
    try:
        with np.errstate(all="ignore"):
            for d in draws:
                m.update_matrices(d)
                e, sd = effects()
                if np.all(np.isfinite(sd)):
                    raw.append(e)
                    std.append(sd)
                else:
                    failed += 1
    finally:
        m.param_vals = theta
        m.update_matrices(theta)
    return np.array(raw), np.array(std), failed


def parameter_acov(fm: FittedModel) -> np.ndarray:
    """Sampling covariance of the free parameters: sandwich under MLR, observed information under FIML,
    else expected information."""
    if fm.robust_acov is not None:
        return fm.robust_acov
    if fm.fiml is not None:
        return fm.fiml.acov_theta
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fm.model.calc_fim(inverse=True)[1]


def delta_se(fm: FittedModel, effects: Effects, h: float = 1e-6) -> np.ndarray:
    """Delta-method SEs of the effects (lavaan's SEs for ``:=``): J ACOV J' with J by central differences."""
    m = fm.model
    theta = m.param_vals.copy()
    try:
        acov = parameter_acov(fm)
    except (np.linalg.LinAlgError, ValueError):
        return np.full(len(effects.names), np.nan)
    jac = np.empty((len(effects.names), len(theta)))
    try:
        with np.errstate(all="ignore"):
            for i in range(len(theta)):
                step = h * max(1.0, abs(theta[i]))
                up, down = theta.copy(), theta.copy()
                up[i] += step
                down[i] -= step
                m.update_matrices(up)
                e_up = effects()[0]
                m.update_matrices(down)
                e_down = effects()[0]
                jac[:, i] = (e_up - e_down) / (2 * step)
    finally:
        m.param_vals = theta
        m.update_matrices(theta)
    return np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, acov, jac), 0, None))
