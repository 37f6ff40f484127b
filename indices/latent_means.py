"""Latent mean differences between groups in a (partial) scalar invariance model.

Each group's latent means against the first group's (fixed at 0), with standard errors from the
observed information: (N / 2) times the Hessian of the multi-group ML discrepancy, by central
differences of its analytic gradient. d divides the difference by the pooled latent SD.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dancerec.indices.invariance import MultiGroupFit, _Layout, _objective
from scipy import stats

__all__ = ["latent_mean_tests"]


def latent_mean_tests(structure, items, gdata, fit: MultiGroupFit) -> pd.DataFrame:
    """Latent mean of each group against the first (scalar model) with SE from the observed information."""
    layout = _Layout(structure, items, len(gdata), fit.level, fit.free)
    n_total = sum(gd.n for gd in gdata)
    # re-assemble the parameter vector from the fit
    x = np.zeros(layout.npar)
    for g, gd in enumerate(gdata):
        lam = fit.loadings[gd.name].to_numpy()
        m = layout.lam[g] >= 0
        x[layout.lam[g][m]] = lam[m]
        x[layout.phi[g]] = fit.factor_cov[gd.name].to_numpy()
        x[layout.theta[g]] = fit.residual_var[gd.name].to_numpy()
        x[layout.nu[g]] = fit.intercepts[gd.name].to_numpy()
        am = layout.alpha[g] >= 0
        x[layout.alpha[g][am]] = fit.latent_means[gd.name].to_numpy()[am]
    # observed information = (N / 2) * Hessian of F, by central differences of the analytic gradient
    h = np.zeros((layout.npar, layout.npar))
    step = 1e-5
    for i in range(layout.npar):
        e = np.zeros(layout.npar)
        e[i] = step * max(1.0, abs(x[i]))
        gp = _objective(x + e, layout, gdata, n_total)[1]
        gm = _objective(x - e, layout, gdata, n_total)[1]
        h[:, i] = (gp - gm) / (2 * e[i])
    h = (h + h.T) / 2 * n_total / 2
    try:
        acov = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        acov = np.linalg.pinv(h)
    ref = gdata[0].name
    rows = []
    for g, gd in enumerate(gdata[1:], start=1):
        for f, factor in enumerate(layout.factors):
            i = layout.alpha[g, f]
            est = float(x[i])
            se = float(np.sqrt(max(acov[i, i], 0.0)))
            pooled = np.sqrt((fit.factor_cov[ref].iat[f, f] + fit.factor_cov[gd.name].iat[f, f]) / 2)
            z = est / se if se > 0 else np.nan
            rows.append(
                {
                    "factor": factor,
                    "group": gd.name,
                    "reference": ref,
                    "mean_diff": est,
                    "se": se,
                    "z": z,
                    "p": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
                    "d": est / pooled if pooled > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows)
