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
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.data import DataCheckError, ml_covariance, prepare_items
from dancerec.indices.fitindices import cfi, information_criteria, rmsea, rmsea_ci, tli
from dancerec.indices.syntax import structure_of
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

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


class _Layout:
    """Where each free parameter sits, for one invariance level.

    ``free``: parameters released from the level's equality constraints (partial invariance), as
    ("lam", item, factor), ("nu", item) or ("theta", item). ``full=True`` lays out a separate copy
    of every parameter in every group (the unconstrained parameterisation of the score tests).
    """

    def __init__(
        self,
        structure: Mapping[str, Sequence[str]],
        items: list[str],
        n_groups: int,
        level: str,
        free: frozenset = frozenset(),
        full: bool = False,
    ):
        self.items = items
        self.factors = list(structure)
        p, k, g_n = len(items), len(self.factors), n_groups
        pos = {it: i for i, it in enumerate(items)}
        shared_lam = level in ("metric", "scalar", "strict") and not full
        shared_nu = level in ("scalar", "strict") and not full
        shared_theta = level == "strict" and not full
        free_alpha = level in ("scalar", "strict")
        keys: dict[tuple, int] = {}

        def idx(key: tuple) -> int:
            if key not in keys:
                keys[key] = len(keys)
            return keys[key]

        self.lam = np.full((g_n, p, k), -1, dtype=int)
        self.lam_fixed = np.zeros((p, k))
        self.phi = np.full((g_n, k, k), -1, dtype=int)
        self.theta = np.full((g_n, p), -1, dtype=int)
        self.nu = np.full((g_n, p), -1, dtype=int)
        self.alpha = np.full((g_n, k), -1, dtype=int)
        for f, (factor, its) in enumerate(structure.items()):
            self.lam_fixed[pos[its[0]], f] = 1.0
            for g in range(g_n):
                for it in its[1:]:
                    same = shared_lam and ("lam", it, factor) not in free
                    key = ("lam", pos[it], f) if same else ("lam", g, pos[it], f)
                    self.lam[g, pos[it], f] = idx(key)
        for g in range(g_n):
            for a in range(k):
                for b in range(a + 1):
                    self.phi[g, a, b] = self.phi[g, b, a] = idx(("phi", g, a, b))
            for i, it in enumerate(items):
                same_theta = shared_theta and ("theta", it) not in free
                same_nu = shared_nu and ("nu", it) not in free
                self.theta[g, i] = idx(("theta", i) if same_theta else ("theta", g, i))
                self.nu[g, i] = idx(("nu", i) if same_nu else ("nu", g, i))
            if free_alpha and g > 0:
                for f in range(k):
                    self.alpha[g, f] = idx(("alpha", g, f))
        self.npar = len(keys)
        self.keys = keys

    def unpack(self, x: np.ndarray, g: int):
        lam = self.lam_fixed.copy()
        m = self.lam[g] >= 0
        lam[m] = x[self.lam[g][m]]
        phi = x[self.phi[g]]
        theta = np.diag(x[self.theta[g]])
        nu = x[self.nu[g]]
        alpha = np.where(self.alpha[g] >= 0, x[np.maximum(self.alpha[g], 0)], 0.0)
        return lam, phi, theta, nu, alpha


@dataclass
class _GroupData:
    name: str
    n: int
    s: np.ndarray
    mean: np.ndarray
    logdet_s: float


