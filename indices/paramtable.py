"""The parameter table of a fitted model in lavaan's orientation (``parameterEstimates`` with ``std.all``):
loadings, regressions, (residual) (co)variances and intercepts with SE, z, p, the completely
standardised solution, and improper-solution diagnostics. Split from :mod:`estimation` so that module
keeps the estimation itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from dancerec.indices._dist import norm_sf
from dancerec.indices.fiml import FIMLResult
from dancerec.indices.syntax import ModelSpec
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    import semopy

__all__ = [
    "Standardized",
    "improper_solutions",
    "intercept_rows",
    "param_table",
    "sample_intercepts",
    "standardized",
]


@dataclass(frozen=True)
class Standardized:
    """Completely standardised (lavaan ``std.all``) coefficients from the model matrices."""

    inner: list[str]
    beta: np.ndarray  # std regression coefficients among inner variables [to, from]
    loadings: np.ndarray  # std loadings [observed, inner]
    inner_var: np.ndarray  # model-implied variances of the inner variables
    r2_inner: np.ndarray  # R^2 of each inner variable (nan for exogenous ones)
    r2_observed: np.ndarray
    inner_corr: np.ndarray


def standardized(model: semopy.Model) -> Standardized:
    """std.all coefficients computed from semopy's current matrices (cheap: used in the bootstrap)."""
    beta, lamb, psi, theta = model.matrices[:4]
    c = np.linalg.inv(model.identity_c - beta)
    cov_inner = c @ psi @ c.T
    sd_inner = np.sqrt(np.clip(np.diag(cov_inner), 0, None))
    m = lamb @ c
    sigma = m @ psi @ m.T + theta
    sd_obs = np.sqrt(np.clip(np.diag(sigma), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        beta_std = beta * sd_inner[None, :] / sd_inner[:, None]
        load_std = lamb * sd_inner[None, :] / sd_obs[:, None]
        endo = np.abs(beta).sum(axis=1) > 0
        r2_inner = np.where(endo, 1.0 - np.diag(psi) / np.diag(cov_inner), np.nan)
        r2_obs = 1.0 - np.diag(theta) / np.diag(sigma)
        corr = cov_inner / np.outer(sd_inner, sd_inner)
    return Standardized(
        inner=list(model.names_beta[0]),
        beta=beta_std,
        loadings=load_std,
        inner_var=np.diag(cov_inner).copy(),
        r2_inner=r2_inner,
        r2_observed=r2_obs,
        inner_corr=corr,
    )


def _expected_se(model: semopy.Model) -> np.ndarray:
    """SEs from semopy's expected information (lavaan's default for complete data)."""
    try:
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, fim_inv = model.calc_fim(inverse=True)
        return np.sqrt(np.clip(np.diag(fim_inv), 0, None))
    except (np.linalg.LinAlgError, ValueError, AttributeError):
        return np.full(len(model.param_vals), np.nan)


def _intercepts(model: semopy.Model, mu: np.ndarray, fixed_x: list[int]) -> np.ndarray:
    """Observed intercepts nu from the implied means: nu_y = mu_y - (Lambda C)[y, x] mu_x (latent means 0;
    without exogenous covariates the intercepts are the implied means)."""
    if not fixed_x:
        return mu.copy()
    beta, lamb = model.matrices[0], model.matrices[1]
    m = lamb @ np.linalg.inv(model.identity_c - beta)
    inner = list(model.names_lambda[1])
    obs = list(model.names_lambda[0])
    cols = [inner.index(obs[j]) for j in fixed_x]
    nu = mu - m[:, cols] @ mu[fixed_x]
    nu[fixed_x] = mu[fixed_x]
    return nu


def intercept_rows(
    model: semopy.Model, fiml: FIMLResult, observed: list[str], fixed_x: list[int]
) -> list[dict]:
    """lavaan's ``item ~1`` rows of a FIML fit (std.all: intercept / model-implied SD); with exogenous
    covariates the SEs of the intercepts come from the delta method over (parameters, means)."""
    nu = _intercepts(model, fiml.mu, fixed_x)
    se_nu = fiml.se_mu.copy()
    if fixed_x:
        theta = np.asarray(model.param_vals, float).copy()
        k = len(theta)
        free_mu = fiml.free_mu
        x0 = np.concatenate([theta, fiml.mu[free_mu]])
        jac = np.zeros((len(observed), len(x0)))
        for i in range(len(x0)):
            step = 1e-6 * max(1.0, abs(x0[i]))
            vals = []
            for sgn in (1.0, -1.0):
                x = x0.copy()
                x[i] += sgn * step
                model.update_matrices(x[:k])
                mu = fiml.mu.copy()
                mu[free_mu] = x[k:]
                vals.append(_intercepts(model, mu, fixed_x))
            jac[:, i] = (vals[0] - vals[1]) / (2 * step)
        model.update_matrices(theta)
        se_nu = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, fiml.acov, jac), 0, None))
        se_nu[fixed_x] = np.nan
    rows = []
    sd = np.sqrt(np.diag(fiml.sigma))
    for j, item in enumerate(observed):
        free = j not in fixed_x
        est, se = float(nu[j]), float(se_nu[j]) if free else np.nan
        z = est / se if free and se > 0 else np.nan
        rows.append(
            {
                "kind": "intercept",
                "lhs": item,
                "op": "~1",
                "rhs": "",
                "label": None,
                "free": free,
                "estimate": est,
                "std": est / sd[j],
                "se": se,
                "z": z,
                "p": 2 * norm_sf(abs(z)) if np.isfinite(z) else np.nan,
            }
        )
    return rows


