"""Comparing models across users: paired tests against a baseline with Holm correction, bootstrap CIs.

Each model's per-user metrics are aligned on ``user_id`` (only users evaluated by both count). For every
(model, metric) pair the paired t test (scipy ``ttest_rel``) and the Wilcoxon signed-rank test (scipy
``wilcoxon``, zero differences dropped — the classic Wilcoxon procedure) are run; Holm's step-down
correction (statsmodels ``multipletests``) is applied across all comparisons of one test family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from dancerec.recommender.evaluate import bootstrap_ci
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from dancerec.errors import UserError


def compare(
    per_user: Mapping[str, pd.DataFrame],
    baseline: str,
    metrics: Sequence[str],
    *,
    n_bootstrap: int = 1000,
    seed: int = 42,
) -> pd.DataFrame:
    """Paired comparison of every model in ``per_user`` with ``baseline`` on ``metrics`` (e.g. ``ndcg@10``).

    Returns one row per (model, metric): ``n_users``, ``mean``, ``ci_low``, ``ci_high`` (bootstrap of the
    model's mean), ``baseline_mean``, ``diff``, ``diff_ci_low``, ``diff_ci_high`` (bootstrap of the mean
    paired difference), ``t``, ``p_t``, ``p_t_holm``, ``w``, ``p_wilcoxon``, ``p_wilcoxon_holm``.
    The baseline's own rows carry its mean and CI with empty test columns.
    """
    if baseline not in per_user:
        raise UserError(f"baseline {baseline!r} is not among the compared models ({', '.join(per_user)})")
    base = per_user[baseline].set_index("user_id")
    rows = []
    for name, frame in per_user.items():
        frame = frame.set_index("user_id")
        for metric in metrics:
            if metric not in frame.columns or metric not in base.columns:
                raise UserError(f"metric {metric!r} is not in the per-user results of {name!r}")
            joined = pd.concat(
                [frame[metric].rename("m"), base[metric].rename("b")], axis=1, join="inner"
            ).dropna()
            m, b = joined["m"].to_numpy(float), joined["b"].to_numpy(float)
            lo, hi = bootstrap_ci(m, n_resamples=n_bootstrap, seed=seed)
            row = {
                "model": name,
                "metric": metric,
                "n_users": len(joined),
                "mean": float(m.mean()) if len(m) else np.nan,
                "ci_low": lo,
                "ci_high": hi,
                "baseline_mean": float(b.mean()) if len(b) else np.nan,
            }
            if name != baseline and len(joined) >= 2:
                d = m - b
                dlo, dhi = bootstrap_ci(d, n_resamples=n_bootstrap, seed=seed)
                row.update(diff=float(d.mean()), diff_ci_low=dlo, diff_ci_high=dhi)
                if np.all(d == 0):
                    row.update(t=0.0, p_t=1.0, w=0.0, p_wilcoxon=1.0)
                else:
                    t = sps.ttest_rel(m, b)
                    w = sps.wilcoxon(m, b, zero_method="wilcox")
                    row.update(
                        t=float(t.statistic),
                        p_t=float(t.pvalue),
                        w=float(w.statistic),
                        p_wilcoxon=float(w.pvalue),
                    )
            rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("diff", "diff_ci_low", "diff_ci_high", "t", "p_t", "w", "p_wilcoxon"):
        if col not in out.columns:
            out[col] = np.nan
    for col in ("p_t", "p_wilcoxon"):
        out[col + "_holm"] = holm(out[col].to_numpy(float))
    return out


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (NaN entries are left out of the family and stay NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out
