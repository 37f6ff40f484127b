"""The ML discrepancy with an analytic gradient, for fast refits (bootstrap, robust standard errors).

Split out of :mod:`dancerec.indices.estimation` (which re-exports it) to keep that module readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import semopy


class MLObjective:
    """Vectorised ML discrepancy and its analytic gradient on semopy's matrices.

    Hand-written because semopy's ``grad_mlw`` loops over parameters in Python (one einsum per
    parameter); this one forms the matrix gradients once per call, which makes refits (bootstrap)
    about an order of magnitude faster. Same objective and parameterisation as semopy's MLW.

    With Sigma = M Psi M' + Theta, M = Lambda C, C = (I - B)^-1 and G = Sigma^-1 - Sigma^-1 S Sigma^-1:
    dF/dLambda = 2 G M Psi C', dF/dB = 2 M' G M Psi C', dF/dPsi = M' G M, dF/dTheta = G.
    """

    def __init__(self, model: semopy.Model, s: np.ndarray):
        self.model = model
        self.npar = len(model.param_vals)
        self.set_cov(s)

    def set_cov(self, s: np.ndarray) -> None:
        self.s = s
        self.logdet_s = float(np.linalg.slogdet(s)[1])
        self.p = s.shape[0]

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """F_ML and its gradient; (inf, 0) wherever Sigma or I - B is singular or not finite, so an
        optimiser backs off instead of crashing (no unguarded inverse: bootstrap resamples hit these)."""
        try:
            return self._evaluate(x)
        except (np.linalg.LinAlgError, ValueError):
            return np.inf, np.zeros(self.npar)

    def _evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        m = self.model
        m.update_matrices(x)
        beta, lamb, psi, theta = m.matrices[:4]
        c = np.linalg.inv(m.identity_c - beta)
        mm = lamb @ c
        sigma = mm @ psi @ mm.T + theta
        if not np.all(np.isfinite(sigma)):
            return np.inf, np.zeros(self.npar)
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros(self.npar)
        logdet = 2.0 * float(np.log(np.diag(chol)).sum())
        inv = np.linalg.inv(sigma)
        inv_s = inv @ self.s
        f = logdet - self.logdet_s + float(np.trace(inv_s)) - self.p
        g = inv - inv_s @ inv
        mg = mm.T @ g
        psi_ct = psi @ c.T
        grads = (2.0 * mg @ mm @ psi_ct, 2.0 * g @ mm @ psi_ct, mg @ mm, g)
        out = np.zeros(self.npar)
        for gm, (r1, r2) in zip(grads, m.param_ranges, strict=False):
            if r1:
                out += np.bincount(r2, weights=gm[r1], minlength=self.npar)
        if not (np.isfinite(f) and np.all(np.isfinite(out))):
            return np.inf, np.zeros(self.npar)
        return f, out
