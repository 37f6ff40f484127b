"""Scoring: reverse keying, dimension scores (prorated means), the overall score, export.

Rules (all on the instrument's own scale, e.g. 1..5):

- A reverse-keyed item is recoded ``scale_min + scale_max − x`` before scoring.
- A dimension score is the mean of the dimension's answered items when at least ``min_share``
  (default 2/3) of its items are answered, otherwise missing. The mean of the answered items equals
  the prorated sum divided by the number of items, so scores stay on the item scale.
- ``overall`` is the mean of the dimension scores, counting a negative-valence dimension (``risk``)
  as ``scale_min + scale_max − score`` so that a higher overall score always means a better
  experience; it needs the same share of dimensions scored. Attention checks are never scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from dancerec.survey.instrument import Instrument, load_instrument

from dancerec.errors import UserError

DEFAULT_MIN_SHARE = 2 / 3
EXPORT_SUFFIXES = (".csv", ".parquet", ".xlsx")


def recode_reverse(responses: pd.DataFrame, instrument: Instrument | str) -> pd.DataFrame:
    """A copy of ``responses`` with every reverse-keyed item column recoded as min + max − x."""
    inst = load_instrument(instrument)
    out = responses.copy()
    for item_id in inst.reverse_items:
        if item_id in out.columns:
            out[item_id] = inst.scale_min + inst.scale_max - pd.to_numeric(out[item_id], errors="coerce")
    return out


def _check_share(min_share: float) -> None:
    if not 0 < min_share <= 1:
        raise UserError(f"min_share must be in (0, 1], got {min_share}")


def _prorated_mean(block: np.ndarray, n_items: int, min_share: float) -> np.ndarray:
    answered = np.sum(~np.isnan(block), axis=1)
    with np.errstate(invalid="ignore"):
        total = np.nansum(block, axis=1)
        mean = np.where(answered > 0, total / np.maximum(answered, 1), np.nan)
    # a share compared with a tolerance, so 2 of 3 items passes a 2/3 threshold
    return np.where(answered / n_items >= min_share - 1e-9, mean, np.nan)


def score_dimensions(
    responses: pd.DataFrame,
    instrument: Instrument | str,
    *,
    min_share: float = DEFAULT_MIN_SHARE,
    recode: bool = True,
) -> pd.DataFrame:
    """Dimension scores and ``overall`` (index as ``responses``, one column per dimension).

    ``responses`` holds raw answers (as :func:`dancerec.survey.store.load_responses` returns them);
    other columns are ignored. Pass ``recode=False`` when reverse items are already recoded.
    """
    inst = load_instrument(instrument)
    _check_share(min_share)
    data = recode_reverse(responses, inst) if recode else responses
    scores = pd.DataFrame(index=responses.index)
    for dim, items in inst.dimension_items().items():
        block = np.column_stack(
            [
                pd.to_numeric(data[i], errors="coerce").to_numpy(dtype=float)
                if i in data.columns
                else np.full(len(data), np.nan)
                for i in items
            ]
        )
        scores[dim] = _prorated_mean(block, len(items), min_share)
    flipped = np.column_stack(
        [
            (inst.scale_min + inst.scale_max - scores[d].to_numpy())
            if inst.dimension(d).valence == "negative"
            else scores[d].to_numpy()
            for d in inst.dimensions
        ]
    )
    scores["overall"] = _prorated_mean(flipped, len(inst.dimensions), min_share)
    scores.index.name = responses.index.name
    return scores


def group_summary(scores: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Mean, SD and n of every score column per group (rows: group × dimension)."""
    frame = scores.copy()
    frame["group"] = groups.reindex(frame.index).astype("string").fillna("(none)")
    long = frame.melt(id_vars="group", var_name="dimension", value_name="score").dropna(subset=["score"])
    out = (
        long.groupby(["group", "dimension"], sort=False)["score"].agg(["mean", "std", "count"]).reset_index()
    )
    out = out.rename(columns={"std": "sd", "count": "n"})
    order = {d: k for k, d in enumerate(scores.columns)}
    return out.sort_values(["group", "dimension"], key=lambda s: s.map(order) if s.name == "dimension" else s)


def group_means_table(scores: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Wide table: one row per group, mean score per dimension, plus n."""
    frame = scores.copy()
    frame["group"] = groups.reindex(frame.index).astype("string").fillna("(none)")
    table = frame.groupby("group", sort=True).mean(numeric_only=True)
    table.insert(0, "n", frame.groupby("group", sort=True).size())
    return table.reset_index()


def export_table(frame: pd.DataFrame, path: str | Path, *, sheet_name: str = "scores") -> Path:
    """Write ``frame`` (index kept as a column) as CSV, Parquet or XLSX, chosen by the file extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise UserError(
            f"{path}: cannot tell the export format from {suffix or 'no extension'!r}; use .csv, .parquet or .xlsx"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.reset_index() if frame.index.name else frame
    if suffix == ".csv":
        out.to_csv(path, index=False, encoding="utf-8")
    elif suffix == ".parquet":
        out.to_parquet(path, index=False)
    else:
        plain = out.copy()
        for col in plain.columns:  # Excel has no time zones and no pandas NA
            if isinstance(plain[col].dtype, pd.DatetimeTZDtype):
                plain[col] = plain[col].dt.tz_localize(None)
        plain.to_excel(path, index=False, sheet_name=sheet_name)
    return path
