"""Factorability of the item correlation matrix: Kaiser-Meyer-Olkin measure and Bartlett's test.

Both come from factor_analyzer (``calculate_kmo``, ``calculate_bartlett_sphericity``) on complete cases.
KMO labels follow Kaiser (1974): >= .90 marvelous, .80 meritorious, .70 middling, .60 mediocre,
.50 miserable, below .50 unacceptable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from dancerec.indices import _compat
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import prepare_items

__all__ = ["Factorability", "factorability", "kmo_label"]

_compat.apply()


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


@single_blas_thread
def factorability(data: pd.DataFrame, items: Sequence[str] | None = None) -> Factorability:
    """KMO (overall and per item) and Bartlett's test of sphericity."""
    from factor_analyzer.factor_analyzer import calculate_bartlett_sphericity, calculate_kmo

    cols = list(items) if items is not None else list(data.columns)
    frame = prepare_items(data, cols, min_n=max(len(cols) + 1, 5), what="factorability tests").frame
    kmo_items, kmo = calculate_kmo(frame)
    chi2, p = calculate_bartlett_sphericity(frame)
    k = len(cols)
    return Factorability(
        n=len(frame),
        kmo=float(kmo),
        kmo_label=kmo_label(float(kmo)),
        kmo_items=pd.Series(kmo_items, index=cols, name="kmo"),
        bartlett_chi2=float(chi2),
        bartlett_df=k * (k - 1) // 2,
        bartlett_p=float(p),
    )
