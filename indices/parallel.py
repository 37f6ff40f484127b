"""Horn's parallel analysis as ``psych::fa.parallel`` computes it by default (psych 2.2.9).

Definitions (psych's defaults, ``fa.parallel(x)``):

- observed correlations: Pearson, pairwise-complete (``cor(x, use = "pairwise")``), so respondents
  with a missing answer still count for every pair they answered;
- component eigenvalues: eigenvalues of that correlation matrix;
- factor eigenvalues (``fa = "fa"``, ``SMC = FALSE``): fit a one-factor minres solution, put its
  communalities on the diagonal of R and take the eigenvalues of that reduced matrix
  (``fa(r, nfactors = 1, fm = "minres")$values``). ``smc=True`` uses squared multiple correlations
  on the diagonal instead (``SMC = TRUE``); on psych's bfi that finds 8 factors where the default
  finds 6, so it is an option, not the default;
- random data: ``n_iter`` (default 20, as psych) standard-normal data sets of the same N (all rows)
  and number of items, processed the same way; the threshold is the 95th percentile (R's type-7
  quantile, numpy's default "linear" percentile);
- the suggested number is the count of leading eigenvalues above their threshold (psych:
  ``which(!(observed > threshold))[1] - 1``), reported as at least 1.

Hand-written because factor_analyzer has no parallel analysis; the one-factor minres fit is a small
L-BFGS-B problem written here so that parallel analysis does not need scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dancerec.errors import UserError

__all__ = ["ParallelAnalysis", "minres_one_factor_values", "pairwise_correlation", "parallel_analysis"]


@dataclass(frozen=True)
class ParallelAnalysis:
    """Eigenvalues per position: observed (PCA and FA), random mean and percentile, and the suggestions."""

    table: pd.DataFrame
    n_factors: int  # parallel analysis on common factors (FA eigenvalues)
    n_components: int  # parallel analysis on principal components
    n_kaiser: int  # eigenvalues of R greater than 1
    n_iter: int
    percentile: float
    n: int = 0  # rows used to size the random data sets
    smc: bool = False  # True: SMC-reduced eigenvalues; False: one-factor minres (psych default)


def pairwise_correlation(data: pd.DataFrame, items: Sequence[str], *, what: str) -> tuple[np.ndarray, int]:
    """Pairwise-complete Pearson correlations of ``items`` and the number of rows with any answer."""
    from dancerec.indices.data import DataCheckError, _numeric

    cols = [str(c) for c in items]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataCheckError(f"data: column(s) not in the data: {', '.join(missing)}")
    frame = _numeric(data[cols], "data").dropna(how="all")
    p = len(cols)
    if len(frame) < p + 2:
        raise DataCheckError(
            f"data: too few respondents for the {what}: {len(frame)} with any answer, at least {p + 2} needed"
        )
    x = frame.to_numpy(float)
    ok = ~np.isnan(x)
    pair_n = ok.T.astype(float) @ ok.astype(float)
    if pair_n.min() < 3:
        i, j = np.unravel_index(np.argmin(pair_n), pair_n.shape)
        raise DataCheckError(
            f"data: items {cols[i]!r} and {cols[j]!r} were answered together by {int(pair_n[i, j])} "
            f"respondent(s); the {what} needs at least 3"
        )
    r = frame.corr(method="pearson").to_numpy(float)
    if not np.isfinite(r).all():
        bad = [c for c, v in zip(cols, np.isfinite(r).all(axis=1), strict=True) if not v]
        raise DataCheckError(f"data: constant item(s) {', '.join(bad)}: correlations undefined")
    return r, len(frame)


def _smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations (psych::smc for a correlation matrix)."""
    try:
        return 1.0 - 1.0 / np.diag(np.linalg.inv(r))
    except np.linalg.LinAlgError:
        return np.max(np.abs(r - np.eye(len(r))), axis=1)


def _minres_residual(
    psi: np.ndarray, r: np.ndarray, iu: tuple[np.ndarray, np.ndarray]
) -> tuple[float, np.ndarray]:
    """Sum of squared off-diagonal residuals of the one-factor model and its analytic gradient.

    The loading is the leading eigenpair (lam, v) of R with 1 - psi on the diagonal; by first-order
    eigen-perturbation (dS = -e_k e_k'), with E the off-diagonal residual matrix, w = E v, c = v'Ev:
    df/dpsi_k = c v_k^2 + 2 lam v_k sum_m (u_m'w) u_mk / (lam - lam_m) over the other eigenpairs.
    """
    s = r.copy()
    np.fill_diagonal(s, 1.0 - psi)
    vals, vecs = np.linalg.eigh(s)
    lam = max(vals[-1], 100 * np.finfo(float).eps)
    v = vecs[:, -1]
    e = s - lam * np.outer(v, v)
    np.fill_diagonal(e, 0.0)
    f = float(np.sum(e[iu] ** 2))
    w = e @ v
    gap = lam - vals[:-1]
    gap = np.where(np.abs(gap) < 1e-12, 1e-12, gap)
    rest = vecs[:, :-1]
    t = rest @ ((rest.T @ w) / gap)
    grad = float(v @ w) * v**2 + 2.0 * lam * v * t
    return f, grad


