"""Item data simulated from a planted structural equation model (standardised metric).

Used by the recovery tests, the benchmark and power checks: every latent variable has unit variance,
each item is ``loading * factor + sqrt(1 - loading^2) * noise``, and the structural paths are
standardised coefficients, so the values a correct estimator should recover are exactly the planted
ones. Optionally the continuous answers are cut into a Likert scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SimulatedSEM", "latent_covariance", "simulate_sem"]


@dataclass(frozen=True)
class SimulatedSEM:
    items: pd.DataFrame
    latent: pd.DataFrame
    loadings: dict[str, float]
    paths: dict[tuple[str, str], float]
    latent_cov: pd.DataFrame


def _order(factors: Sequence[str], paths: Mapping[tuple[str, str], float]) -> list[str]:
    """Factors in causal order (predictors before outcomes); refuses cycles."""
    preds = {f: {b for (a, b) in paths if a == f} for f in factors}
    done: list[str] = []
    while len(done) < len(factors):
        ready = [f for f in factors if f not in done and preds[f] <= set(done)]
        if not ready:
            raise ValueError("the planted paths form a cycle")
        done.extend(ready)
    return done


def latent_covariance(
    factors: Sequence[str],
    paths: Mapping[tuple[str, str], float],
    exo_corr: float | Mapping[tuple[str, str], float] = 0.0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Implied latent correlation matrix and the residual variances that give every factor variance 1.

    ``paths[(to, from)]`` are standardised coefficients; ``exo_corr`` correlates the exogenous factors.
    """
    factors = list(factors)
    order = _order(factors, paths)
    endo = {a for (a, _) in paths}
    exo = [f for f in order if f not in endo]
    k = len(factors)
    idx = {f: i for i, f in enumerate(factors)}
    cov = np.zeros((k, k))
    for a in exo:
        for b in exo:
            if a == b:
                cov[idx[a], idx[b]] = 1.0
            else:
                r = (
                    exo_corr
                    if isinstance(exo_corr, int | float)
                    else exo_corr.get((a, b), exo_corr.get((b, a), 0.0))
                )
                cov[idx[a], idx[b]] = r
    resid: dict[str, float] = {}
    known = list(exo)
    for f in order:
        if f not in endo:
            continue
        preds = [b for (a, b) in paths if a == f]
        beta = np.array([paths[(f, b)] for b in preds])
        pi = [idx[b] for b in preds]
        explained = float(beta @ cov[np.ix_(pi, pi)] @ beta)
        psi = 1.0 - explained
        if psi <= 0:
            raise ValueError(f"planted paths explain more than all variance of {f!r} ({explained:.3f})")
        resid[f] = psi
        i = idx[f]
        # cov(f, g) = sum_b beta_b cov(b, g) for every g already placed
        for g in known:
            cov[i, idx[g]] = cov[idx[g], i] = float(beta @ cov[pi, idx[g]])
        cov[i, i] = 1.0
        known.append(f)
    return pd.DataFrame(cov, index=factors, columns=factors), resid


def simulate_sem(
    structure: Mapping[str, Sequence[str]],
    n: int,
    *,
    loadings: float | Mapping[str, float] = 0.75,
    paths: Mapping[tuple[str, str], float] | None = None,
    exo_corr: float | Mapping[tuple[str, str], float] = 0.3,
    likert: int | None = None,
    seed: int = 0,
) -> SimulatedSEM:
    """Draw ``n`` respondents from the planted model.

    ``likert=k`` cuts each standardised answer into categories 1..k at equally spaced normal
    quantiles (which attenuates the loadings a little, as real ordinal data do).
    """
    rng = np.random.default_rng(seed)
    factors = list(structure)
    paths = dict(paths or {})
    cov, _ = latent_covariance(factors, paths, exo_corr)
    eta = rng.multivariate_normal(np.zeros(len(factors)), cov.to_numpy(), size=n, method="cholesky")
    lat = pd.DataFrame(eta, columns=factors)
    cols = {}
    lam_used: dict[str, float] = {}
    for f, items in structure.items():
        for item in items:
            lam = loadings if isinstance(loadings, int | float) else loadings[item]
            lam_used[item] = float(lam)
            x = lam * lat[f].to_numpy() + np.sqrt(1 - lam**2) * rng.standard_normal(n)
            if likert:
                from scipy import stats

                cuts = stats.norm.ppf(np.arange(1, likert) / likert)
                x = np.searchsorted(cuts, x).astype(float) + 1.0
            cols[item] = x
    items_df = pd.DataFrame(cols)
    items_df.index.name = "respondent_id"
    lat.index = items_df.index
    return SimulatedSEM(items=items_df, latent=lat, loadings=lam_used, paths=paths, latent_cov=cov)
