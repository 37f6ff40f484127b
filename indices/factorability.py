"""Factorability of the item correlation matrix: Kaiser-Meyer-Olkin measure and Bartlett's test.

Definitions as psych 2.2.9 (``KMO``, ``cortest.bartlett`` given raw data):

- correlations: Pearson, pairwise-complete by default (``cor(x, use = "pairwise")``), so every
  respondent counts for the pairs of items they answered; ``missing="listwise"`` uses complete cases;
- KMO = sum r_ij^2 / (sum r_ij^2 + sum q_ij^2) over i != j, with q the partial (anti-image)
  correlations from R^-1; per item the same sums over column j (``MSAi``);
- Bartlett: chi2 = -(N - 1 - (2p + 5) / 6) ln|R| on p(p - 1) / 2 df, where N is the number of
  respondents with at least one answer (pairwise; psych uses all rows) or the complete cases.

Written here (a few lines of linear algebra) rather than taken from factor_analyzer, which only
works on complete cases and would load scikit-learn for every ``indices`` command.
KMO labels follow Kaiser (1974): >= .90 marvelous, .80 meritorious, .70 middling, .60 mediocre,
.50 miserable, below .50 unacceptable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import DataCheckError, prepare_items
from dancerec.indices.parallel import pairwise_correlation

from dancerec.errors import UserError

__all__ = ["Factorability", "bartlett_sphericity", "factorability", "kmo", "kmo_label"]

MISSING = ("pairwise", "listwise")


def kmo_label(value: float) -> str:
    """Kaiser's (1974) verbal label for a KMO value."""
    for cut, label in (
        (0.9, "marvelous"),
        (0.8, "meritorious"),
        (0.7, "middling"),
        (0.6, "mediocre"),
        (0.5, "miserable"),
    ):
        if value >= cut:
            return label
    return "unacceptable"


@dataclass(frozen=True)
class Factorability:
    n: int
    kmo: float
    kmo_label: str
    kmo_items: pd.Series
    bartlett_chi2: float
    bartlett_df: int
    bartlett_p: float
    n_total: int = 0
    missing: str = "pairwise"

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                ("KMO", self.kmo),
                ("Bartlett chi2", self.bartlett_chi2),
                ("Bartlett df", self.bartlett_df),
                ("Bartlett p", self.bartlett_p),
            ],
            columns=["statistic", "value"],
        )


def kmo(r: np.ndarray) -> tuple[float, np.ndarray]:
    """Overall and per-item KMO of the correlation matrix ``r`` (psych::KMO)."""
    try:
        inv = np.linalg.inv(r)
    except np.linalg.LinAlgError as exc:
        raise DataCheckError("KMO: the correlation matrix is singular (linearly dependent items)") from exc
    d = np.sqrt(np.diag(inv))
    q = inv / np.outer(d, d)
    r0 = r.copy()
    np.fill_diagonal(q, 0.0)
    np.fill_diagonal(r0, 0.0)
    r2, q2 = r0**2, q**2
    overall = r2.sum() / (r2.sum() + q2.sum())
    items = r2.sum(axis=0) / (r2.sum(axis=0) + q2.sum(axis=0))
    return float(overall), items


def bartlett_sphericity(r: np.ndarray, n: int) -> tuple[float, int, float]:
    """Bartlett's test that ``r`` is an identity matrix (psych::cortest.bartlett): chi2, df, p."""
    from scipy import stats

    p = r.shape[0]
    sign, logdet = np.linalg.slogdet(r)
    if sign <= 0:
        raise DataCheckError("Bartlett's test: the correlation matrix is not positive definite")
    chi2 = -logdet * (n - 1 - (2 * p + 5) / 6)
    df = p * (p - 1) // 2
    return float(chi2), df, float(stats.chi2.sf(chi2, df))


@single_blas_thread
def factorability(
    data: pd.DataFrame, items: Sequence[str] | None = None, *, missing: str = "pairwise"
) -> Factorability:
    """KMO (overall and per item) and Bartlett's test of sphericity (psych's definitions)."""
    if missing not in MISSING:
        raise UserError(f"unknown missing-data handling {missing!r} (use pairwise or listwise)")
    cols = list(items) if items is not None else list(data.columns)
    n_total = len(data)
    if missing == "pairwise":
        r, n = pairwise_correlation(data, cols, what="factorability tests")
    else:
        frame = prepare_items(data, cols, min_n=max(len(cols) + 1, 5), what="factorability tests").frame
        r, n = np.corrcoef(frame.to_numpy(float), rowvar=False), len(frame)
    overall, per_item = kmo(r)
    chi2, df, p = bartlett_sphericity(r, n)
    return Factorability(
        n=n,
        kmo=overall,
        kmo_label=kmo_label(overall),
        kmo_items=pd.Series(per_item, index=cols, name="kmo"),
        bartlett_chi2=chi2,
        bartlett_df=df,
        bartlett_p=p,
        n_total=n_total,
        missing=missing,
    )
