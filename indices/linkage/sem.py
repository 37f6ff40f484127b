"""User level: an SEM with the per-user metrics as observed predictors of the latent dimensions.

Objective system aspects (observed, per user) → subjective system aspects (latent), Knijnenburg et al.
(2012). Within-group by construction: each metric is centred on its group's mean (and z-scaled by its
pooled within-group SD), and the group enters as observed dummy covariates of every factor (group fixed
effects), so a metric path is the association *within* groups; the between-group part sits in the group
dummies and is reported at group level. Estimated with the indices subsystem's ``fit_sem`` (ML,
lavaan-comparable fit). Paths are one family (all metric → dimension paths), adjusted together.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dancerec.indices.linkage._common import safe_name, within_z
from dancerec.indices.linkage.multiplicity import add_adjusted

FAMILY = "SEM paths (metric → dimension, within groups)"


@dataclass
class SemLinkResult:
    """The metrics → latent dimensions SEM: syntax, path estimates (raw and adjusted p) and fit."""

    syntax: str
    paths: pd.DataFrame  # dimension, metric, estimate, std, se, z, p, p_adj, family, adjust, significant
    fit: dict[str, float]
    n: int
    backend: str
    notes: list[str] = field(default_factory=list)
    n_total: int = 0


def sem_syntax(
    structure: Mapping[str, Sequence[str]],
    predictors: Sequence[str],
    dimensions: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
) -> str:
    """lavaan-style syntax: a factor per dimension, each regressed on the observed metrics (and the
    group dummies ``covariates``). The factors' residuals covary freely (lavaan's ``sem()`` default)."""
    dims = list(dimensions) if dimensions is not None else list(structure)
    lines = [f"{dim} =~ {' + '.join(structure[dim])}" for dim in dims]
    lines += [f"{dim} ~ {' + '.join([*predictors, *covariates])}" for dim in dims]
    lines += [f"{a} ~~ {b}" for a, b in itertools.combinations(dims, 2)]
    return "\n".join(lines)


def _design(exog: pd.DataFrame, group: pd.Series | None) -> tuple[pd.DataFrame, list[str], list[str]]:
    """(within-group z metrics + group dummies, metric columns used, dummy columns)."""
    group = pd.Series("all", index=exog.index) if group is None else group.reindex(exog.index).astype(str)
    names = {c: safe_name(c) for c in exog.columns}
    z = pd.DataFrame({names[c]: within_z(exog[c], group) for c in exog.columns}, index=exog.index)
    used = [n for n in z.columns if z[n].abs().max() > 0]
    dummies = pd.get_dummies(group, prefix="grp", drop_first=True, dtype=float)
    dummies.columns = [safe_name(c) for c in dummies.columns]
    return pd.concat([z[used], dummies], axis=1), used, list(dummies.columns)


def _fit_dict(fit: Any) -> dict[str, float]:
    keys = ("n", "chi2", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic")
    return {k: float(getattr(fit, k)) for k in keys}


def metrics_sem(
    items: pd.DataFrame,
    structure: Mapping[str, Sequence[str]],
    exog: pd.DataFrame,
    *,
    group: pd.Series | None = None,
    dimensions: Sequence[str] | None = None,
    seed: int = 0,
    adjust: str = "holm",
    missing: str | None = None,
) -> SemLinkResult:
    """Fit the metrics → latent dimensions SEM within groups.

    ``items``: reverse-recoded item answers (index respondent_id); ``structure``: dimension → items;
    ``exog``: per-user metric columns on the same index; ``group``: each respondent's study group
    (None = one group). ``missing``: "fiml" (every linked respondent with an answer is used; the default
    whenever an item answer is missing) or "listwise"; ``notes`` state N used / N total and why.
    """
    from dancerec.indices.sem import fit_sem

    dims = [d for d in (dimensions or list(structure)) if d in structure]
    used_items = sorted({i for d in dims for i in structure[d]})
    design, metrics, dummies = _design(exog, group)
    data = items[used_items].join(design, how="inner")
    n_total = len(data)
    notes = []
    constant = [c for c in exog.columns if safe_name(c) not in metrics]
    if constant:
        notes.append("metric(s) constant within every group left out: " + ", ".join(constant))
    syntax = sem_syntax(structure, metrics, dims, dummies)
    result = fit_sem(data, syntax, ci="none", seed=seed, missing=missing)
    n_used = int(result.fit.n)
    notes.append(f"linked respondents: {result.n_note}")
    if dummies:
        notes.append(
            f"group entered as {len(dummies)} dummy covariate(s) (fixed effects); paths are within groups"
        )
    back = {safe_name(c): c for c in exog.columns}
    paths = result.paths[result.paths["lhs"].isin(dims) & result.paths["rhs"].isin(metrics)]
    paths = paths.rename(columns={"lhs": "dimension", "rhs": "metric"})
    paths = paths.assign(metric=paths["metric"].map(back))[
        ["dimension", "metric", "estimate", "std", "se", "z", "p"]
    ]
    return SemLinkResult(
        syntax=syntax,
        paths=add_adjusted(paths.reset_index(drop=True), FAMILY, adjust=adjust),
        fit=_fit_dict(result.fit),
        n=n_used,
        backend=f"dancerec.indices.sem.fit_sem ({result.estimator})",
        notes=notes,
        n_total=n_total,
    )
