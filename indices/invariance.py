"""Measurement invariance across groups: configural, metric (equal loadings), scalar (+ equal
intercepts) and optionally strict (+ equal residual variances) multi-group CFA, with delta chi2,
delta CFI and delta RMSEA, and latent mean differences once scalar invariance holds.

Why hand-written: semopy fits one group at a time and has no cross-group equality constraints or
multi-group likelihood, so the multi-group ML estimator is implemented here (numpy, analytic
gradient, L-BFGS-B). It follows lavaan's conventions (``cfa(..., group = , group.equal = )``):

- marker-variable identification (first loading of each factor = 1 in every group);
- mean structure: item intercepts free per group and latent means 0 (configural, metric); scalar
  and strict constrain the intercepts and free the latent means of every group but the first;
- F = sum_g (N_g / N) [ln|Sigma_g| - ln|S_g| + tr(S_g Sigma_g^-1) - p + (m_g - mu_g)' Sigma_g^-1 (m_g - mu_g)],
  chi2 = N F, S_g with divisor N_g;
- RMSEA with lavaan's sqrt(G) multi-group factor; SRMR is the N-weighted mean of the groups' SRMR
  (covariances and, with the mean structure, standardised mean residuals);
- baseline model per group: free means and variances, no covariances.

Decision rule: a level holds when delta CFI >= -0.010 (Cheung & Rensvold 2002) and delta RMSEA
<= 0.015 (Chen 2007) against the previous level; the delta chi2 test is reported alongside (it rejects
trivial differences in large samples). Levels are tested in sequence: after the first failure the
later levels are fitted and shown but marked "not tested". Latent means are compared only when
(partial) scalar invariance holds.

Partial invariance (lavaan ``group.partial``): named loadings, intercepts or residual variances are
released from the equality constraints in every group (``free="visual=~x2, x7~1"``); the table's
``freed`` column lists them per level. Score tests of the first failing level's constraints
(lavaan's ``lavTestScore``) suggest what to release: :mod:`dancerec.indices.partial`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from dancerec.indices._multigroup import _GroupData, _Layout, _minimise, _srmr_group
from dancerec.indices._multigroup import _objective as _objective  # re-exported: partial, latent_means
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import DataCheckError, ml_covariance, prepare_items
from dancerec.indices.fitindices import cfi, information_criteria, rmsea, rmsea_ci, tli
from dancerec.indices.syntax import structure_of
from scipy import stats

from dancerec.display import DisplayMixin
from dancerec.errors import UserError

__all__ = ["LEVELS", "InvarianceResult", "MultiGroupFit", "fit_multigroup", "measurement_invariance"]

LEVELS = ("configural", "metric", "scalar", "strict")
DELTA_CFI = -0.010
DELTA_RMSEA = 0.015


@dataclass
class MultiGroupFit:
    """One multi-group CFA: global fit and the estimates per group."""

    level: str
    groups: list[str]
    n: dict[str, int]
    npar: int
    chi2: float
    df: int
    pvalue: float
    cfi: float
    tli: float
    rmsea: float
    rmsea_ci: tuple[float, float]
    srmr: float
    loglik: float
    aic: float
    bic: float
    converged: bool
    loadings: dict[str, pd.DataFrame]
    intercepts: pd.DataFrame
    factor_cov: dict[str, pd.DataFrame]
    residual_var: pd.DataFrame
    latent_means: pd.DataFrame
    message: str = ""
    free: frozenset = frozenset()  # parameters released from the level's equality constraints
    x: np.ndarray | None = None  # the estimates in the order of the level's parameter layout


@dataclass
class InvarianceResult(DisplayMixin):
    """``table``: one row per level with fit, deltas against the previous level and ``holds``."""

    table: pd.DataFrame
    fits: dict[str, MultiGroupFit]
    highest: str | None
    latent_means: pd.DataFrame | None
    groups: list[str]
    notes: list[str] = field(default_factory=list)
    score_tests: pd.DataFrame | None = None  # univariate score tests of the first failing level
    score_level: str | None = None
    free: str = ""  # released parameters (lavaan notation)

    def summary_header(self) -> list[str]:
        freed = [f"released (partial invariance): {self.free}"] if self.free else []
        return [
            f"groups: {', '.join(self.groups)}; highest level supported: {self.highest or 'none'}",
            *freed,
        ]

    def summary_frames(self) -> dict[str, pd.DataFrame]:
        """The invariance sequence, score tests of the first failing level, latent mean differences."""
        frames = {"Invariance levels": self.table}
        if self.score_tests is not None:
            frames[f"Score tests ({self.score_level})"] = self.score_tests
        if self.latent_means is not None:
            frames["Latent mean differences"] = self.latent_means
        return frames

    def to_json(self) -> dict:
        return {
            "groups": self.groups,
            "levels": self.table,
            "highest_level": self.highest,
            "latent_means": self.latent_means,
            "free": [t for t in self.free.split(", ") if t],
            "score_tests": {"level": self.score_level, "tests": self.score_tests}
            if self.score_tests is not None
            else None,
            "notes": self.notes,
        }


@single_blas_thread
def fit_multigroup(
    data: pd.DataFrame,
    model: str | Mapping[str, Sequence[str]],
    group: pd.Series | str,
    *,
    level: str = "configural",
    groups_order: Sequence[str] | None = None,
    free: str | Sequence[str] | None = None,
) -> MultiGroupFit:
    """Fit one multi-group CFA at ``level`` (configural, metric, scalar or strict).

    ``free``: parameters released from the level's equality constraints, lavaan ``group.partial``
    notation ("visual=~x2, x7~1"); see :func:`dancerec.indices.partial.parse_free`.
    """
    from dancerec.indices.partial import parse_free

    if level not in LEVELS:
        raise UserError(f"unknown invariance level {level!r} (use {', '.join(LEVELS)})")
    structure = structure_of(model)
    released = parse_free(free, structure)
    gdata, items, _ = _group_data(data, structure, group, groups_order)
    return _fit(structure, items, gdata, level, released)


def _group_data(
    data: pd.DataFrame,
    structure: Mapping[str, Sequence[str]],
    group: pd.Series | str,
    groups_order: Sequence[str] | None,
) -> tuple[list[_GroupData], list[str], list[str]]:
    """Each group's sample moments (complete cases of the model's items), the items and the groups' order."""
    items = [i for its in structure.values() for i in its]
    for f, its in structure.items():
        if len(its) < 3:
            raise UserError(f"factor {f!r} has {len(its)} item(s); at least 3 are needed")
    g = data[group] if isinstance(group, str) else pd.Series(group, index=data.index)
    g = g.reindex(data.index).astype("string")
    order = list(groups_order) if groups_order is not None else list(pd.unique(g.dropna()))
    if len(order) < 2:
        raise UserError(f"measurement invariance needs at least 2 groups (found {len(order)})")
    p = len(items)
    gdata = []
    for name in order:
        sub = data.loc[(g == name).fillna(False).to_numpy()]
        prepared = prepare_items(
            sub, items, min_n=max(p + 1, 10), source=f"group {name!r}", what="multi-group CFA"
        )
        x = prepared.frame.to_numpy(float)
        s = ml_covariance(x)
        sign, logdet = np.linalg.slogdet(s)
        if sign <= 0:
            raise DataCheckError(f"group {name!r}: the item covariance matrix is not positive definite")
        gdata.append(_GroupData(str(name), x.shape[0], s, x.mean(axis=0), float(logdet)))
    return gdata, items, order