@dataclass(frozen=True)
class _Lookup:
    """What describing one matrix location needs: the fitted model, its spec, std.all and index maps."""

    model: semopy.Model
    spec: ModelSpec
    std: Standardized
    measurement: set[tuple[str, str]]  # (factor, item) of the =~ terms
    latent: set[str]
    obs_idx: dict[str, int]
    inner_idx: dict[str, int]
    sd_inner: np.ndarray
    sigma: np.ndarray  # model-implied covariance of the observed variables
    vals: dict[str, float]  # estimates of the active parameters

    @classmethod
    def of(cls, model: semopy.Model, spec: ModelSpec, std: Standardized, vals: dict) -> _Lookup:
        """Index maps of ``model`` (observed and inner variables) and its implied covariance."""
        return cls(
            model=model,
            spec=spec,
            std=std,
            measurement={(t.lhs, t.rhs) for t in spec.terms if t.op == "=~"},
            latent=set(spec.latent),
            obs_idx={v: i for i, v in enumerate(model.names_lambda[0])},
            inner_idx={v: i for i, v in enumerate(std.inner)},
            sd_inner=np.sqrt(np.clip(std.inner_var, 0, None)),
            sigma=model.calc_sigma()[0],
            vals=vals,
        )


_Row = tuple[str, str, str, str, float]  # kind, lhs, op, rhs, std.all


def _psi_row(ctx: _Lookup, name: str, param, i: int, j: int) -> _Row | None:
    """A (residual) (co)variance of inner variables; None for the fixed.x ones of observed covariates."""
    model, inner_idx, spec = ctx.model, ctx.inner_idx, ctx.spec
    a, b = model.names_psi[0][i], model.names_psi[1][j]
    if a not in ctx.latent and b not in ctx.latent and a not in spec.endogenous and b not in spec.endogenous:
        return None  # fixed.x (co)variances of observed covariates
    kind = "variance" if a == b else "covariance"
    sd_a, sd_b = ctx.sd_inner[inner_idx[a]], ctx.sd_inner[inner_idx[b]]
    if a != b:  # lavaan's std.all of a (residual) covariance: scaled by the residual SDs
        psi = model.mx_psi
        sd_a = np.sqrt(max(psi[inner_idx[a], inner_idx[a]], 0.0))
        sd_b = np.sqrt(max(psi[inner_idx[b], inner_idx[b]], 0.0))
    value = ctx.vals.get(name, param.start)
    return (kind, a, "~~", b, float(value) / (sd_a * sd_b) if sd_a * sd_b > 0 else np.nan)


def _theta_row(ctx: _Lookup, name: str, param, i: int, j: int) -> _Row | None:
    """A residual (co)variance of observed variables; None for rows of variables not in Lambda."""
    model, obs_idx = ctx.model, ctx.obs_idx
    a, b = model.names_theta[0][i], model.names_theta[1][j]
    if a not in obs_idx or b not in obs_idx:
        return None
    kind = "residual variance" if a == b else "residual covariance"
    value = ctx.vals.get(name, param.start)
    if a == b:
        denom = ctx.sigma[obs_idx[a], obs_idx[a]]
    else:  # lavaan's std.all of a residual covariance: scaled by the residual SDs
        th = model.mx_theta
        denom = np.sqrt(max(th[i, i], 0.0) * max(th[j, j], 0.0))
    return (kind, a, "~~", b, float(value) / denom)


def _describe(ctx: _Lookup, name: str, param, loc) -> _Row | None:
    """(kind, lhs, op, rhs, std.all) of one location of a parameter; None where lavaan shows no row."""
    model, std, inner_idx = ctx.model, ctx.std, ctx.inner_idx
    i, j = loc.indices
    if loc.matrix is model.mx_beta:
        to, frm = model.names_beta[0][i], model.names_beta[1][j]
        return ("regression", to, "~", frm, std.beta[inner_idx[to], inner_idx[frm]])
    if loc.matrix is model.mx_lambda:
        item, factor = model.names_lambda[0][i], model.names_lambda[1][j]
        if (factor, item) not in ctx.measurement:
            return None  # an observed inner variable's identity row
        return ("loading", factor, "=~", item, std.loadings[ctx.obs_idx[item], inner_idx[factor]])
    if loc.matrix is model.mx_psi:
        return _psi_row(ctx, name, param, i, j)
    if loc.matrix is model.mx_theta:
        return _theta_row(ctx, name, param, i, j)
    return None


