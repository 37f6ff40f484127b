"""The multi-group ML engine behind :mod:`dancerec.indices.invariance` (and the score tests and latent
mean tests that reuse it): where each free parameter sits for one invariance level, the multi-group ML
discrepancy with its analytic gradient, starting values, bounds and the L-BFGS-B minimisation.

Why hand-written: semopy fits one group at a time and has no cross-group equality constraints or
multi-group likelihood (see the module docstring of :mod:`dancerec.indices.invariance` for the
conventions followed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits


class _Layout:
    """Where each free parameter sits, for one invariance level.

    ``free``: parameters released from the level's equality constraints (partial invariance), as
    ("lam", item, factor), ("nu", item) or ("theta", item). ``full=True`` lays out a separate copy
    of every parameter in every group (the unconstrained parameterisation of the score tests).
    """

    def __init__(
        self,
        structure: Mapping[str, Sequence[str]],
        items: list[str],
        n_groups: int,
        level: str,
        free: frozenset = frozenset(),
        full: bool = False,
    ):
        self.items = items
        self.factors = list(structure)
        p, k, g_n = len(items), len(self.factors), n_groups
        pos = {it: i for i, it in enumerate(items)}
        shared_lam = level in ("metric", "scalar", "strict") and not full
        shared_nu = level in ("scalar", "strict") and not full
        shared_theta = level == "strict" and not full
        free_alpha = level in ("scalar", "strict")
        keys: dict[tuple, int] = {}

        def idx(key: tuple) -> int:
            if key not in keys:
                keys[key] = len(keys)
            return keys[key]

        self.lam = np.full((g_n, p, k), -1, dtype=int)
        self.lam_fixed = np.zeros((p, k))
        self.phi = np.full((g_n, k, k), -1, dtype=int)
        self.theta = np.full((g_n, p), -1, dtype=int)
        self.nu = np.full((g_n, p), -1, dtype=int)
        self.alpha = np.full((g_n, k), -1, dtype=int)
        for f, (factor, its) in enumerate(structure.items()):
            self.lam_fixed[pos[its[0]], f] = 1.0
            for g in range(g_n):
                for it in its[1:]:
                    same = shared_lam and ("lam", it, factor) not in free
                    key = ("lam", pos[it], f) if same else ("lam", g, pos[it], f)
                    self.lam[g, pos[it], f] = idx(key)
        for g in range(g_n):
            for a in range(k):
                for b in range(a + 1):
                    self.phi[g, a, b] = self.phi[g, b, a] = idx(("phi", g, a, b))
            for i, it in enumerate(items):
                same_theta = shared_theta and ("theta", it) not in free
                same_nu = shared_nu and ("nu", it) not in free
                self.theta[g, i] = idx(("theta", i) if same_theta else ("theta", g, i))
                self.nu[g, i] = idx(("nu", i) if same_nu else ("nu", g, i))
            if free_alpha and g > 0:
                for f in range(k):
                    self.alpha[g, f] = idx(("alpha", g, f))
        self.npar = len(keys)
        self.keys = keys

    def unpack(self, x: np.ndarray, g: int):
        """Group ``g``'s model matrices from ``x``: Lambda, Phi, Theta (diagonal), nu, alpha."""
        lam = self.lam_fixed.copy()
        m = self.lam[g] >= 0
        lam[m] = x[self.lam[g][m]]
        phi = x[self.phi[g]]
        theta = np.diag(x[self.theta[g]])
        nu = x[self.nu[g]]
        alpha = np.where(self.alpha[g] >= 0, x[np.maximum(self.alpha[g], 0)], 0.0)
        return lam, phi, theta, nu, alpha


@dataclass
class _GroupData:
    """One group's sample moments (ML covariance with divisor N, means) and ln|S|."""

    name: str
    n: int
    s: np.ndarray
    mean: np.ndarray
    logdet_s: float


