"""Item analysis: distribution of each item and how it behaves inside its dimension.

Skewness and kurtosis are the bias-corrected sample statistics G1 and G2 (excess kurtosis), as SPSS
and psych's ``describe(type = 2)`` report them. The corrected item-total correlation correlates an
item with the sum of the *other* items of its dimension; "alpha if deleted" is the raw alpha of the
dimension without the item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import DataCheckError, prepare_items
from dancerec.indices.reliability import _alpha_from_cov
from scipy import stats

__all__ = ["item_analysis"]


@single_blas_thread
def item_analysis(
    data: pd.DataFrame,
    structure: Mapping[str, Sequence[str]],
    *,
    scale_min: float | None = None,
    scale_max: float | None = None,
) -> pd.DataFrame:
    """One row per item: dimension, n, mean, sd, skewness, kurtosis, floor_pct, ceiling_pct,
    item_total_r (corrected), alpha_if_deleted.

    Each item's own statistics use all its answers; the within-dimension statistics use the complete
    cases of that dimension. ``scale_min``/``scale_max`` define floor and ceiling (default: the lowest
    and highest answer observed in the item's dimension).
    """
    structure = {str(k): [str(i) for i in v] for k, v in structure.items()}
    rows = []
    for dim, items in structure.items():
        prepared = prepare_items(data, items, min_n=3, need_pd=False, what="item analysis")
        block = prepared.frame
        x = block.to_numpy(float)
        lo = scale_min if scale_min is not None else float(np.nanmin(x))
        hi = scale_max if scale_max is not None else float(np.nanmax(x))
        total = x.sum(axis=1)
        for j, item in enumerate(items):
            col = pd.to_numeric(data[item], errors="coerce").dropna().to_numpy(float)
            if col.size < 3:
                raise DataCheckError(f"item {item!r} has fewer than 3 answers")
            row = {
                "item": item,
                "dimension": dim,
                "n": int(col.size),
                "mean": float(col.mean()),
                "sd": float(col.std(ddof=1)),
                "skewness": float(stats.skew(col, bias=False)),
                "kurtosis": float(stats.kurtosis(col, bias=False)),
                "floor_pct": float(100 * np.mean(col <= lo)),
                "ceiling_pct": float(100 * np.mean(col >= hi)),
                "item_total_r": float("nan"),
                "alpha_if_deleted": float("nan"),
            }
            if len(items) >= 2:
                rest = total - x[:, j]
                row["item_total_r"] = float(np.corrcoef(x[:, j], rest)[0, 1])
            if len(items) >= 3:
                others = np.delete(x, j, axis=1)
                row["alpha_if_deleted"] = float(_alpha_from_cov(np.cov(others, rowvar=False)))
            rows.append(row)
    return pd.DataFrame(rows)