def _objective(x: np.ndarray, layout: _Layout, data: list[_GroupData], n_total: int):
    f_total = 0.0
    grad = np.zeros_like(x)
    p = layout.lam_fixed.shape[0]
    for g, gd in enumerate(data):
        w = gd.n / n_total
        lam, phi, theta, nu, alpha = layout.unpack(x, g)
        sigma = lam @ phi @ lam.T + theta
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(x)
        logdet = 2.0 * float(np.log(np.diag(chol)).sum())
        inv = np.linalg.inv(sigma)
        d = gd.mean - (nu + lam @ alpha)
        inv_d = inv @ d
        f = logdet - gd.logdet_s + float(np.sum(inv * gd.s)) - p + float(d @ inv_d)
        f_total += w * f
        gmat = inv - inv @ (gd.s + np.outer(d, d)) @ inv
        d_mu = -2.0 * inv_d
        g_lam = 2.0 * gmat @ lam @ phi + np.outer(d_mu, alpha)
        g_phi = lam.T @ gmat @ lam
        # phi entries: each symmetric free parameter is stored at (a, b) and (b, a)
        m = layout.lam[g] >= 0
        np.add.at(grad, layout.lam[g][m], w * g_lam[m])
        np.add.at(grad, layout.phi[g].ravel(), w * g_phi.ravel())
        np.add.at(grad, layout.theta[g], w * np.diag(gmat))
        np.add.at(grad, layout.nu[g], w * d_mu)
        am = layout.alpha[g] >= 0
        np.add.at(grad, layout.alpha[g][am], w * (lam.T @ d_mu)[am])
    return f_total, grad


