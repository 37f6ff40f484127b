"""Pre-registered (confirmatory) hypotheses: ``METRIC:DIMENSION`` pairs tested as their own family.

Each primary hypothesis is the within-group rank correlation of the per-user metric with the dimension
score (the test of :mod:`~dancerec.indices.linkage.correlations`); only these pairs form the family, so
a pre-registered test pays for the other pre-registered tests only. Everything else is exploratory.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from dancerec.indices.linkage.correlations import user_correlations
from dancerec.indices.linkage.multiplicity import DEFAULT_ALPHA, add_adjusted

from dancerec.errors import UserError

FAMILY = "primary (pre-registered) hypotheses"


def parse_primary(specs: Sequence[str], k: int) -> list[tuple[str, str]]:
    """``["recall:usefulness", "serendipity@10:content"]`` → ``[("recall@10", "usefulness"), ...]``."""
    pairs: list[tuple[str, str]] = []
    for spec in specs:
        metric, sep, dim = str(spec).partition(":")
        metric, dim = metric.strip(), dim.strip()
        if not sep or not metric or not dim:
            raise UserError(f"--primary {spec!r}: expected METRIC:DIMENSION, e.g. recall@10:usefulness")
        metric = metric if "@" in metric else f"{metric}@{k}"
        if (metric, dim) not in pairs:
            pairs.append((metric, dim))
    return pairs


def primary_tests(
    joined: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    *,
    adjust: str = "holm",
    alpha: float = DEFAULT_ALPHA,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The pre-registered correlations, adjusted among themselves. A pair whose metric or dimension is
    not in the linked data is an error (a pre-registered test cannot silently vanish)."""
    absent = [f"{m}:{d}" for m, d in pairs if m not in joined.columns or d not in joined.columns]
    if absent and len(joined):
        known = ", ".join(c for c in joined.columns if "@" in c)
        raise UserError(f"--primary {', '.join(absent)}: no such metric or dimension (metrics: {known})")
    parts = [
        user_correlations(joined, [m], [d], n_boot=n_boot, seed=seed, adjust="none").drop(
            columns=["p_adj", "family", "adjust", "significant"]
        )
        for m, d in pairs
        if m in joined.columns and d in joined.columns
    ]
    frame = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["metric", "dimension", "p"])
    )
    return add_adjusted(frame, FAMILY, adjust=adjust, alpha=alpha).assign(role="confirmatory")