@dataclass
class _Estimates:
    """The fitted model in every group: log-likelihood, N-weighted SRMR and the estimates per group."""

    loglik: float
    srmr: float
    loadings: dict[str, pd.DataFrame]
    factor_cov: dict[str, pd.DataFrame]
    intercepts: pd.DataFrame
    residual_var: pd.DataFrame
    latent_means: pd.DataFrame


def _estimates(layout: _Layout, gdata: list[_GroupData], x: np.ndarray, items: list[str]) -> _Estimates:
    """Unpack ``x`` group by group: implied moments, log-likelihood, SRMR and the estimate tables."""
    p = len(items)
    n_total = sum(gd.n for gd in gdata)
    logl, srmr_w = 0.0, 0.0
    loadings, fcov, inter, resid, means = {}, {}, {}, {}, {}
    for g, gd in enumerate(gdata):
        lam, phi, theta, nu, alpha = layout.unpack(x, g)
        sigma = lam @ phi @ lam.T + theta
        mu = nu + lam @ alpha
        d = gd.mean - mu
        inv = np.linalg.inv(sigma)
        logl += (
            -gd.n
            / 2
            * (
                p * math.log(2 * math.pi)
                + float(np.linalg.slogdet(sigma)[1])
                + float(np.sum(inv * gd.s))
                + float(d @ inv @ d)
            )
        )
        srmr_w += gd.n * _srmr_group(gd, sigma, mu)
        loadings[gd.name] = pd.DataFrame(lam, index=items, columns=layout.factors)
        fcov[gd.name] = pd.DataFrame(phi, index=layout.factors, columns=layout.factors)
        inter[gd.name] = nu
        resid[gd.name] = np.diag(theta)
        means[gd.name] = alpha
    return _Estimates(
        loglik=logl,
        srmr=srmr_w / n_total,
        loadings=loadings,
        factor_cov=fcov,
        intercepts=pd.DataFrame(inter, index=items),
        residual_var=pd.DataFrame(resid, index=items),
        latent_means=pd.DataFrame(means, index=layout.factors),
    )


