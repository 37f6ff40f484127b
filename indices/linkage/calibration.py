"""Monte-Carlo calibration of the whole linkage: false-positive rates under null links, power under the
planted one. Used by ``benchmarks/linkage_calibration.py``, its small test, and the study planner.

Each simulated study (:mod:`.simulate`) is analysed by :func:`~.study.run_linkage` exactly as
``dancerec link`` runs it (bootstrap CIs skipped: they do not change any p). For every family the study
records whether *any* test had adjusted p < α (a family-wise false positive under a null) and, for
comparison, whether any had raw p < α; for the planted pairs it records whether each was detected.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from dancerec.indices.linkage.multiplicity import DEFAULT_ALPHA, adjust_p
from dancerec.indices.linkage.simulate import simulate_linked_study
from dancerec.indices.linkage.study import LinkageResult, run_linkage
from scipy import stats

#: the demo's planted pairs (dimension, metric); "content" holds the instrument's surprise items
PLANTED: tuple[tuple[str, str], ...] = (("usefulness", "recall@10"), ("content", "serendipity@10"))
#: scenario → the families whose null hypothesis is true in it
USER_FAMILIES = (
    "user_correlations",
    "regression:recall@10",
    "regression:novelty@10",
    "regression:serendipity@10",
    "sem_paths",
)
NULL_FAMILIES: dict[str, tuple[str, ...]] = {
    "off": USER_FAMILIES,
    "shuffled": USER_FAMILIES,
    "flat": ("group_tests", "group_correlations", *USER_FAMILIES),
}


def _family_frames(result: LinkageResult) -> dict[str, pd.DataFrame]:
    frames = {
        "group_tests": result.group.tests,
        "group_correlations": result.group.correlations,
        "user_correlations": result.correlations,
    }
    for term, part in result.regressions.groupby("term", sort=False):
        frames[f"regression:{term}"] = part
    if result.sem is not None:
        frames["sem_paths"] = result.sem.paths
    return frames


def _pooled_spearman_any(result: LinkageResult, alpha: float) -> bool:
    """What the pre-within-group analysis did: pooled Spearman over everyone, Holm over all pairs."""
    joined = result.joined
    ps = [
        stats.spearmanr(pair[m], pair[d]).pvalue
        for m in result.metrics
        for d in result.dimensions
        if len(pair := joined[[m, d]].dropna()) >= 4 and pair[m].nunique() > 1 and pair[d].nunique() > 1
    ]
    return bool((adjust_p(np.asarray(ps), "holm") < alpha).any()) if ps else False


def _detected(frame: pd.DataFrame, dim: str, metric: str, col: str) -> bool:
    hit = frame[(frame["dimension"] == dim) & (frame[col] == metric)]
    return bool(len(hit) and hit["significant"].iloc[0])


def study_outcome(
    scenario: str,
    seed: int,
    *,
    sem: bool = True,
    adjust: str = "holm",
    alpha: float = DEFAULT_ALPHA,
    **design: Any,
) -> dict[str, Any]:
    """Simulate one study, run the linkage, and record per family: any adjusted / any raw p < α, and
    whether each planted pair was detected (significant after adjustment) by each analysis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = simulate_linked_study(scenario=scenario, seed=seed, **design)
        result = run_linkage(inputs, n_boot=0, sem=sem, adjust=adjust, alpha=alpha, seed=seed)
    row: dict[str, Any] = {"scenario": scenario, "seed": seed}
    for name, frame in _family_frames(result).items():
        ok = frame["p"].notna()
        row[f"{name}:adj"] = bool((frame.loc[ok, "p_adj"] < alpha).any())
        row[f"{name}:raw"] = bool((frame.loc[ok, "p"] < alpha).any())
    row["pooled_correlations:adj"] = _pooled_spearman_any(result, alpha)
    for dim, metric in PLANTED:
        row[f"detect:corr:{dim}~{metric}"] = _detected(result.correlations, dim, metric, "metric")
        row[f"detect:reg:{dim}~{metric}"] = _detected(result.regressions, dim, metric, "term")
        if result.sem is not None:
            row[f"detect:sem:{dim}~{metric}"] = _detected(result.sem.paths, dim, metric, "metric")
    row["sem_n"] = result.sem.n if result.sem is not None else 0
    return row


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=1 - level, method="wilson")
    return float(lo), float(hi)


def summarise(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rates with 95% Wilson CIs: family-wise false-positive rates under each null scenario (only for
    families whose null holds there), 'any user-level family', and detection rates under 'planted'."""
    frame = pd.DataFrame(list(rows))
    out = []
    for scenario, part in frame.groupby("scenario", sort=False):
        if scenario in NULL_FAMILIES:
            fams = [f for f in NULL_FAMILIES[scenario] if f"{f}:adj" in part]
            cols = [(f, f"{f}:adj", "adjusted") for f in fams] + [(f, f"{f}:raw", "unadjusted") for f in fams]
            user = [
                f"{f}:adj" for f in ("user_correlations", "regressions", "sem_paths") if f"{f}:adj" in part
            ]
            part = part.assign(**{"any user-level family:adj": part[user].any(axis=1)})
            cols.append(("any user-level family", "any user-level family:adj", "adjusted"))
            if "pooled_correlations:adj" in part:
                cols.append(
                    ("pooled correlations (not within groups)", "pooled_correlations:adj", "adjusted")
                )
            measure = "family-wise false-positive rate"
        else:
            cols = [
                (c.removeprefix("detect:"), c, "adjusted") for c in part.columns if c.startswith("detect:")
            ]
            measure = "power (detected after adjustment)"
        for label, col, kind in cols:
            k, n = int(part[col].fillna(False).astype(bool).sum()), int(part[col].notna().sum())
            lo, hi = wilson(k, n)
            out.append(
                {
                    "scenario": scenario,
                    "measure": measure,
                    "family": label,
                    "p": kind,
                    "rate": k / n,
                    "ci_low": lo,
                    "ci_high": hi,
                    "k": k,
                    "n_studies": n,
                }
            )
    return pd.DataFrame(out)


def run_calibration(
    plan: Sequence[tuple[str, int]],
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """:func:`study_outcome` for every (scenario, seed) of ``plan``, in a process pool when
    ``workers`` > 1 (each study seeded by its own seed, so results do not depend on the pool)."""
    rows: list[dict[str, Any]] = []
    if workers <= 1:
        for i, (scenario, seed) in enumerate(plan):
            rows.append(study_outcome(scenario, seed, **options))
            if progress:
                progress(i + 1, len(plan))
        return rows
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(study_outcome, sc, sd, **options) for sc, sd in plan]
        for i, fut in enumerate(as_completed(futures)):
            rows.append(fut.result())
            if progress:
                progress(i + 1, len(plan))
    return sorted(rows, key=lambda r: (r["scenario"], r["seed"]))
