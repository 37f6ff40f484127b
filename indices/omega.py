"""Omega hierarchical: how much of the total score a general factor explains (psych::omega).

The definition follows ``psych::omega(x, nfactors)`` (psych 2.2.9) and its Schmid-Leiman
transformation:

1. R is the pairwise-complete correlation matrix of all respondents;
2. minres EFA with ``n_factors`` group factors, oblimin rotation: pattern P, factor correlations Phi;
3. the general factor: a one-factor minres solution of Phi gives the group factors' g loadings
   (with 2 group factors: both sqrt(|phi_12|), psych's ``option = "equal"``); the items' g loadings
   are P g;
4. items whose g loading is negative are reflected (psych's ``flip = TRUE``), in R and in g;
5. omega_h = (sum of g loadings)^2 / sum(R); omega_total = (sum(R) - sum u2) / sum(R), with
   u2 = 1 - the items' communalities in the EFA.

This is a different quantity from the per-dimension omega of :mod:`dancerec.indices.reliability`
(semTools' compRelSEM from the CFA): omega_h describes the whole instrument as one score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.parallel import pairwise_correlation

from dancerec.errors import UserError

__all__ = ["OmegaHierarchical", "omega_hierarchical"]


@dataclass(frozen=True)
class OmegaHierarchical:
    """omega_h and omega_total of the whole item set, with the Schmid-Leiman g loadings."""

    omega_h: float
    omega_total: float
    n_factors: int
    n: int
    g_loadings: pd.Series  # after reflection (items reflected are listed in ``reflected``)
    reflected: list[str]
    definition: str = (
        "omega hierarchical as psych::omega: Schmid-Leiman of a minres/oblimin EFA on pairwise correlations"
    )


def _one_factor_loadings(r: np.ndarray) -> np.ndarray:
    """Loadings of a one-factor minres solution (psych ``fa(r, 1)``), oriented to a positive sum."""
    from dancerec.indices.parallel import minres_one_factor

    vals, vecs = minres_one_factor(r)
    load = vecs[:, -1] * np.sqrt(max(vals[-1], 0.0))
    return load if load.sum() >= 0 else -load


@single_blas_thread
def omega_hierarchical(
    data: pd.DataFrame, items: Sequence[str] | None = None, *, n_factors: int = 3
) -> OmegaHierarchical:
    """omega_h and omega_total of ``items`` with ``n_factors`` group factors (psych::omega)."""
    from dancerec.indices._compat import factor_analyzer_class, rotator

    cols = list(items) if items is not None else list(data.columns)
    if n_factors < 2 or n_factors >= len(cols) - 1:
        raise UserError(f"omega hierarchical needs 2 to {len(cols) - 2} group factors (got {n_factors})")
    r, n = pairwise_correlation(data, cols, what="omega hierarchical")
    fa = factor_analyzer_class()(n_factors=n_factors, rotation=None, method="minres", is_corr_matrix=True)
    fa.fit(r)
    unrotated = np.asarray(fa.loadings_, dtype=float)
    rot = rotator("oblimin")
    pattern = np.asarray(rot.fit_transform(unrotated), dtype=float)
    phi = np.asarray(rot.phi_, dtype=float)
    if n_factors == 2:
        g_group = np.array([np.sqrt(abs(phi[0, 1])), np.sign(phi[0, 1]) * np.sqrt(abs(phi[0, 1]))])
    else:
        g_group = _one_factor_loadings(phi)
    g = pattern @ g_group
    key = np.where(g < 0, -1.0, 1.0)
    r_flipped = r * np.outer(key, key)
    g = g * key
    u2 = 1.0 - np.sum(unrotated**2, axis=1)
    vt = float(r_flipped.sum())
    return OmegaHierarchical(
        omega_h=float(g.sum() ** 2 / vt),
        omega_total=float((vt - u2.sum()) / vt),
        n_factors=n_factors,
        n=n,
        g_loadings=pd.Series(g, index=cols, name="g"),
        reflected=[c for c, k in zip(cols, key, strict=True) if k < 0],
    )