def _baseline(gdata: list[_GroupData], p: int) -> tuple[float, int]:
    """chi2 and df of the baseline model (free means and variances, no covariances, in every group)."""
    chi2_b = sum(gd.n * (float(np.sum(np.log(np.diag(gd.s)))) - gd.logdet_s) for gd in gdata)
    return chi2_b, len(gdata) * p * (p - 1) // 2


def _fit(
    structure, items, gdata: list[_GroupData], level: str, free: frozenset = frozenset()
) -> MultiGroupFit:
    """Fit one level to prepared group data: the estimates and lavaan's global fit measures."""
    layout = _Layout(structure, items, len(gdata), level, free)
    n_total = sum(gd.n for gd in gdata)
    res, converged = _minimise(layout, gdata, structure, n_total)
    x = res.x
    p, g_n = len(items), len(gdata)
    chi2 = max(n_total * float(res.fun), 0.0)
    df = g_n * (p * (p + 1) // 2 + p) - layout.npar
    chi2_b, df_b = _baseline(gdata, p)
    est = _estimates(layout, gdata, x, items)
    aic, bic, _ = information_criteria(est.loglik, layout.npar, n_total)
    return MultiGroupFit(
        level=level,
        groups=[gd.name for gd in gdata],
        n={gd.name: gd.n for gd in gdata},
        npar=layout.npar,
        chi2=chi2,
        df=int(df),
        pvalue=float(stats.chi2.sf(chi2, df)) if df > 0 else float("nan"),
        cfi=cfi(chi2, df, chi2_b, df_b),
        tli=tli(chi2, df, chi2_b, df_b),
        rmsea=rmsea(chi2, df, n_total, groups=g_n),
        rmsea_ci=rmsea_ci(chi2, df, n_total, groups=g_n),
        srmr=est.srmr,
        loglik=est.loglik,
        aic=aic,
        bic=bic,
        converged=converged,
        loadings=est.loadings,
        intercepts=est.intercepts,
        factor_cov=est.factor_cov,
        residual_var=est.residual_var,
        latent_means=est.latent_means,
        message=str(res.message),
        free=free,
        x=x,
    )


def _check_levels(levels: Sequence[str]) -> None:
    """Every requested level is one of :data:`LEVELS` (else a UserError naming the unknown one)."""
    for lev in levels:
        if lev not in LEVELS:
            raise UserError(f"unknown invariance level {lev!r} (use {', '.join(LEVELS)})")


def _level_row(lev: str, fit: MultiGroupFit, freed: str) -> dict:
    """One row of the invariance table: the level's global fit; deltas and verdict still to be set."""
    return {
        "level": lev,
        "freed": freed,
        "chi2": fit.chi2,
        "df": fit.df,
        "p": fit.pvalue,
        "cfi": fit.cfi,
        "tli": fit.tli,
        "rmsea": fit.rmsea,
        "rmsea_ci_low": fit.rmsea_ci[0],
        "rmsea_ci_high": fit.rmsea_ci[1],
        "srmr": fit.srmr,
        "aic": fit.aic,
        "bic": fit.bic,
        "delta_chi2": np.nan,
        "delta_df": np.nan,
        "delta_p": np.nan,
        "delta_cfi": np.nan,
        "delta_rmsea": np.nan,
        "holds": True,
        "status": "holds",
        "converged": fit.converged,
    }


def _deltas(fit: MultiGroupFit, prev: MultiGroupFit) -> dict:
    """Delta chi2 test, delta CFI and delta RMSEA against the previous level, and whether the level holds
    (delta CFI >= -0.010 and delta RMSEA <= 0.015)."""
    dchi = fit.chi2 - prev.chi2
    ddf = fit.df - prev.df
    out = {
        "delta_chi2": dchi,
        "delta_df": ddf,
        "delta_p": float(stats.chi2.sf(max(dchi, 0.0), ddf)) if ddf > 0 else np.nan,
        "delta_cfi": fit.cfi - prev.cfi,
        "delta_rmsea": fit.rmsea - prev.rmsea,
    }
    out["holds"] = bool(out["delta_cfi"] >= DELTA_CFI and out["delta_rmsea"] <= DELTA_RMSEA)
    return out


def _fit_levels(
    structure, items, gdata: list[_GroupData], levels: Sequence[str], released: frozenset
) -> tuple[dict[str, MultiGroupFit], list[dict], list[str]]:
    """Fit each level; its table row (compared with the previous level) and non-convergence notes."""
    from dancerec.indices.partial import format_free

    fits: dict[str, MultiGroupFit] = {}
    rows, notes = [], []
    prev: MultiGroupFit | None = None
    for lev in levels:
        fit = _fit(structure, items, gdata, lev, released)
        fits[lev] = fit
        row = _level_row(lev, fit, format_free(released, lev))
        if not fit.converged:
            notes.append(f"{lev}: the optimiser did not converge ({fit.message})")
        if prev is not None:
            row.update(_deltas(fit, prev))
        rows.append(row)
        prev = fit
    return fits, rows, notes


def _test_in_sequence(rows: list[dict]) -> tuple[str | None, str | None]:
    """Mark the rows in order: after the first failing level the later ones are "not tested" (holds None).
    Returns the highest level supported and the first failing one."""
    highest, failed = None, None
    still = True
    for row in rows:
        if not still:
            row["holds"], row["status"] = None, "not tested"
        elif not row["holds"]:
            row["status"] = "fails"
            failed = row["level"]
        still = still and bool(row["holds"])
        if still:
            highest = row["level"]
    return highest, failed


def _score_step(
    structure, items, gdata: list[_GroupData], fit: MultiGroupFit, failed: str
) -> tuple[pd.DataFrame, list[str]]:
    """Score tests of the first failing level's constraints, with a note naming the largest one."""
    from dancerec.indices.partial import score_tests

    scores = score_tests(structure, items, gdata, fit)
    if not len(scores):
        return scores, []
    top = scores.iloc[0]
    return scores, [
        f"{failed} invariance fails; largest score test: {top.lhs}{top.op}{top.rhs} "
        f"(X2(1) = {top.X2:.2f}, Holm-adjusted p = {top.p_holm:.3g} over {len(scores)} constraints): "
        "release it with --free and refit (one parameter at a time)"
    ]


def _latent_step(
    structure, items, gdata: list[_GroupData], fits: dict[str, MultiGroupFit], highest: str | None
) -> tuple[pd.DataFrame | None, list[str]]:
    """Latent mean differences when (partial) scalar invariance holds, else a note saying why not."""
    if "scalar" in fits and highest in ("scalar", "strict"):
        from dancerec.indices.latent_means import latent_mean_tests

        return latent_mean_tests(structure, items, gdata, fits["scalar"]), []
    if "scalar" in fits:
        return None, ["scalar invariance does not hold: latent means are not compared"]
    return None, []


@single_blas_thread
def measurement_invariance(
    data: pd.DataFrame,
    model: str | Mapping[str, Sequence[str]],
    group: pd.Series | str,
    *,
    levels: Sequence[str] = ("configural", "metric", "scalar"),
    groups_order: Sequence[str] | None = None,
    free: str | Sequence[str] | None = None,
    score: bool = True,
) -> InvarianceResult:
    """Fit the invariance levels in order and compare each with the previous one.

    ``free`` releases named loadings / intercepts / residual variances in every level that would
    constrain them (partial invariance; ``freed`` column). Once a level fails, the later levels are
    still fitted and shown but their ``holds`` is None and ``status`` "not tested": invariance is
    tested in sequence. With ``score``, the constraints of the first failing level get lavaan's
    univariate score tests (``score_tests``): which parameter to release first.
    """
    from dancerec.indices.partial import format_free, parse_free

    _check_levels(levels)
    structure = structure_of(model)
    released = parse_free(free, structure)
    gdata, items, _ = _group_data(data, structure, group, groups_order)
    fits, rows, notes = _fit_levels(structure, items, gdata, levels, released)
    highest, failed = _test_in_sequence(rows)
    scores = None
    if score and failed is not None:
        scores, score_notes = _score_step(structure, items, gdata, fits[failed], failed)
        notes.extend(score_notes)
    latent, latent_notes = _latent_step(structure, items, gdata, fits, highest)
    notes.extend(latent_notes)
    return InvarianceResult(
        table=pd.DataFrame(rows),
        fits=fits,
        highest=highest,
        latent_means=latent,
        groups=[gd.name for gd in gdata],
        notes=notes,
        score_tests=scores,
        score_level=failed if scores is not None else None,
        free=format_free(released, "strict"),
    )
