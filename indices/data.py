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
    missing: str = "listwise"
    reason: str = ""  # why the dropped rows were dropped, for the "N used / N total" note

    @property
    def has_missing(self) -> bool:
        """True when the kept rows still contain missing cells (FIML)."""
        return bool(self.frame.isna().to_numpy().any())

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
    missing: str = "listwise",
    complete: Sequence[str] = (),
) -> ItemData:
    """Select ``columns`` as floats, keep complete cases (listwise deletion, lavaan's default) and
    refuse data that cannot support the analysis.

    ``min_n`` is the fewest complete respondents accepted; ``need_pd`` asks for a positive-definite
    covariance matrix (ML estimation and reliability from covariances need one).
    ``missing="fiml"`` keeps every row with at least one answer (and an answer in every ``complete``
    column, e.g. exogenous covariates); the positive-definiteness check is then left to the estimator.
    """
    if missing not in ("listwise", "fiml"):
        raise DataCheckError(f"{source}: unknown missing-data handling {missing!r} (use fiml or listwise)")
    cols = [str(c) for c in columns]
    absent = [c for c in cols if c not in data.columns]
    if absent:
        raise DataCheckError(f"{source}: column(s) not in the data: {', '.join(absent)}")
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DataCheckError(f"{source}: column(s) listed twice: {', '.join(dup)}")
    frame = _numeric(data[cols], source)
    n_total = len(frame)
    if missing == "fiml":
        return _prepare_fiml(frame, [str(c) for c in complete], min_n=min_n, source=source, what=what)
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
    n_dropped = n_total - len(complete)
    reason = f"{n_dropped} with at least one missing answer (listwise deletion)" if n_dropped else ""
    return ItemData(frame=complete, n_total=n_total, n_dropped=n_dropped, reason=reason)


def _prepare_fiml(
    frame: pd.DataFrame, complete: list[str], *, min_n: int, source: str, what: str
) -> ItemData:
    """Rows for FIML: drop only rows with no answer at all (and rows missing a ``complete`` column)."""
    n_total = len(frame)
    empty = frame.isna().all(axis=1)
    no_x = frame[complete].isna().any(axis=1) & ~empty if complete else pd.Series(False, index=frame.index)
    kept = frame[~(empty | no_x)]
    reasons = []
    if empty.any():
        reasons.append(f"{int(empty.sum())} with no answer at all")
    if no_x.any():
        reasons.append(f"{int(no_x.sum())} missing an exogenous covariate ({', '.join(complete)})")
    if len(kept) < min_n:
        raise DataCheckError(
            f"{source}: too few respondents for the {what}: {len(kept)} with at least one answer "
            f"of {n_total}, at least {min_n} needed"
        )
    counts = kept.notna().sum()
    few = [c for c in kept.columns if counts[c] < 2]
    if few:
        raise DataCheckError(f"{source}: item(s) {', '.join(few)} answered by fewer than 2 respondents")
    sd = kept.std(ddof=0)
    constant = [c for c in kept.columns if not np.isfinite(sd[c]) or sd[c] <= 1e-12]
    if constant:
        raise DataCheckError(
            f"{source}: constant item(s) {', '.join(constant)} (every respondent gave the same answer); "
            "drop them from the model"
        )
    return ItemData(
        frame=kept,
        n_total=n_total,
        n_dropped=n_total - len(kept),
        missing="fiml",
        reason="; ".join(reasons) + (" (FIML uses every other row)" if reasons else ""),
    )
