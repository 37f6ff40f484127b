"""Discriminant validity: the Fornell-Larcker table, the HTMT matrix and item cross-loadings.

HTMT definitions (both on absolute item correlations, as semTools does by default):

- ``geometric`` (semTools::htmt default, ``htmt2 = TRUE``): Roemer, Schuberth & Henseler (2021),
  geometric means of the hetero-trait and mono-trait correlations;
- ``arithmetic``: the classic HTMT of Henseler, Ringle & Sarstedt (2015), arithmetic means.

Flag HTMT > .85 (strict; Kline) or > .90 (liberal; Gold et al.).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import DataCheckError, prepare_items

__all__ = ["HTMT_THRESHOLD", "cross_loadings", "fornell_larcker", "htmt", "htmt_flags"]

HTMT_THRESHOLD = 0.85


def _mean(values: np.ndarray, method: str) -> float:
    v = np.abs(values)
    if method == "geometric":
        if np.any(v <= 0):
            return 0.0
        return float(np.exp(np.mean(np.log(v))))
    if method == "arithmetic":
        return float(np.mean(v))
    raise ValueError(f"unknown HTMT method {method!r} (use 'geometric' or 'arithmetic')")


@single_blas_thread
def htmt(
    data: pd.DataFrame, structure: Mapping[str, Sequence[str]], *, method: str = "geometric"
) -> pd.DataFrame:
    """Heterotrait-monotrait ratio matrix (diagonal 1)."""
    if method not in ("geometric", "arithmetic"):
        raise ValueError(f"unknown HTMT method {method!r} (use 'geometric' or 'arithmetic')")
    structure = {str(k): [str(i) for i in v] for k, v in structure.items()}
    items = [i for v in structure.values() for i in v]
    frame = prepare_items(data, items, min_n=3, need_pd=False, what="HTMT").frame
    r = frame.corr().to_numpy()
    pos = {it: k for k, it in enumerate(items)}
    names = list(structure)
    mono = {}
    for f, its in structure.items():
        if len(its) < 2:
            raise DataCheckError(f"HTMT needs at least 2 items per dimension ({f!r} has {len(its)})")
        idx = [pos[i] for i in its]
        block = r[np.ix_(idx, idx)]
        mono[f] = _mean(block[np.triu_indices(len(idx), 1)], method)
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            ia = [pos[i] for i in structure[names[a]]]
            ib = [pos[i] for i in structure[names[b]]]
            hetero = _mean(r[np.ix_(ia, ib)].ravel(), method)
            denom = np.sqrt(mono[names[a]] * mono[names[b]])
            value = hetero / denom if denom > 0 else np.nan
            out.iat[a, b] = out.iat[b, a] = value
    return out


def htmt_flags(matrix: pd.DataFrame, threshold: float = HTMT_THRESHOLD) -> pd.DataFrame:
    """Pairs of dimensions whose HTMT exceeds ``threshold`` (long format)."""
    names = list(matrix.index)
    rows = [
        (names[a], names[b], float(matrix.iat[a, b]))
        for a in range(len(names))
        for b in range(a + 1, len(names))
        if matrix.iat[a, b] > threshold
    ]
    return pd.DataFrame(rows, columns=["dimension_a", "dimension_b", "htmt"])


def fornell_larcker(cfa, *, ave: pd.Series | Mapping[str, float] | None = None) -> pd.DataFrame:
    """Fornell-Larcker table: sqrt(AVE) on the diagonal, latent correlations off it.

    ``ave`` defaults to the Fornell-Larcker definition (mean squared standardised loading); pass the
    semTools AVE (as :func:`dancerec.indices.reliability.reliability` does) to use that one.
    """
    corr = cfa.factor_correlations.copy()
    if ave is None:
        ave = {f: float(np.mean(v.to_numpy() ** 2)) for f, v in cfa.std_loadings().items()}
    ave = pd.Series(ave)
    for f in corr.index:
        corr.loc[f, f] = float(np.sqrt(ave[f]))
    return corr


def fornell_larcker_passes(table: pd.DataFrame) -> pd.Series:
    """True per dimension when sqrt(AVE) exceeds its absolute correlation with every other factor."""
    m = table.to_numpy()
    diag = np.diag(m)
    off = np.abs(m - np.diag(diag))
    return pd.Series(diag > off.max(axis=1), index=table.index)


@single_blas_thread
def cross_loadings(data: pd.DataFrame, structure: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Correlation of every item with every dimension's mean score (own dimension: the corrected
    score without the item). ``flag`` marks items that correlate more with another dimension."""
    structure = {str(k): [str(i) for i in v] for k, v in structure.items()}
    items = [i for v in structure.values() for i in v]
    frame = prepare_items(data, items, min_n=3, need_pd=False, what="cross-loadings").frame
    scores = {f: frame[its].mean(axis=1) for f, its in structure.items()}
    rows = []
    for f, its in structure.items():
        for it in its:
            row = {"item": it, "dimension": f}
            for g, g_items in structure.items():
                if g == f:
                    rest = [i for i in g_items if i != it]
                    score = frame[rest].mean(axis=1) if rest else scores[g]
                else:
                    score = scores[g]
                row[g] = float(np.corrcoef(frame[it], score)[0, 1])
            own = row[f]
            others = [row[g] for g in structure if g != f]
            row["flag"] = bool(others) and max(others) >= own
            rows.append(row)
    return pd.DataFrame(rows)
