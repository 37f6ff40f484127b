"""Exploratory factor analysis with factor_analyzer, corrected where it disagrees with psych/SPSS.

- How many factors: Horn's parallel analysis (eigenvalues of the observed correlation matrix against
  the 95th percentile of eigenvalues from random normal data of the same size, Glorfeld 1995), for
  both principal components and common factors (SMC on the diagonal, as ``psych::fa.parallel``),
  with Kaiser's eigenvalue > 1 rule and the scree values for comparison. Hand-written because
  factor_analyzer has no parallel analysis.
- Extraction: minres (psych's default) or ML; rotation oblimin, promax, varimax or none.
- Corrections to factor_analyzer 0.5.1:
  * after an oblique rotation ``get_communalities()`` sums squared pattern loadings; the communality
    psych reports is h2 = diag(P Phi P'), computed here;
  * ``phi_`` is not reordered when factor_analyzer sorts the factors by variance; Phi is recomputed
    from the (consistently ordered) pattern and structure matrices, Phi = P^+ S;
  * each factor is oriented so that its loadings sum to a positive number (R/SPSS convention).
- Variance accounted for by each factor after an oblique rotation is colSums(P * S)
  (= diag(Phi P'P), psych's "SS loadings"); they add up to the total communality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dancerec.indices import _compat
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import prepare_items

from dancerec.errors import UserError

__all__ = ["EFAResult", "ParallelAnalysis", "fit_efa", "parallel_analysis"]

_compat.apply()

ROTATIONS = ("oblimin", "promax", "varimax", "none")
OBLIQUE = ("oblimin", "promax")


@dataclass(frozen=True)
class ParallelAnalysis:
    """Eigenvalues per position: observed (PCA and FA), random mean and percentile, and the suggestions."""

    table: pd.DataFrame
    n_factors: int  # parallel analysis on common factors (FA eigenvalues)
    n_components: int  # parallel analysis on principal components
    n_kaiser: int  # eigenvalues of R greater than 1
    n_iter: int
    percentile: float


def _smc_reduced(r: np.ndarray) -> np.ndarray:
    """Correlation matrix with squared multiple correlations on the diagonal."""
    try:
        inv = np.linalg.inv(r)
        smc = 1.0 - 1.0 / np.diag(inv)
    except np.linalg.LinAlgError:
        smc = np.max(np.abs(r - np.eye(len(r))), axis=1)
    out = r.copy()
    np.fill_diagonal(out, smc)
    return out


def _eig(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pca = np.sort(np.linalg.eigvalsh(r))[::-1]
    fa = np.sort(np.linalg.eigvalsh(_smc_reduced(r)))[::-1]
    return pca, fa


def _leading_count(observed: np.ndarray, threshold: np.ndarray) -> int:
    above = observed > threshold
    return int(np.argmin(above)) if not above.all() else len(above)


@single_blas_thread
def parallel_analysis(
    data: pd.DataFrame,
    items: Sequence[str] | None = None,
    *,
    n_iter: int = 100,
    percentile: float = 95.0,
    seed: int = 0,
) -> ParallelAnalysis:
    """Horn's parallel analysis with ``n_iter`` seeded random normal data sets of the same size."""
    cols = list(items) if items is not None else list(data.columns)
    frame = prepare_items(data, cols, min_n=len(cols) + 2, what="parallel analysis").frame
    n, p = frame.shape
    r = np.corrcoef(frame.to_numpy(float), rowvar=False)
    obs_pca, obs_fa = _eig(r)
    rng = np.random.default_rng(seed)
    sim_pca = np.empty((n_iter, p))
    sim_fa = np.empty((n_iter, p))
    for b in range(n_iter):
        z = rng.standard_normal((n, p))
        sim_pca[b], sim_fa[b] = _eig(np.corrcoef(z, rowvar=False))
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
    )