def _inference(param, name: str, vals: dict, ses: dict) -> tuple[float, float, float, float]:
    """Estimate, SE, z and two-sided p of a free parameter; a fixed one has its value and no SE."""
    if param.active:
        est, se = float(vals[name]), float(ses[name])
        z = est / se if se > 0 else np.nan
        p = 2 * norm_sf(abs(z)) if np.isfinite(z) else np.nan
        return est, se, z, p
    return float(param.start), np.nan, np.nan, np.nan


_KIND_ORDER = {
    "loading": 0,
    "regression": 1,
    "covariance": 2,
    "variance": 3,
    "residual covariance": 4,
    "residual variance": 5,
}


def _lavaan_order(
    table: pd.DataFrame, spec: ModelSpec, inner: list[str], observed: list[str]
) -> pd.DataFrame:
    """Rows by kind, then by the variables' order in the model; covariances written in that order too."""
    # covariances written in the order the variables appear in the model, as lavaan prints them
    pos = {v: k for k, v in enumerate(dict.fromkeys([*spec.latent, *spec.observed, *inner, *observed]))}
    swap = table["op"].eq("~~") & (table["lhs"].map(pos) > table["rhs"].map(pos))
    table.loc[swap, ["lhs", "rhs"]] = table.loc[swap, ["rhs", "lhs"]].to_numpy()
    table["_p1"] = table["lhs"].map(pos)
    table["_p2"] = table["rhs"].map(pos)
    table = table.sort_values(["_p1", "_p2"], kind="stable").drop(columns=["_p1", "_p2"])
    table["_o"] = table["kind"].map(_KIND_ORDER)
    return table.sort_values("_o", kind="stable").drop(columns="_o")


def param_table(
    model: semopy.Model,
    spec: ModelSpec,
    std: Standardized,
    observed: list[str],
    se_all: np.ndarray | None = None,
    extra_rows: Sequence[dict] = (),
) -> pd.DataFrame:
    """Parameters in lavaan orientation: factor =~ item, y ~ x, a ~~ b, with std.all, SE, z, p.

    ``se_all``: SEs of semopy's free parameters (default: expected information); ``extra_rows`` are
    appended after the ordering (intercepts of a FIML fit).
    """
    keys_active = [k for k, p in model.parameters.items() if p.active]
    vals = dict(zip(keys_active, model.param_vals, strict=True))
    if se_all is None:
        se_all = _expected_se(model)
    ses = dict(zip(keys_active, se_all, strict=True))
    ctx = _Lookup.of(model, spec, std, vals)
    rows = []
    for name, param in model.parameters.items():
        label = None if name.startswith("_") else name
        for loc in param.locations:
            row = _describe(ctx, name, param, loc)
            if row is None:
                continue
            kind, lhs, op, rhs, std_value = row
            est, se, z, p = _inference(param, name, vals, ses)
            rows.append(
                {
                    "kind": kind,
                    "lhs": lhs,
                    "op": op,
                    "rhs": rhs,
                    "label": label,
                    "free": bool(param.active),
                    "estimate": est,
                    "std": float(std_value),
                    "se": se,
                    "z": z,
                    "p": p,
                }
            )
    table = _lavaan_order(pd.DataFrame(rows), spec, std.inner, observed)
    if extra_rows:
        table = pd.concat([table, pd.DataFrame(list(extra_rows))], ignore_index=True)
    return table.reset_index(drop=True)


def improper_solutions(params: pd.DataFrame, std: Standardized) -> list[str]:
    """Heywood cases and other improper solutions, described for the reader (rules in
    :func:`dancerec.indices.mlcore.improper_messages`, shared with the lean CFA path)."""
    from dancerec.indices.mlcore import improper_messages

    return improper_messages(params.itertuples())


def sample_intercepts(
    model: semopy.Model, x: np.ndarray, sigma: np.ndarray, observed: list[str], fixed_x: list[int]
) -> list[dict]:
    """Intercept rows of a complete-data mean structure: nu from the sample means (the means themselves
    without exogenous covariates, SE sqrt(sigma_ii / N))."""
    n = x.shape[0]
    mu = x.mean(axis=0)
    sd = np.sqrt(np.diag(sigma))
    nu = _intercepts(model, mu, fixed_x)
    rows = []
    for j, item in enumerate(observed):
        free = j not in fixed_x
        # with exogenous covariates nu is not the mean: its SE is not computed here (left missing)
        se = float(sd[j] / np.sqrt(n)) if free and not fixed_x else np.nan
        z = nu[j] / se if free and se > 0 else np.nan
        rows.append(
            {
                "kind": "intercept",
                "lhs": item,
                "op": "~1",
                "rhs": "",
                "label": None,
                "free": free,
                "estimate": float(nu[j]),
                "std": float(nu[j] / sd[j]),
                "se": se,
                "z": z,
                "p": 2 * norm_sf(abs(z)) if np.isfinite(z) else np.nan,
            }
        )
    return rows
