"""Mardia's (1970) tests of multivariate skewness and kurtosis, matching ``psych::mardia`` (psych 2.2.9).

Definitions (x centred, S the covariance with divisor N - 1, D = X S^-1 X', N complete cases, p items):
b1p = sum(D^3) / N^2, b2p = tr(D^2) / N = sum_i D_ii^2 / N;
skew = N b1p / 6 ~ chi2 with p(p+1)(p+2)/6 df; the small-sample version multiplies by
k = (p+1)(N+1)(N+3) / (N((N+1)(p+1) - 6)); kurtosis z = (b2p - p(p+2)) sqrt(N / (8 p (p+2))), two-sided
normal p. Incomplete rows are dropped (as psych's ``na.rm = TRUE``); N used is reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from dancerec.indices._dist import chi2_sf, norm_sf
from dancerec.indices._threads import single_blas_thread

from dancerec.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["mardia", "mardia_tests"]


def _d_sums(xc: np.ndarray, s_inv: np.ndarray, block: int = 2048) -> tuple[float, float]:
    """sum(D^3) and sum(diag(D)^2) for D = Xc S^-1 Xc', without holding the N x N matrix D.

    With S^-1 = L L' and Z = Xc L, D = Z Z', and sum_ij D_ij^3 = sum_abc T_abc^2 for the third-moment
    tensor T_abc = sum_i z_ia z_ib z_ic: O(N p^3) instead of O(N^2 p) work (60x faster for bfi's
    2,436 x 25); used when p^2 < N, else row blocks of D.
    """
    n, p = xc.shape
    try:
        chol = np.linalg.cholesky(s_inv) if p * p < n else None
    except np.linalg.LinAlgError:  # numerically not positive definite: the direct route below
        chol = None
    if chol is None:
        right = s_inv @ xc.T
        cube, diag2 = 0.0, 0.0
        for start in range(0, n, block):
            d = xc[start : start + block] @ right
            cube += float(np.sum(d * d * d))
            rows = np.arange(d.shape[0])
            diag2 += float(np.sum(d[rows, start + rows] ** 2))
        return cube, diag2
    z = xc @ chol
    tensor = np.zeros((p * p, p))
    for start in range(0, n, block):
        zb = z[start : start + block]
        tensor += (zb[:, :, None] * zb[:, None, :]).reshape(len(zb), p * p).T @ zb
    diag = np.einsum("ij,ij->i", z, z)
    return float(np.sum(tensor * tensor)), float(np.sum(diag * diag))


@single_blas_thread
def mardia_tests(x: np.ndarray, n_total: int | None = None) -> list[tuple[str, float, float, float, float]]:
    """Mardia's tests on the complete rows ``x`` (N x p, numpy only): rows of (test, coefficient,
    statistic, df, p) for ``skewness``, ``skewness (small sample)`` and ``kurtosis``; p unadjusted.

    ``n_total`` (rows before incomplete ones were dropped) only words the error message.
    """
    x = np.asarray(x, dtype=float)
    n, p = x.shape
    if n <= p + 1:
        raise UserError(
            f"Mardia's test needs more complete cases than items: {n} complete of {n_total or n}, {p} items"
        )
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / (n - 1)
    try:
        s_inv = np.linalg.inv(s)
    except np.linalg.LinAlgError:
        raise UserError(
            "Mardia's test: the item covariance matrix is singular (linearly dependent items)"
        ) from None
    cube, diag2 = _d_sums(xc, s_inv)
    b1p = cube / n**2
    b2p = diag2 / n
    df = p * (p + 1) * (p + 2) / 6
    k = (p + 1) * (n + 1) * (n + 3) / (n * ((n + 1) * (p + 1) - 6))
    skew = n * b1p / 6
    small = skew * k
    kurt = (b2p - p * (p + 2)) * np.sqrt(n / (8 * p * (p + 2)))
    return [
        ("skewness", b1p, skew, df, chi2_sf(skew, df)),
        ("skewness (small sample)", b1p, small, df, chi2_sf(small, df)),
        ("kurtosis", b2p, kurt, np.nan, float(2 * norm_sf(abs(kurt)))),
    ]


def mardia(data: pd.DataFrame) -> pd.DataFrame:
    """Mardia's skewness (large- and small-sample) and kurtosis tests as a tidy table.

    Rows: ``skewness``, ``skewness (small sample)``, ``kurtosis``; columns ``coefficient`` (b1p or b2p),
    ``statistic`` (chi-square or z), ``df`` (NaN for the z test), ``p``, ``n`` (complete cases used) and
    ``n_total``. The p-values are unadjusted.
    """
    import pandas as pd

    frame = data.apply(pd.to_numeric, errors="coerce")
    x = frame.dropna().to_numpy(dtype=float)
    rows = mardia_tests(x, len(frame))
    out = pd.DataFrame(rows, columns=["test", "coefficient", "statistic", "df", "p"])
    out["n"] = x.shape[0]
    out["n_total"] = len(frame)
    return out
