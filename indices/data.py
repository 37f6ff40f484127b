"""Checks and preparation of item data before any analysis: numeric columns, complete cases, no constant
items, enough respondents, a positive-definite covariance matrix.

Every problem a user can fix raises :class:`dancerec.errors.UserError` with the column(s) named, so the
CLI shows one line and exits 1 instead of a traceback from deep inside a library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dancerec.errors import UserError

__all__ = ["ItemData", "ml_covariance", "prepare_items"]


class DataCheckError(UserError):
    """The item data cannot support the requested analysis."""


@dataclass(frozen=True)
class ItemData:
    """Complete cases of the analysed columns, with what was dropped."""

    frame: pd.DataFrame
    n_total: int
    n_dropped: int

    @property
    def n(self) -> int:
        return len(self.frame)


def ml_covariance(x: np.ndarray) -> np.ndarray:
    """The ML covariance matrix (divisor N), as lavaan and semopy use it."""
    x = np.asarray(x, dtype=float)
    xc = x - x.mean(axis=0)
    return xc.T @ xc / x.shape[0]


def _numeric(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s):
            s = s.astype(float)
        if not pd.api.types.is_numeric_dtype(s):
            conv = pd.to_numeric(s, errors="coerce")
            bad = s.notna() & conv.isna()
            if bad.any():
                first = s.index[bad.to_numpy()][0]
                raise DataCheckError(
                    f"{source}: column {col!r} has a non-numeric value {s[first]!r} "
                    f"(respondent {first!r}); item scores must be numbers"
                )
            s = conv
        out[col] = s.astype(float)
    return pd.DataFrame(out, index=frame.index)


def prepare_items(
    data: pd.DataFrame,
    columns: Sequence[str],
    *,
    min_n: int = 3,
    need_pd: bool = True,
    source: str = "data",
    what: str = "analysis",
) -> ItemData:
    """Select ``columns`` as floats, keep complete cases (listwise deletion, lavaan's default) and
    refuse data that cannot support the analysis.

    ``min_n`` is the fewest complete respondents accepted; ``need_pd`` asks for a positive-definite
    covariance matrix (ML estimation and reliability from covariances need one).
    """
    cols = [str(c) for c in columns]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataCheckError(f"{source}: column(s) not in the data: {', '.join(missing)}")
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DataCheckError(f"{source}: column(s) listed twice: {', '.join(dup)}")
    frame = _numeric(data[cols], source)
    n_total = len(frame)
    complete = frame.dropna()
    if len(complete) < min_n:
        raise DataCheckError(
            f"{source}: too few respondents for the {what}: {len(complete)} complete case(s) "
            f"of {n_total}, at least {min_n} needed"
        )
    sd = complete.std(ddof=0)
    constant = [c for c in cols if not np.isfinite(sd[c]) or sd[c] <= 1e-12]
    if constant:
        raise DataCheckError(
            f"{source}: constant item(s) {', '.join(constant)} (every respondent gave the same answer); "
            "drop them from the model"
        )
    if need_pd and len(cols) > 1:
        if len(complete) <= len(cols):
            raise DataCheckError(
                f"{source}: {len(complete)} complete case(s) for {len(cols)} items: the covariance matrix "
                f"cannot be positive definite; more respondents than items are needed for the {what}"
            )
        corr = np.corrcoef(complete.to_numpy(), rowvar=False)
        eig = np.linalg.eigvalsh(corr)
        if eig[0] <= 1e-8:
            # name the most collinear pair to help the user find the culprit
            c = np.abs(corr - np.eye(len(cols)))
            i, j = np.unravel_index(np.argmax(c), c.shape)
            raise DataCheckError(
                f"{source}: the item covariance matrix is not positive definite (smallest eigenvalue of the "
                f"correlation matrix {eig[0]:.2e}); items are linearly dependent, e.g. {cols[i]!r} and "
                f"{cols[j]!r} correlate {corr[i, j]:.3f}"
            )
    return ItemData(frame=complete, n_total=n_total, n_dropped=n_total - len(complete))
