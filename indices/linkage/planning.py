"""Planning a linked user study before running it, and what a finished study could have detected.

:func:`plan_power` answers "with G groups of n respondents, an instrument of reliability R and a target
effect, how likely is each linkage test to find it?" by simulation: each simulated study is analysed by
the same functions ``dancerec link`` runs (within-group correlations of :mod:`.correlations`, the group
tests of :mod:`.group`, optionally the SEM) with the same multiplicity correction over the same family
sizes. Effects:

* ``rho`` — the within-group correlation of a per-user metric (``recall@10``) with the *latent*
  perceived dimension (``usefulness``); the observed score correlates ``rho * sqrt(R)`` with it;
* ``f`` — Cohen's f of the groups' latent means on that dimension (the group-level effect).

Per-user metrics come from :func:`.simulate.per_user_metrics` (recommender-like: recall ~ Beta, with
precision/NDCG/serendipity tied to it); with ``normal_metrics=True`` the focal metric is normal within
groups, which is what the closed-form checks assume. Answers are continuous items (``items`` per
dimension, equal loadings chosen so each dimension score has reliability R), not the Likert survey
simulator, so that R is exact. The optional SEM path (``sem=True``) is the exception: its studies are Likert answers
of the instrument from the survey simulator (:func:`.simulate.simulate_sem_design`), fitted with
:func:`.sem.metrics_sem` as ``link`` fits them.

:func:`design_sensitivity` gives, for a finished linkage, the smallest effects its design could detect at
80% power (closed forms: Fisher z for Spearman's rho with the Fieller–Hartley–Pearson variance 1.06 / (n - 3),
Bonferroni α / m as the first step of Holm; statsmodels ``FTestAnovaPower`` for the group test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dancerec.indices.linkage._common import DEFAULT_K, DEFAULT_PREDICTORS, metric_column
from dancerec.indices.linkage.calibration import wilson
from dancerec.indices.linkage.correlations import user_correlations
from dancerec.indices.linkage.group import group_tests
from dancerec.indices.linkage.multiplicity import DEFAULT_ALPHA
from dancerec.indices.linkage.sem import metrics_sem
from dancerec.indices.linkage.simulate import per_user_metrics, simulate_sem_design
from scipy import stats

from dancerec.errors import UserError

#: the correction named in running text
ADJUST_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no correction"}
FOCAL_METRIC, FOCAL_DIMENSION = "recall@10", "usefulness"
OTHER_DIMENSIONS = (
    "content",
    "functionality",
    "page_design",
    "ease_of_use",
    "confidence",
    "experience",
    "risk",
)
METRICS = ("precision@10", "recall@10", "ndcg@10", "novelty@10", "serendipity@10", "diversity@10")
SPEARMAN_VARIANCE = 1.06  # Fieller, Hartley & Pearson (1957): var(atanh r_s) ~ 1.06 / (n - 3)


def loading_for(reliability: float, n_items: int) -> float:
    """Standardised loading of ``n_items`` parallel items whose mean has reliability ``reliability``."""
    if not 0 < reliability < 1:
        raise ValueError("reliability must be in (0, 1)")
    return math.sqrt(reliability / (n_items * (1 - reliability) + reliability))


def simulate_design(
    *,
    n_groups: int,
    n_per_group: int,
    rho: float,
    f: float,
    reliability: float,
    items: int = 4,
    n_dimensions: int = 8,
    normal_metrics: bool = False,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One simulated study: (joined table as :func:`.join.join_users` returns it, scores with group)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([chr(ord("A") + g) for g in range(n_groups)], n_per_group)
    parts = [
        per_user_metrics(q, n_per_group, int(rng.integers(2**31)))
        for q in (np.linspace(0, 2, n_groups) if n_groups > 1 else [0.0])
    ]
    metrics = pd.concat(parts, ignore_index=True)[list(METRICS)]
    if normal_metrics:
        metrics[FOCAL_METRIC] = rng.standard_normal(len(metrics))
    focal = metrics[FOCAL_METRIC]
    centred = focal - focal.groupby(groups).transform("mean")
    z = (centred / centred.groupby(groups).transform("std", ddof=0)).to_numpy()
    means = np.linspace(-1, 1, n_groups) if n_groups > 1 else np.zeros(1)
    means = means / means.std() * f if n_groups > 1 and means.std() > 0 else means
    latent = {
        FOCAL_DIMENSION: np.repeat(means, n_per_group)
        + rho * z
        + math.sqrt(1 - rho**2) * rng.standard_normal(len(z))
    }
    for dim in OTHER_DIMENSIONS[: n_dimensions - 1]:
        latent[dim] = rng.standard_normal(len(z))
    lam = loading_for(reliability, items)
    scores = pd.DataFrame(
        {
            dim: (lam * eta[:, None] + math.sqrt(1 - lam**2) * rng.standard_normal((len(z), items))).mean(
                axis=1
            )
            for dim, eta in latent.items()
        }
    )
    scores["group"] = groups
    joined = pd.concat([metrics, scores], axis=1)
    return joined, scores


@dataclass
class PowerResult:
    """Simulated power per design cell: ``table`` (analysis, n_per_group, rho, f, power, Wilson CI)."""

    table: pd.DataFrame
    settings: dict[str, Any]

    def minimum_detectable(self, target: float = 0.8) -> pd.DataFrame:
        """Per analysis and n: the smallest simulated effect reaching ``target`` power (NaN if none)."""
        rows = []
        for (analysis, n), part in self.table.groupby(["analysis", "n_per_group"], sort=False):
            col = "f" if analysis.startswith("group") else "rho"
            ok = part[part["power"] >= target].sort_values(col)
            rows.append(
                {
                    "analysis": analysis,
                    "n_per_group": n,
                    "effect": col,
                    "minimum_detectable": float(ok[col].iloc[0]) if len(ok) else math.nan,
                }
            )
        return pd.DataFrame(rows)

    def n_needed(self, target: float = 0.8) -> pd.DataFrame:
        """Per analysis and effect: the smallest simulated n per group reaching ``target`` power."""
        rows = []
        for (analysis, rho, f), part in self.table.groupby(["analysis", "rho", "f"], sort=False):
            ok = part[part["power"] >= target].sort_values("n_per_group")
            rows.append(
                {
                    "analysis": analysis,
                    "rho": rho,
                    "f": f,
                    "n_per_group": int(ok["n_per_group"].iloc[0]) if len(ok) else math.nan,
                }
            )
        return pd.DataFrame(rows)

    def figure(self, path: Any) -> Any:
        """Power against n per group, one line per effect size (user-level, and the group test)."""
        return power_figure(self.table, path, self.settings)


def _cell(
    design: dict[str, Any], n_sims: int, seed: int, adjust: str, alpha: float, group: bool
) -> dict[str, int]:
    """Count detections in ``n_sims`` studies of one design cell (same analysis code as ``link``)."""
    hits = {"confirmatory": 0, "exploratory": 0, "group": 0}
    for s in range(n_sims):
        joined, scores = simulate_design(seed=seed + s, **design)
        dims = [c for c in scores.columns if c != "group"]
        cors = user_correlations(joined, list(METRICS), dims, n_boot=0, adjust=adjust, alpha=alpha)
        focal = cors[(cors["metric"] == FOCAL_METRIC) & (cors["dimension"] == FOCAL_DIMENSION)].iloc[0]
        hits["exploratory"] += bool(focal["significant"])
        hits["confirmatory"] += bool(focal["p"] < alpha)  # a family of one: adjusted p = p
        if group:
            tests = group_tests(scores, dims, adjust=adjust, alpha=alpha)
            hits["group"] += bool(tests.set_index("dimension").at[FOCAL_DIMENSION, "significant"])
    return hits


def _sem_cell(
    design: dict[str, Any], n_sims: int, seed: int, adjust: str, alpha: float
) -> tuple[int, int, int]:
    """(detections, failed fits, paths in the family) of the SEM path over ``n_sims`` Likert studies.

    Each study is analysed as ``link`` analyses it: :func:`~.sem.metrics_sem` with the default
    predictors (within-group z-scored, group dummies), the path family adjusted together; a detection
    is adjusted p < ``alpha`` for ``FOCAL_METRIC`` → ``FOCAL_DIMENSION``. A study whose SEM cannot be
    fitted (``link`` would report "the SEM was not fitted") counts as no detection.
    """
    predictors = [metric_column(p, DEFAULT_K) for p in DEFAULT_PREDICTORS]
    hits = failed = m = 0
    for s in range(n_sims):
        items, structure, metrics, group = simulate_sem_design(seed=seed + s, **design)
        try:
            fit = metrics_sem(
                items, structure, metrics[predictors], group=group, seed=seed + s, adjust=adjust
            )
        except UserError:
            failed += 1
            continue
        paths = fit.paths
        m = max(m, len(paths))
        focal = paths[(paths["metric"] == FOCAL_METRIC) & (paths["dimension"] == FOCAL_DIMENSION)]
        hits += bool(len(focal) and focal["p_adj"].iloc[0] < alpha)
    return hits, failed, m or len(predictors) * (len(OTHER_DIMENSIONS) + 1)


def _power_rows(
    analyses: list[tuple[str, str]],
    hits: dict[str, int],
    failed: dict[str, int],
    n: int,
    r: float,
    f: float,
    n_sims: int,
) -> list[dict[str, Any]]:
    """One row per analysis of a grid cell: power = detections / n_sims with its Wilson interval
    (``rho`` for the correlation and SEM rows, ``f`` for the group test)."""
    rows = []
    for label, key in analyses:
        lo, hi = wilson(hits[key], n_sims)
        rows.append(
            {
                "analysis": label,
                "n_per_group": n,
                "rho": r if key != "group" else math.nan,
                "f": f if key == "group" else math.nan,
                "power": hits[key] / n_sims,
                "ci_low": lo,
                "ci_high": hi,
                "n_sims": n_sims,
                "n_failed": failed[key],
            }
        )
    return rows


def plan_power(
    *,
    n_groups: int = 3,
    n_per_group: Sequence[int] = (50, 100, 200),
    rho: Sequence[float] = (0.1, 0.2, 0.3),
    f: float = 0.25,
    reliability: float = 0.8,
    items: int = 4,
    n_dimensions: int = 8,
    n_sims: int = 200,
    adjust: str = "holm",
    alpha: float = DEFAULT_ALPHA,
    normal_metrics: bool = False,
    sem: bool = False,
    instrument: str = "dance-music-30",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> PowerResult:
    """Simulated power of the within-group user-level correlation (as a pre-registered test, and as one
    of the exploratory metric x dimension family) and of the group test, over a grid of n and rho.

    ``sem=True`` adds the SEM path ``recall@10 → usefulness`` (off by default: each simulated study is
    then also drawn as Likert answers of ``instrument`` by the survey simulator and an SEM is fitted,
    about 0.25 s per study). Its row counts adjusted p < α over the SEM-path family (all predictor →
    dimension paths, ``adjust``); ``reliability`` and ``items`` do not apply to it (the instrument's own
    items and loadings do); ``n_failed`` counts studies whose SEM could not be fitted (too few
    respondents for the model), which count as misses."""
    rows, cells = [], [(n, r) for n in n_per_group for r in rho]
    base = {
        "n_groups": n_groups,
        "f": f,
        "reliability": reliability,
        "items": items,
        "n_dimensions": n_dimensions,
        "normal_metrics": normal_metrics,
    }
    m_user = len(METRICS) * n_dimensions
    for i, (n, r) in enumerate(cells):
        first_of_n = r == rho[0]  # the group test does not depend on rho: simulate it once per n
        hits = _cell({**base, "n_per_group": n, "rho": r}, n_sims, seed + 7919 * i, adjust, alpha, first_of_n)
        failed = dict.fromkeys(hits, 0)
        analyses = [
            ("user correlation, confirmatory (1 test)", "confirmatory"),
            (f"user correlation, exploratory ({m_user} tests, {adjust})", "exploratory"),
        ]
        if first_of_n:
            analyses.append((f"group test ({n_dimensions} dimensions, {adjust})", "group"))
        if sem:
            sem_design = {"n_groups": n_groups, "n_per_group": n, "rho": r, "f": f, "instrument": instrument}
            hits["sem"], failed["sem"], m_sem = _sem_cell(
                sem_design, n_sims, seed + 7919 * i + 1, adjust, alpha
            )
            analyses.append((f"SEM path ({m_sem} paths, {adjust})", "sem"))
        rows.extend(_power_rows(analyses, hits, failed, n, r, f, n_sims))
        if progress:
            progress(i + 1, len(cells))
    return PowerResult(
        pd.DataFrame(rows),
        {
            **base,
            "n_sims": n_sims,
            "adjust": adjust,
            "alpha": alpha,
            "seed": seed,
            "sem": sem,
            **({"instrument": instrument} if sem else {}),
        },
    )


def spearman_power(rho_obs: float, n: int, alpha: float, n_covariates: int = 0) -> float:
    """Closed-form power of a two-sided Spearman test (Fisher z, variance 1.06 / (n - 3 - covariates))
    for a bivariate-normal Pearson correlation ``rho_obs`` (Spearman's rho = 6/pi asin(rho/2))."""
    rs = 6 / math.pi * math.asin(rho_obs / 2)
    se = math.sqrt(SPEARMAN_VARIANCE / (n - 3 - n_covariates))
    zc = stats.norm.ppf(1 - alpha / 2)
    shift = math.atanh(rs) / se
    return float(stats.norm.sf(zc - shift) + stats.norm.cdf(-zc - shift))


def _min_rho(n: int, alpha: float, n_covariates: int, target: float) -> float:
    """Smallest true correlation whose closed-form Spearman power reaches ``target``."""
    from scipy.optimize import brentq

    if spearman_power(0.999, n, alpha, n_covariates) < target:
        return math.nan
    return float(brentq(lambda r: spearman_power(r, n, alpha, n_covariates) - target, 1e-6, 0.999))


def design_sensitivity(
    result: Any, *, target: float = 0.8, reliability: float | None = None
) -> tuple[pd.DataFrame, str]:
    """What a finished linkage could have detected at ``target`` power (closed forms, see module doc).

    Returns a table (analysis, tests in family, N, alpha per test, minimum detectable effect) and one
    sentence for the report. With ``reliability`` the observed-score correlation is also translated to
    the latent one (divided by sqrt(reliability)).
    """
    from statsmodels.stats.power import FTestAnovaPower

    alpha = float(getattr(result, "alpha", DEFAULT_ALPHA))
    n = int(result.missing.n_linked)
    g = max(int(result.group.n_groups), 1)
    m_user = int(result.correlations["p"].notna().sum()) if len(result.correlations) else 0
    n_dims = len(result.dimensions)
    rows = []
    for label, m in (
        ("user correlation, pre-registered", 1),
        ("user correlation, exploratory family", m_user),
    ):
        if m and n > g + 4:
            mde = _min_rho(n, alpha / m, g - 1, target)
            rows.append(
                {
                    "analysis": label,
                    "tests": m,
                    "n": n,
                    "alpha_per_test": alpha / m,
                    "effect": "rho (observed)",
                    "minimum_detectable": mde,
                }
            )
    n_resp = int(result.group.table["n"].sum()) if "n" in result.group.table else 0
    if g >= 2 and n_resp > g:
        f_min = FTestAnovaPower().solve_power(
            effect_size=None, nobs=n_resp, alpha=alpha / max(n_dims, 1), power=target, k_groups=g
        )
        rows.append(
            {
                "analysis": "group test, per dimension",
                "tests": n_dims,
                "n": n_resp,
                "alpha_per_test": alpha / max(n_dims, 1),
                "effect": "Cohen's f",
                "minimum_detectable": float(f_min),
            }
        )
    columns = ["analysis", "tests", "n", "alpha_per_test", "effect", "minimum_detectable"]
    table = pd.DataFrame(rows, columns=columns)
    if reliability and len(table):
        table["minimum_detectable_latent"] = np.where(
            table["effect"].str.startswith("rho"),
            table["minimum_detectable"] / math.sqrt(reliability),
            np.nan,
        )
    parts = [
        f"{r.analysis}: {r.effect} = {r.minimum_detectable:.2f}"
        for r in table.itertuples()
        if np.isfinite(r.minimum_detectable)
    ]
    sentence = (
        f"With {n} linked respondents in {g} groups, this study had {target:.0%} power (two-sided α = {alpha:g}, "
        f"Bonferroni step of {ADJUST_NAMES.get(result.adjust, result.adjust)}) to detect "
        + "; ".join(parts)
        + ". Smaller effects could have gone unseen."
        if parts
        else "The study is too small to state a detectable effect."
    )
    return table, sentence


def power_figure(table: pd.DataFrame, path: Any, settings: dict[str, Any]) -> Any:
    """Power against n per group (one line per effect size); saved as PNG or SVG by the suffix."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (analysis, rho), part in table.groupby(["analysis", "rho"], dropna=False, sort=False):
        label = (
            f"{analysis}, ρ = {rho:g}"
            if np.isfinite(rho)
            else f"{analysis}, f = {settings.get('f', float('nan')):g}"
        )
        style = "--" if "confirmatory" in analysis else (":" if analysis.startswith("group") else "-")
        ax.errorbar(
            part["n_per_group"],
            part["power"],
            yerr=[part["power"] - part["ci_low"], part["ci_high"] - part["power"]],
            fmt=style,
            marker="o",
            capsize=3,
            label=label,
        )
    ax.axhline(0.8, color="grey", linewidth=0.8)
    ax.set_xlabel("respondents per group")
    ax.set_ylabel("power (adjusted p < α)")
    ax.set_ylim(0, 1.02)
    ax.set_title(
        f"{settings.get('n_groups')} groups, reliability {settings.get('reliability')}, {settings.get('n_sims')} simulations per point"
    )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