@dataclass(frozen=True)
class EFAResult:
    """Pattern loadings, structure, factor correlations, communalities and variance explained.

    ``loadings``: item x factor pattern matrix (columns F1..Fk). ``items``: per item its primary
    factor and loading, h2, u2, and ``cross_loading`` / ``weak`` flags.
    """

    n: int
    n_factors: int
    method: str
    rotation: str
    loadings: pd.DataFrame
    structure: pd.DataFrame
    phi: pd.DataFrame
    communalities: pd.Series
    variance: pd.DataFrame
    items: pd.DataFrame
    parallel: ParallelAnalysis | None
    cross_threshold: float
    primary_threshold: float


def _orient(p: np.ndarray, s: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    signs = np.where(p.sum(axis=0) < 0, -1.0, 1.0)
    d = np.diag(signs)
    return p @ d, s @ d, d @ phi @ d


@single_blas_thread
def fit_efa(
    data: pd.DataFrame,
    items: Sequence[str] | None = None,
    *,
    n_factors: int | None = None,
    method: str = "minres",
    rotation: str = "oblimin",
    structure: Mapping[str, Sequence[str]] | None = None,
    cross_threshold: float = 0.30,
    primary_threshold: float = 0.40,
    n_iter: int = 100,
    seed: int = 0,
) -> EFAResult:
    """EFA of ``items`` (default: all columns). ``n_factors`` defaults to parallel analysis.

    ``structure`` (the intended factor -> items) adds each item's intended dimension to ``items``.
    """
    from factor_analyzer import FactorAnalyzer

    if method not in ("minres", "ml", "principal"):
        raise UserError(f"unknown extraction method {method!r} (use minres, ml or principal)")
    if rotation not in ROTATIONS:
        raise UserError(f"unknown rotation {rotation!r} (use {', '.join(ROTATIONS)})")
    cols = list(items) if items is not None else list(data.columns)
    frame = prepare_items(data, cols, min_n=len(cols) + 2, what="EFA").frame
    pa = parallel_analysis(frame, cols, n_iter=n_iter, seed=seed)
    k = int(n_factors) if n_factors is not None else pa.n_factors
    if k < 1 or k >= len(cols):
        raise UserError(f"cannot extract {k} factor(s) from {len(cols)} items")
    rot = None if rotation == "none" or k == 1 else rotation
    fa = FactorAnalyzer(n_factors=k, rotation=rot, method=method)
    fa.fit(frame.to_numpy(float))
    p = np.asarray(fa.loadings_, dtype=float)
    if rot in OBLIQUE:
        s = np.asarray(fa.structure_, dtype=float)
        phi = np.linalg.lstsq(p, s, rcond=None)[0]
        phi = (phi + phi.T) / 2
    else:
        phi = np.eye(k)
        s = p.copy()
    p, s, phi = _orient(p, s, phi)
    names = [f"F{j + 1}" for j in range(k)]
    h2 = np.einsum("ij,jk,ik->i", p, phi, p)
    ss = (p * s).sum(axis=0)
    variance = pd.DataFrame(
        {
            "factor": names,
            "ss_loadings": ss,
            "proportion": ss / len(cols),
            "cumulative": np.cumsum(ss) / len(cols),
        }
    )
    loadings = pd.DataFrame(p, index=cols, columns=names)
    abs_p = np.abs(p)
    primary = abs_p.argmax(axis=1)
    rows = []
    intended = {i: f for f, its in (structure or {}).items() for i in its}
    for i, item in enumerate(cols):
        others = np.delete(abs_p[i], primary[i])
        rows.append(
            {
                "item": item,
                "dimension": intended.get(item),
                "factor": names[primary[i]],
                "loading": float(p[i, primary[i]]),
                "h2": float(h2[i]),
                "u2": float(1 - h2[i]),
                "cross_loading": bool(others.size and others.max() >= cross_threshold),
                "weak": bool(abs_p[i, primary[i]] < primary_threshold),
            }
        )
    return EFAResult(
        n=len(frame),
        n_factors=k,
        method=method,
        rotation=rotation if rot is not None else "none",
        loadings=loadings,
        structure=pd.DataFrame(s, index=cols, columns=names),
        phi=pd.DataFrame(phi, index=names, columns=names),
        communalities=pd.Series(h2, index=cols, name="h2"),
        variance=variance,
        items=pd.DataFrame(rows),
        parallel=pa,
        cross_threshold=cross_threshold,
        primary_threshold=primary_threshold,
    )