def _start(layout: _Layout, data: list[_GroupData], structure: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Starting values: loading ratios through a third item, half the variances as residuals."""
    pos = {it: i for i, it in enumerate(layout.items)}
    sums = np.zeros(layout.npar)
    counts = np.zeros(layout.npar)
    for g, gd in enumerate(data):
        s = gd.s
        lam = layout.lam_fixed.copy()
        for f, its in enumerate(structure.values()):
            m = pos[its[0]]
            for it in its[1:]:
                j = pos[it]
                others = [pos[o] for o in its if pos[o] not in (j, m)]
                ratios = [s[j, o] / s[m, o] for o in others if abs(s[m, o]) > 1e-8]
                lam[j, f] = float(np.clip(np.mean(ratios), -3, 3)) if ratios else 1.0
        theta = 0.5 * np.diag(s)
        k = len(layout.factors)
        phi = np.zeros((k, k))
        for f, its in enumerate(structure.values()):
            phi[f, f] = max(0.5 * s[pos[its[0]], pos[its[0]]], 1e-3)
        vals = {
            "lam": (layout.lam[g], lam),
            "phi": (layout.phi[g], phi),
            "theta": (layout.theta[g], theta),
            "nu": (layout.nu[g], gd.mean),
        }
        for index, value in vals.values():
            m = index >= 0
            np.add.at(sums, index[m], np.asarray(value)[m])
            np.add.at(counts, index[m], 1.0)
    return sums / np.maximum(counts, 1.0)


def _bounds(layout: _Layout) -> list[tuple[float | None, float | None]]:
    b: list[tuple[float | None, float | None]] = [(None, None)] * layout.npar
    for key, i in layout.keys.items():
        if key[0] == "theta":
            b[i] = (1e-8, None)
        elif key[0] == "phi" and key[-1] == key[-2]:
            b[i] = (1e-8, None)
    return b


def _srmr_group(gd: _GroupData, sigma: np.ndarray, mu: np.ndarray) -> float:
    sd = np.sqrt(np.diag(gd.s))
    r = (gd.s - sigma) / np.outer(sd, sd)
    tri = r[np.tril_indices(len(sd))]
    mean_r = (gd.mean - mu) / sd
    return float(np.sqrt((np.sum(tri**2) + np.sum(mean_r**2)) / (len(tri) + len(sd))))


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


def _group_data(data, structure, group, groups_order):
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


def _fit(
    structure, items, gdata: list[_GroupData], level: str, free: frozenset = frozenset()
) -> MultiGroupFit:
    layout = _Layout(structure, items, len(gdata), level, free)
    n_total = sum(gd.n for gd in gdata)
    x0 = _start(layout, gdata, structure)
    with threadpool_limits(1), np.errstate(all="ignore"):
        res = optimize.minimize(
            _objective,
            x0,
            args=(layout, gdata, n_total),
            jac=True,
            method="L-BFGS-B",
            bounds=_bounds(layout),
            options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-15, "gtol": 1e-9, "maxcor": 30},
        )
    x = res.x
    # L-BFGS-B may stop with "ABNORMAL" line-search termination at the optimum under these tight
    # tolerances; judge convergence by the projected gradient instead
    grad = np.asarray(res.jac, dtype=float)
    lower = np.array([b[0] if b[0] is not None else -np.inf for b in _bounds(layout)])
    at_bound = (x <= lower + 1e-10) & (grad > 0)
    converged = bool(res.success or np.max(np.abs(np.where(at_bound, 0.0, grad))) < 1e-6)
    p, g_n = len(items), len(gdata)
    chi2 = max(n_total * float(res.fun), 0.0)
    df = g_n * (p * (p + 1) // 2 + p) - layout.npar
    chi2_b = sum(gd.n * (float(np.sum(np.log(np.diag(gd.s)))) - gd.logdet_s) for gd in gdata)
    df_b = g_n * p * (p - 1) // 2
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
    aic, bic, _ = information_criteria(logl, layout.npar, n_total)
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
        srmr=srmr_w / n_total,
        loglik=logl,
        aic=aic,
        bic=bic,
        converged=converged,
        loadings=loadings,
        intercepts=pd.DataFrame(inter, index=items),
        factor_cov=fcov,
        residual_var=pd.DataFrame(resid, index=items),
        latent_means=pd.DataFrame(means, index=layout.factors),
        message=str(res.message),
        free=free,
        x=x,
    )


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
    from dancerec.indices.partial import format_free, parse_free, score_tests

    for lev in levels:
        if lev not in LEVELS:
            raise UserError(f"unknown invariance level {lev!r} (use {', '.join(LEVELS)})")
    structure = structure_of(model)
    released = parse_free(free, structure)
    gdata, items, _ = _group_data(data, structure, group, groups_order)
    fits: dict[str, MultiGroupFit] = {}
    rows = []
    prev: MultiGroupFit | None = None
    highest = None
    still = True
    notes = []
    failed: str | None = None
    for lev in levels:
        fit = _fit(structure, items, gdata, lev, released)
        fits[lev] = fit
        row = {
            "level": lev,
            "freed": format_free(released, lev),
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
        if not fit.converged:
            notes.append(f"{lev}: the optimiser did not converge ({fit.message})")
        if prev is not None:
            dchi = fit.chi2 - prev.chi2
            ddf = fit.df - prev.df
            row.update(
                delta_chi2=dchi,
                delta_df=ddf,
                delta_p=float(stats.chi2.sf(max(dchi, 0.0), ddf)) if ddf > 0 else np.nan,
                delta_cfi=fit.cfi - prev.cfi,
                delta_rmsea=fit.rmsea - prev.rmsea,
            )
            row["holds"] = bool(row["delta_cfi"] >= DELTA_CFI and row["delta_rmsea"] <= DELTA_RMSEA)
        if not still:
            row["holds"], row["status"] = None, "not tested"
        elif not row["holds"]:
            row["status"] = "fails"
            failed = lev
        still = still and bool(row["holds"])
        if still:
            highest = lev
        rows.append(row)
        prev = fit
    scores = None
    if score and failed is not None:
        scores = score_tests(structure, items, gdata, fits[failed])
        if len(scores):
            top = scores.iloc[0]
            notes.append(
                f"{failed} invariance fails; largest score test: {top.lhs}{top.op}{top.rhs} "
                f"(X2(1) = {top.X2:.2f}, Holm-adjusted p = {top.p_holm:.3g} over {len(scores)} constraints): "
                "release it with --free and refit (one parameter at a time)"
            )
    latent = None
    if "scalar" in fits and highest in ("scalar", "strict"):
        from dancerec.indices.latent_means import latent_mean_tests

        latent = latent_mean_tests(structure, items, gdata, fits["scalar"])
    elif "scalar" in fits:
        notes.append("scalar invariance does not hold: latent means are not compared")
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
