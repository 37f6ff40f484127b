"""Data-quality flags per respondent. Flagged respondents are kept; analyses exclude them on request.

Flags and default thresholds (see :class:`FlagThresholds`):

- ``longstring``: the longest run of identical consecutive answers over the scored items, in
  questionnaire order, is at least half the number of scored items (15 of 30).
- ``low_irv``: intra-individual response variability (SD of the respondent's raw answers, Dunn et al.
  2018) below 0.075 × (max − min), i.e. 0.3 on a 1–5 scale.
- ``speeder``: completion time below 1/3 of the sample's median completion time.
- ``attention``: an attention-check item answered other than instructed (or skipped).
- ``mahalanobis``: Mahalanobis distance of the answer vector, p < .001 against χ²(k answered items).
- ``missing``: more than 20 % of the scored items unanswered.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from dancerec.survey.instrument import Instrument
from scipy import special

from dancerec.errors import UserError

FLAGS = ("longstring", "low_irv", "speeder", "attention", "mahalanobis", "missing")


@dataclass(frozen=True)
class FlagThresholds:
    """Thresholds of the quality flags. ``irv_min`` None = 0.075 × scale width."""

    longstring_share: float = 0.5
    irv_min: float | None = None
    speeder_ratio: float = 1 / 3
    mahalanobis_p: float = 0.001
    max_missing_share: float = 0.2

    def __post_init__(self) -> None:
        for name in ("longstring_share", "speeder_ratio", "mahalanobis_p", "max_missing_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise UserError(f"flag threshold {name} must be in (0, 1], got {value}")
        if self.irv_min is not None and self.irv_min < 0:
            raise UserError(f"flag threshold irv_min must be ≥ 0, got {self.irv_min}")

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def resolve_flags(names: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Validated flag names from a list or a comma-separated string; ``all`` means every flag."""
    if names is None:
        return []
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out: list[str] = []
    for raw in names:
        for n in str(raw).split(","):
            n = n.strip()
            if not n:
                continue
            if n == "all":
                return list(FLAGS)
            if n not in FLAGS:
                raise UserError(f"unknown quality flag {n!r}; known flags: {', '.join(FLAGS)} (or 'all')")
            if n not in out:
                out.append(n)
    return out


def longest_run(values: np.ndarray) -> np.ndarray:
    """Longest run of equal consecutive non-missing values in each row (missing breaks a run)."""
    n, k = values.shape
    best = np.zeros(n, dtype=int)
    run = np.zeros(n, dtype=int)
    prev = np.full(n, np.nan)
    for j in range(k):
        col = values[:, j]
        same = (col == prev) & ~np.isnan(col)
        run = np.where(same, run + 1, np.where(np.isnan(col), 0, 1))
        best = np.maximum(best, run)
        prev = col
    return best


@dataclass(frozen=True)
class SampleStats:
    """What the sample-wide flags need from the whole sample, so that they can be computed for a
    block of respondents at a time: the median completion time, and the number of respondents, the
    item means and the pairwise-complete covariance matrix (NaN where fewer than 3 pairs) of the
    scored items."""

    median_duration: float
    n: int
    mean: np.ndarray
    cov: np.ndarray