def minres_one_factor(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors (ascending) of R with the one-factor minres uniquenesses removed.

    As psych's ``fa(r, nfactors = 1, fm = "minres")``: the uniquenesses minimise the sum of squared
    off-diagonal residuals (L-BFGS-B, bounds [.005, max(SMC, 1)], start 1 - SMC). The last eigenpair is
    the factor; parallel analysis and omega's general factor both start from it.
    """
    from scipy import optimize

    smc = _smc(r)
    upper = max(float(np.max(smc)), 1.0)
    iu = np.triu_indices(len(r), 1)
    res = optimize.minimize(
        _minres_residual,
        1.0 - smc,
        args=(r, iu),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.005, upper)] * len(r),
        options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 2000},
    )
    s = r.copy()
    np.fill_diagonal(s, 1.0 - res.x)
    return np.linalg.eigh(s)


def minres_one_factor_values(r: np.ndarray) -> np.ndarray:
    """Eigenvalues of R with the one-factor minres communalities on the diagonal, largest first
    (psych's ``fa(r, nfactors = 1, fm = "minres")$values``)."""
    vals, vecs = minres_one_factor(r)
    h2 = vecs[:, -1] ** 2 * max(vals[-1], 100 * np.finfo(float).eps)
    reduced = r.copy()
    np.fill_diagonal(reduced, h2)
    return np.sort(np.linalg.eigvalsh(reduced))[::-1]


def _fa_values(r: np.ndarray, smc: bool) -> np.ndarray:
    if smc:
        reduced = r.copy()
        np.fill_diagonal(reduced, _smc(r))
        return np.sort(np.linalg.eigvalsh(reduced))[::-1]
    return minres_one_factor_values(r)


def _leading_count(observed: np.ndarray, threshold: np.ndarray) -> int:
    above = observed > threshold
    return int(np.argmin(above)) if not above.all() else len(above)


def parallel_analysis(
    data: pd.DataFrame,
    items: Sequence[str] | None = None,
    *,
    n_iter: int = 20,
    percentile: float = 95.0,
    seed: int = 0,
    smc: bool = False,
) -> ParallelAnalysis:
    """Horn's parallel analysis with psych's default definitions (see the module docstring).

    ``n_iter`` seeded random normal data sets; ``smc=True`` for SMC-reduced factor eigenvalues.
    """
    from dancerec.indices._threads import single_blas_thread

    if n_iter < 1:
        raise UserError(f"parallel analysis needs at least 1 random data set (got n_iter={n_iter})")
    if not 0 < percentile < 100:
        raise UserError(f"percentile must lie between 0 and 100 (got {percentile})")
    cols = list(items) if items is not None else list(data.columns)
    return single_blas_thread(_parallel)(data, cols, n_iter, percentile, seed, smc)


def _parallel(
    data: pd.DataFrame, cols: list[str], n_iter: int, percentile: float, seed: int, smc: bool
) -> ParallelAnalysis:
    r, n = pairwise_correlation(data, cols, what="parallel analysis")
    p = len(cols)
    obs_pca = np.sort(np.linalg.eigvalsh(r))[::-1]
    obs_fa = _fa_values(r, smc)
    rng = np.random.default_rng(seed)
    sim_pca = np.empty((n_iter, p))
    sim_fa = np.empty((n_iter, p))
    for b in range(n_iter):
        rs = np.corrcoef(rng.standard_normal((n, p)), rowvar=False)
        sim_pca[b] = np.sort(np.linalg.eigvalsh(rs))[::-1]
        sim_fa[b] = _fa_values(rs, smc)
    pct_pca = np.percentile(sim_pca, percentile, axis=0)
    pct_fa = np.percentile(sim_fa, percentile, axis=0)
    table = pd.DataFrame(
        {
            "position": np.arange(1, p + 1),
            "eigen_pca": obs_pca,
            "random_pca_mean": sim_pca.mean(axis=0),
            f"random_pca_p{percentile:g}": pct_pca,
            "eigen_fa": obs_fa,
            "random_fa_mean": sim_fa.mean(axis=0),
            f"random_fa_p{percentile:g}": pct_fa,
        }
    )
    return ParallelAnalysis(
        table=table,
        n_factors=max(1, _leading_count(obs_fa, pct_fa)),
        n_components=max(1, _leading_count(obs_pca, pct_pca)),
        n_kaiser=int(np.sum(obs_pca > 1.0)),
        n_iter=n_iter,
        percentile=percentile,
        n=n,
        smc=smc,
    )