def _objective(x: np.ndarray, layout: _Layout, data: list[_GroupData], n_total: int):
    """The N-weighted multi-group ML discrepancy F (module docstring of ``invariance``) and its gradient."""
    f_total = 0.0
    grad = np.zeros_like(x)
    p = layout.lam_fixed.shape[0]
    for g, gd in enumerate(data):
        w = gd.n / n_total
        lam, phi, theta, nu, alpha = layout.unpack(x, g)
        sigma = lam @ phi @ lam.T + theta
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(x)
        logdet = 2.0 * float(np.log(np.diag(chol)).sum())
        inv = np.linalg.inv(sigma)
        d = gd.mean - (nu + lam @ alpha)
        inv_d = inv @ d
        f = logdet - gd.logdet_s + float(np.sum(inv * gd.s)) - p + float(d @ inv_d)
        f_total += w * f
        gmat = inv - inv @ (gd.s + np.outer(d, d)) @ inv
        d_mu = -2.0 * inv_d
        g_lam = 2.0 * gmat @ lam @ phi + np.outer(d_mu, alpha)
        g_phi = lam.T @ gmat @ lam
        # phi entries: each symmetric free parameter is stored at (a, b) and (b, a)
        m = layout.lam[g] >= 0
        np.add.at(grad, layout.lam[g][m], w * g_lam[m])
        np.add.at(grad, layout.phi[g].ravel(), w * g_phi.ravel())
        np.add.at(grad, layout.theta[g], w * np.diag(gmat))
        np.add.at(grad, layout.nu[g], w * d_mu)
        am = layout.alpha[g] >= 0
        np.add.at(grad, layout.alpha[g][am], w * (lam.T @ d_mu)[am])
    return f_total, grad


def _start(layout: _Layout, data: list[_GroupData], structure: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Starting values: loading ratios through a third item, half the variances as residuals."""
    pos = {it: i for i, it in enumerate(layout.items)}
    sums = np.zeros(layout.npar)
    counts = np.zeros(layout.npar)
    for g, gd in enumerate(data):
        s = gd.s
        lam = layout.lam_fixed.copy()
        for f, its in enumerate(structure.values()):
            m = pos[its[0]]
            for it in its[1:]:
                j = pos[it]
                others = [pos[o] for o in its if pos[o] not in (j, m)]
                ratios = [s[j, o] / s[m, o] for o in others if abs(s[m, o]) > 1e-8]
                lam[j, f] = float(np.clip(np.mean(ratios), -3, 3)) if ratios else 1.0
        theta = 0.5 * np.diag(s)
        k = len(layout.factors)
        phi = np.zeros((k, k))
        for f, its in enumerate(structure.values()):
            phi[f, f] = max(0.5 * s[pos[its[0]], pos[its[0]]], 1e-3)
        vals = {
            "lam": (layout.lam[g], lam),
            "phi": (layout.phi[g], phi),
            "theta": (layout.theta[g], theta),
            "nu": (layout.nu[g], gd.mean),
        }
        for index, value in vals.values():
            m = index >= 0
            np.add.at(sums, index[m], np.asarray(value)[m])
            np.add.at(counts, index[m], 1.0)
    return sums / np.maximum(counts, 1.0)


def _bounds(layout: _Layout) -> list[tuple[float | None, float | None]]:
    """Residual and factor variances stay positive; everything else is unbounded."""
    b: list[tuple[float | None, float | None]] = [(None, None)] * layout.npar
    for key, i in layout.keys.items():
        if key[0] == "theta":
            b[i] = (1e-8, None)
        elif key[0] == "phi" and key[-1] == key[-2]:
            b[i] = (1e-8, None)
    return b


def _srmr_group(gd: _GroupData, sigma: np.ndarray, mu: np.ndarray) -> float:
    """One group's SRMR over the covariance residuals and the standardised mean residuals."""
    sd = np.sqrt(np.diag(gd.s))
    r = (gd.s - sigma) / np.outer(sd, sd)
    tri = r[np.tril_indices(len(sd))]
    mean_r = (gd.mean - mu) / sd
    return float(np.sqrt((np.sum(tri**2) + np.sum(mean_r**2)) / (len(tri) + len(sd))))


def _minimise(
    layout: _Layout, gdata: list[_GroupData], structure: Mapping[str, Sequence[str]], n_total: int
) -> tuple[optimize.OptimizeResult, bool]:
    """Minimise the ML discrepancy from :func:`_start` (L-BFGS-B); the result and whether it converged."""
    x0 = _start(layout, gdata, structure)
    with threadpool_limits(1), np.errstate(all="ignore"):
        res = optimize.minimize(
            _objective,
            x0,
            args=(layout, gdata, n_total),
            jac=True,
            method="L-BFGS-B",
            bounds=_bounds(layout),
            options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-15, "gtol": 1e-9, "maxcor": 30},
        )
    x = res.x
    # L-BFGS-B may stop with "ABNORMAL" line-search termination at the optimum under these tight
    # tolerances; judge convergence by the projected gradient instead
    grad = np.asarray(res.jac, dtype=float)
    lower = np.array([b[0] if b[0] is not None else -np.inf for b in _bounds(layout)])
    at_bound = (x <= lower + 1e-10) & (grad > 0)
    converged = bool(res.success or np.max(np.abs(np.where(at_bound, 0.0, grad))) < 1e-6)
    return res, converged