def mahalanobis_pvalues(values: np.ndarray, sample: SampleStats | None = None) -> np.ndarray:
    """p-values of squared Mahalanobis distances, handling missing answers pattern by pattern.

    Mean and (pairwise) covariance come from the sample (``values`` itself, or ``sample`` when
    ``values`` is one block of it); each respondent is compared on the items they answered, against
    χ² with as many degrees of freedom. Hand-written because no maintained library computes it with
    missing data; the complete-data case equals scipy's ``mahalanobis``.
    """
    n = values.shape[0] if sample is None else sample.n
    p = np.full(values.shape[0], np.nan)
    keep = ~np.all(np.isnan(values), axis=0) if sample is None else ~np.isnan(sample.mean)
    x = values[:, keep]
    if x.shape[1] == 0 or n < 2 * x.shape[1] + 2:
        return p  # too few respondents for a stable covariance matrix
    if sample is None:
        mu = np.nanmean(x, axis=0)
        cov = pd.DataFrame(x).cov(min_periods=3).to_numpy()
    else:
        mu, cov = sample.mean[keep], sample.cov[np.ix_(keep, keep)]
    if np.isnan(cov).any():
        return p
    observed = ~np.isnan(x)
    # group respondents by missing-data pattern (rows packed to bytes, then one sort)
    packed = np.ascontiguousarray(np.packbits(observed, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    for rows in np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1):
        cols = np.flatnonzero(observed[rows[0]])
        if cols.size == 0:
            continue
        sub = cov[np.ix_(cols, cols)]
        try:
            inv = np.linalg.inv(sub)
        except np.linalg.LinAlgError:
            inv = np.linalg.pinv(sub)
        d = x[np.ix_(rows, cols)] - mu[cols]
        d2 = np.einsum("ij,jk,ik->i", d, inv, d)
        p[rows] = special.chdtrc(cols.size, np.maximum(d2, 0.0))  # χ² survival function
    return p


def _scored_matrix(responses: pd.DataFrame, scored: list[str]) -> np.ndarray:
    """Raw answers to the scored items as floats (NaN = unanswered or column absent), (n, k)."""
    if not len(responses):
        return np.empty((0, len(scored)))
    return np.column_stack(
        [
            pd.to_numeric(responses[c], errors="coerce").to_numpy(dtype=float)
            if c in responses.columns
            else np.full(len(responses), np.nan)
            for c in scored
        ]
    )


def _flag_rows(
    idx: pd.Index, flag: str, value: np.ndarray, flagged: np.ndarray, threshold: float
) -> pd.DataFrame:
    """One flag's rows of the long table: each respondent's value and whether it crosses the threshold."""
    return pd.DataFrame(
        {
            "respondent_id": idx.astype(str),
            "flag": flag,
            "flagged": np.asarray(flagged, dtype=bool),
            "value": np.asarray(value, dtype=float),
            "threshold": float(threshold),
        }
    )


def _irv(raw: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Intra-individual response variability: SD (ddof 1) of each respondent's answers; NaN below 2."""
    irv = np.full(len(raw), np.nan)
    enough = answered >= 2
    if enough.any():
        irv[enough] = np.nanstd(raw[enough], axis=1, ddof=1)
    return irv


def _duration_ratio(responses: pd.DataFrame, sample: SampleStats | None) -> np.ndarray:
    """Completion time over the (whole-sample) median completion time; NaN where unknown."""
    n = len(responses.index)
    dur = (
        pd.to_numeric(responses["duration_s"], errors="coerce").to_numpy(dtype=float)
        if "duration_s" in responses
        else np.full(n, np.nan)
    )
    if sample is not None:
        median = sample.median_duration
    else:
        median = np.nanmedian(dur) if np.any(~np.isnan(dur)) else np.nan
    return dur / median if median and np.isfinite(median) and median > 0 else np.full(n, np.nan)


def _attention_failures(responses: pd.DataFrame, instrument: Instrument) -> np.ndarray:
    """How many attention checks each respondent answered other than instructed (or skipped)."""
    failed = np.zeros(len(responses.index))
    for it in instrument.attention_items:
        if it.id not in responses.columns:
            continue
        col = pd.to_numeric(responses[it.id], errors="coerce").to_numpy(dtype=float)
        if np.all(np.isnan(col)):
            continue  # the check was not part of this survey's data
        failed += np.where(np.isnan(col) | (col != it.expected), 1.0, 0.0)
    return failed


def compute_flags(
    responses: pd.DataFrame,
    instrument: Instrument,
    thresholds: FlagThresholds | None = None,
    sample: SampleStats | None = None,
) -> pd.DataFrame:
    """Long table (respondent_id, flag, flagged, value, threshold): one row per respondent and flag.

    ``sample``: statistics of the whole sample when ``responses`` is only a block of it (the speeder
    and Mahalanobis flags compare each respondent with the whole sample)."""
    th = thresholds or FlagThresholds()
    idx = responses.index
    raw = _scored_matrix(responses, [it.id for it in instrument.scored_items])
    k = raw.shape[1]
    rows: list[pd.DataFrame] = []

    min_run = math.ceil(th.longstring_share * k)
    runs = longest_run(raw).astype(float)
    rows.append(_flag_rows(idx, "longstring", runs, runs >= min_run, min_run))

    irv_min = th.irv_min if th.irv_min is not None else 0.075 * (instrument.scale_max - instrument.scale_min)
    answered = np.sum(~np.isnan(raw), axis=1)
    irv = _irv(raw, answered)
    rows.append(_flag_rows(idx, "low_irv", irv, np.nan_to_num(irv, nan=np.inf) < irv_min, irv_min))

    ratio = _duration_ratio(responses, sample)
    speeders = np.nan_to_num(ratio, nan=np.inf) < th.speeder_ratio
    rows.append(_flag_rows(idx, "speeder", ratio, speeders, th.speeder_ratio))

    failed = _attention_failures(responses, instrument)
    rows.append(_flag_rows(idx, "attention", failed, failed > 0, 1))

    p = mahalanobis_pvalues(raw, sample) if len(idx) else np.empty(0)
    outliers = np.nan_to_num(p, nan=1.0) < th.mahalanobis_p
    rows.append(_flag_rows(idx, "mahalanobis", p, outliers, th.mahalanobis_p))

    share = 1 - answered / k if k else np.zeros(len(idx))
    rows.append(_flag_rows(idx, "missing", share, share > th.max_missing_share + 1e-12, th.max_missing_share))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def flags_wide(long: pd.DataFrame) -> pd.DataFrame:
    """Index respondent_id, one bool column per flag (in :data:`FLAGS` order)."""
    if long.empty:
        return pd.DataFrame({f: pd.Series(dtype=bool) for f in FLAGS}).rename_axis("respondent_id")
    wide = long.pivot(index="respondent_id", columns="flag", values="flagged")
    wide = wide.reindex(columns=list(FLAGS)).fillna(False).astype(bool)
    wide.columns.name = None
    return wide
