"""Exploratory factor analysis, matching psych where factor_analyzer disagrees with it.

- How many factors: Horn's parallel analysis with ``psych::fa.parallel``'s default definitions
  (one-factor minres eigenvalues, pairwise correlations, 20 random data sets, 95th percentile; SMC
  on the diagonal as an option), with Kaiser's eigenvalue > 1 rule for comparison: see
  :mod:`dancerec.indices.parallel`.
- Extraction: minres (psych's default) and ML via factor_analyzer; principal-axis factoring ("pa",
  iterated communalities from an SMC start, ``psych::fa(fm = "pa")``) and principal components
  ("pc", ``psych::principal``) here with an exact symmetric eigendecomposition (factor_analyzer's
  "principal" is components from a randomized SVD, about 1e-3 off psych). Rotation oblimin,
  promax, varimax or none (factor_analyzer's GPA rotator).
- Corrections to factor_analyzer 0.5.1:
  * after an oblique rotation ``get_communalities()`` sums squared pattern loadings; the communality
    psych reports is h2 = diag(P Phi P'), computed here;
  * ``phi_`` is not reordered when factor_analyzer sorts the factors by variance; Phi is recomputed
    from the (consistently ordered) pattern and structure matrices, Phi = P^+ S;
  * each factor is oriented so that its loadings sum to a positive number (R/SPSS convention).
- Variance accounted for by each factor after an oblique rotation is colSums(P * S)
  (= diag(Phi P'P), psych's "SS loadings"); they add up to the total communality.
- The EFA itself uses complete cases (N reported); parallel analysis uses every respondent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import prepare_items
from dancerec.indices.parallel import ParallelAnalysis, parallel_analysis

from dancerec.errors import UserError

__all__ = ["METHODS", "EFAResult", "ParallelAnalysis", "fit_efa", "parallel_analysis"]

METHODS = ("minres", "ml", "pa", "pc")

ROTATIONS = ("oblimin", "promax", "varimax", "none")
OBLIQUE = ("oblimin", "promax")


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


def _smc(r: np.ndarray) -> np.ndarray:
    try:
        return 1.0 - 1.0 / np.diag(np.linalg.inv(r))
    except np.linalg.LinAlgError:
        return np.max(np.abs(r - np.eye(len(r))), axis=1)


def _leading(r: np.ndarray, k: int) -> np.ndarray:
    """Loadings of the ``k`` leading eigenpairs of ``r``: V_k diag(sqrt(lambda_k)) (exact eigh)."""
    vals, vecs = np.linalg.eigh(r)
    order = np.argsort(vals)[::-1][:k]
    return vecs[:, order] * np.sqrt(np.maximum(vals[order], 0.0))


def principal_axis(r: np.ndarray, k: int, *, min_err: float = 0.001, max_iter: int = 50) -> np.ndarray:
    """Iterated principal-axis factoring as ``psych::fa(fm = "pa")``: SMC start; the diagonal is
    replaced by the communalities until their sum changes by less than ``min_err`` (at most
    ``max_iter`` rounds; psych's stopping rule, so loadings agree with psych to its tolerance)."""
    reduced = r.copy()
    np.fill_diagonal(reduced, _smc(r))
    comm = float(np.trace(reduced))
    load = _leading(reduced, k)
    for _ in range(max_iter):
        load = _leading(reduced, k)
        new = np.sum(load**2, axis=1)
        np.fill_diagonal(reduced, new)
        err = abs(comm - float(new.sum()))
        comm = float(new.sum())
        if err <= min_err:
            break
    return load


def _rotate(load: np.ndarray, rot: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pattern, structure and factor correlations after ``rot`` (factor_analyzer's Rotator, GPA)."""
    k = load.shape[1]
    if rot is None:
        return load, load.copy(), np.eye(k)
    from dancerec.indices._compat import rotator

    r = rotator(rot)
    p = np.asarray(r.fit_transform(load), dtype=float)
    if rot in OBLIQUE and r.phi_ is not None:
        phi = np.asarray(r.phi_, dtype=float)
        return p, p @ phi, phi
    return p, p.copy(), np.eye(k)


def _sort_by_variance(
    p: np.ndarray, s: np.ndarray, phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-(p * s).sum(axis=0), kind="stable")
    return p[:, order], s[:, order], phi[np.ix_(order, order)]


def _extract(frame: pd.DataFrame, k: int, method: str, rot: str | None):
    """(pattern, structure, phi) for ``method``; minres/ml via factor_analyzer, pa/pc here."""
    x = frame.to_numpy(float)
    if method in ("pa", "pc"):
        r = np.corrcoef(x, rowvar=False)
        load = principal_axis(r, k) if method == "pa" else _leading(r, k)
        load = load * np.where(load.sum(axis=0) < 0, -1.0, 1.0)
        return _sort_by_variance(*_rotate(load, rot)) if k > 1 else _rotate(load, rot)
    from dancerec.indices._compat import factor_analyzer_class

    fa = factor_analyzer_class()(n_factors=k, rotation=rot, method=method)
    fa.fit(x)
    p = np.asarray(fa.loadings_, dtype=float)
    if rot in OBLIQUE:
        s = np.asarray(fa.structure_, dtype=float)
        phi = np.linalg.lstsq(p, s, rcond=None)[0]
        return p, s, (phi + phi.T) / 2
    return p, p.copy(), np.eye(k)


def _variance_table(p: np.ndarray, s: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Variance accounted for by each factor: colSums(P * S) (psych's SS loadings), proportion, cumulative."""
    n_items = p.shape[0]
    ss = (p * s).sum(axis=0)
    return pd.DataFrame(
        {
            "factor": names,
            "ss_loadings": ss,
            "proportion": ss / n_items,
            "cumulative": np.cumsum(ss) / n_items,
        }
    )


def _item_table(
    p: np.ndarray,
    h2: np.ndarray,
    cols: list[str],
    names: list[str],
    structure: Mapping[str, Sequence[str]] | None,
    thresholds: tuple[float, float],
) -> pd.DataFrame:
    """One row per item: intended dimension, primary factor and loading, h2/u2, and the cross-loading
    (another |loading| >= the first threshold) and weak (primary |loading| < the second) flags."""
    cross_threshold, primary_threshold = thresholds
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
    return pd.DataFrame(rows)


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
    n_iter: int = 20,
    seed: int = 0,
    smc: bool = False,
) -> EFAResult:
    """EFA of ``items`` (default: all columns) on complete cases.

    ``method``: minres (psych's default), ml, pa (principal-axis factoring, ``psych::fa(fm = "pa")``)
    or pc (principal components, ``psych::principal``; "principal" is accepted as an alias).
    ``n_factors`` defaults to parallel analysis (psych's ``fa.parallel`` definitions on all
    respondents with pairwise correlations; ``smc`` / ``n_iter`` / ``seed`` are passed to it).
    ``structure`` (the intended factor -> items) adds each item's intended dimension to ``items``.
    """
    method = "pc" if method == "principal" else method
    if method not in METHODS:
        raise UserError(f"unknown extraction method {method!r} (use {', '.join(METHODS)})")
    if rotation not in ROTATIONS:
        raise UserError(f"unknown rotation {rotation!r} (use {', '.join(ROTATIONS)})")
    cols = list(items) if items is not None else list(data.columns)
    frame = prepare_items(data, cols, min_n=len(cols) + 2, what="EFA").frame
    pa = parallel_analysis(data, cols, n_iter=n_iter, seed=seed, smc=smc)
    k = int(n_factors) if n_factors is not None else pa.n_factors
    if k < 1 or k >= len(cols):
        raise UserError(f"cannot extract {k} factor(s) from {len(cols)} items")
    rot = None if rotation == "none" or k == 1 else rotation
    p, s, phi = _extract(frame, k, method, rot)
    p, s, phi = _orient(p, s, phi)
    names = [f"F{j + 1}" for j in range(k)]
    h2 = np.einsum("ij,jk,ik->i", p, phi, p)
    variance = _variance_table(p, s, names)
    loadings = pd.DataFrame(p, index=cols, columns=names)
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
        items=_item_table(p, h2, cols, names, structure, (cross_threshold, primary_threshold)),
        parallel=pa,
        cross_threshold=cross_threshold,
        primary_threshold=primary_threshold,
    )
