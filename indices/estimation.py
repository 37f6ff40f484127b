"""ML estimation of a single-group CFA/SEM with semopy, tuned to reproduce lavaan.

Estimator settings (documented because they decide whether the numbers match lavaan):

- objective ``MLW`` (semopy's normal-theory ML discrepancy; there is no ``obj="ML"``), fitted to the ML
  sample covariance (divisor N), so chi2 = N * F_ML equals lavaan's ``likelihood = "normal"`` statistic;
- solver ``SLSQP`` with ``ftol = 1e-12`` (semopy's default tolerance leaves loadings ~1e-3 and chi2
  ~3e-3 away from lavaan's optimum; at 1e-12 they agree to ~1e-6);
- marker-variable identification (first loading of each factor fixed to 1), as lavaan's default;
- standard errors from the expected information matrix (lavaan's default ``information = "expected"``);
- observed exogenous covariates have their (co)variances fixed at the sample values (lavaan's
  ``fixed.x = TRUE``), so they do not count as free parameters;
- listwise deletion of incomplete rows. semopy's FIML objective is *not* used: it returned wrong fit
  statistics (e.g. a negative CFI on Holzinger-Swineford) and is not exposed until it is validated;
- semopy bounds variances at zero (lavaan does not): a variance at the bound is reported as a Heywood
  case instead of the negative estimate lavaan would print.

Global fit comes from :mod:`dancerec.indices.fitindices`, never from semopy's ``calc_stats``.
BLAS is limited to one thread while fitting: for 30x30 matrices thread start-up dominated the run
time (0.7 s -> 0.16 s for the 30-item, 8-factor CFA).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import semopy
from dancerec.indices.data import DataCheckError, ItemData, ml_covariance, prepare_items
from dancerec.indices.fiml import FIMLResult, em_saturated, fit_fiml, missing_patterns
from dancerec.indices.fitindices import FitIndices, fiml_fit_indices, fit_indices
from dancerec.indices.syntax import ModelSpec, as_spec, check_against_data
from scipy import stats
from threadpoolctl import threadpool_limits

from dancerec.errors import UserError

__all__ = ["ESTIMATORS", "MISSING", "Estimator", "FittedModel", "estimate", "standardized"]


ESTIMATORS = ("ml", "mlr", "wlsmv")
MISSING = ("fiml", "listwise")


@dataclass(frozen=True)
class Estimator:
    """How the model is estimated (see the module docstring for why these values).

    ``name`` is the estimator family, an enumeration that other estimators are dispatched on:
    ``"ml"`` (normal-theory ML, with FIML for incomplete data), ``"mlr"`` and ``"wlsmv"`` (reserved:
    refused until their implementations are wired in).
    """

    objective: str = "MLW"
    solver: str = "SLSQP"
    ftol: float = 1e-12
    maxiter: int = 10000
    name: str = "ml"

    def __post_init__(self) -> None:
        if self.objective != "MLW":
            raise UserError(
                f"objective {self.objective!r} is not supported: only 'MLW' (normal-theory ML) is "
                "validated against lavaan; semopy's FIML gives wrong fit statistics"
            )
        if self.name not in ESTIMATORS:
            raise UserError(f"unknown estimator {self.name!r} (use {', '.join(ESTIMATORS)})")

    def describe(self, missing: str = "listwise") -> str:
        how = (
            "FIML (casewise likelihood with saturated intercepts, H1 by EM, observed-information SEs)"
            if missing == "fiml"
            else "expected-information SEs, listwise deletion"
        )
        if self.name == "mlr":
            how = (
                "robust: Yuan-Bentler scaled chi2 (Mplus variant), Huber-White sandwich SEs, "
                "listwise deletion"
            )
        return (
            f"{self.name.upper()} (semopy obj={self.objective}, solver={self.solver}, ftol={self.ftol:g}), "
            f"marker-variable identification, {how}"
        )


@dataclass
class FittedModel:
    """A fitted semopy model with the data summary and everything derived on lavaan's scale."""

    spec: ModelSpec
    model: semopy.Model
    observed: list[str]
    s: np.ndarray
    n: int
    n_dropped: int
    fixed_x: list[int]
    converged: bool
    message: str
    iterations: int
    fit: FitIndices
    params: pd.DataFrame
    estimator: Estimator
    problems: list[str] = field(default_factory=list)
    n_total: int = 0
    missing: str = "listwise"
    dropped_reason: str = ""
    fiml: FIMLResult | None = None
    robust_acov: np.ndarray | None = None  # MLR (complete data): sandwich ACOV of the free parameters

    @property
    def sigma(self) -> np.ndarray:
        return self.model.calc_sigma()[0]

    @property
    def n_note(self) -> str:
        """'N used / N total' with why the rest were not used (for fit lines and table notes)."""
        text = f"N used {self.n} of {self.n_total}"
        if self.missing == "fiml":
            text += " (FIML: incomplete rows kept)"
        if self.dropped_reason:
            text += f"; left out: {self.dropped_reason}"
        return text


def _s_frame(s: np.ndarray, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(s, index=names, columns=names)


def _fit_semopy(model: semopy.Model, data: pd.DataFrame | None, s: pd.DataFrame, n: int, est: Estimator):
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            return model.fit(
                data=data,
                cov=s,
                obj=est.objective,
                solver=est.solver,
                n_samples=n,
                options={"ftol": est.ftol, "maxiter": est.maxiter},
            )
        finally:
            logging.disable(logging.NOTSET)


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


def _intercept_rows(
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
                "p": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
            }
        )
    return rows


def _param_table(
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
    measurement = {(t.lhs, t.rhs) for t in spec.terms if t.op == "=~"}
    latent = set(spec.latent)
    inner = std.inner
    obs_idx = {v: i for i, v in enumerate(model.names_lambda[0])}
    inner_idx = {v: i for i, v in enumerate(inner)}
    sd_inner = np.sqrt(np.clip(std.inner_var, 0, None))
    sigma = model.calc_sigma()[0]
    rows = []
    for name, param in model.parameters.items():
        label = None if name.startswith("_") else name
        for loc in param.locations:
            i, j = loc.indices
            if loc.matrix is model.mx_beta:
                to, frm = model.names_beta[0][i], model.names_beta[1][j]
                row = ("regression", to, "~", frm, std.beta[inner_idx[to], inner_idx[frm]])
            elif loc.matrix is model.mx_lambda:
                item, factor = model.names_lambda[0][i], model.names_lambda[1][j]
                if (factor, item) not in measurement:
                    continue  # an observed inner variable's identity row
                row = ("loading", factor, "=~", item, std.loadings[obs_idx[item], inner_idx[factor]])
            elif loc.matrix is model.mx_psi:
                a, b = model.names_psi[0][i], model.names_psi[1][j]
                if (
                    a not in latent
                    and b not in latent
                    and a not in spec.endogenous
                    and b not in spec.endogenous
                ):
                    continue  # fixed.x (co)variances of observed covariates
                kind = "variance" if a == b else "covariance"
                sd_a, sd_b = sd_inner[inner_idx[a]], sd_inner[inner_idx[b]]
                if a != b:  # lavaan's std.all of a (residual) covariance: scaled by the residual SDs
                    psi = model.mx_psi
                    sd_a = np.sqrt(max(psi[inner_idx[a], inner_idx[a]], 0.0))
                    sd_b = np.sqrt(max(psi[inner_idx[b], inner_idx[b]], 0.0))
                value = vals.get(name, param.start)
                row = (kind, a, "~~", b, float(value) / (sd_a * sd_b) if sd_a * sd_b > 0 else np.nan)
            elif loc.matrix is model.mx_theta:
                a, b = model.names_theta[0][i], model.names_theta[1][j]
                if a not in obs_idx or b not in obs_idx:
                    continue
                kind = "residual variance" if a == b else "residual covariance"
                value = vals.get(name, param.start)
                if a == b:
                    denom = sigma[obs_idx[a], obs_idx[a]]
                else:  # lavaan's std.all of a residual covariance: scaled by the residual SDs
                    th = model.mx_theta
                    denom = np.sqrt(max(th[i, i], 0.0) * max(th[j, j], 0.0))
                row = (kind, a, "~~", b, float(value) / denom)
            else:
                continue
            kind, lhs, op, rhs, std_value = row
            if param.active:
                est, se = float(vals[name]), float(ses[name])
                z = est / se if se > 0 else np.nan
                p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan
            else:
                est, se, z, p = float(param.start), np.nan, np.nan, np.nan
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
    order = {
        "loading": 0,
        "regression": 1,
        "covariance": 2,
        "variance": 3,
        "residual covariance": 4,
        "residual variance": 5,
    }
    table = pd.DataFrame(rows)
    # covariances written in the order the variables appear in the model, as lavaan prints them
    pos = {v: k for k, v in enumerate(dict.fromkeys([*spec.latent, *spec.observed, *inner, *observed]))}
    swap = table["op"].eq("~~") & (table["lhs"].map(pos) > table["rhs"].map(pos))
    table.loc[swap, ["lhs", "rhs"]] = table.loc[swap, ["rhs", "lhs"]].to_numpy()
    table["_p1"] = table["lhs"].map(pos)
    table["_p2"] = table["rhs"].map(pos)
    table = table.sort_values(["_p1", "_p2"], kind="stable").drop(columns=["_p1", "_p2"])
    table["_o"] = table["kind"].map(order)
    table = table.sort_values("_o", kind="stable").drop(columns="_o")
    if extra_rows:
        table = pd.concat([table, pd.DataFrame(list(extra_rows))], ignore_index=True)
    return table.reset_index(drop=True)


def _problems(params: pd.DataFrame, std: Standardized) -> list[str]:
    """Heywood cases and other improper solutions, described for the reader."""
    out = []
    for r in params.itertuples():
        if r.kind in ("variance", "residual variance") and r.free and r.estimate <= 1e-6:
            out.append(
                f"Heywood case: variance of {r.lhs} is {r.estimate:.2g} at semopy's zero bound "
                "(lavaan would report a negative variance)"
            )
        if r.kind == "loading" and abs(r.std) > 1.0 + 1e-9:
            out.append(f"Heywood case: standardised loading {r.lhs} =~ {r.rhs} is {r.std:.3f} (> 1)")
        if r.kind == "covariance" and abs(r.std) > 1.0 + 1e-9:
            out.append(f"improper solution: correlation {r.lhs} ~~ {r.rhs} is {r.std:.3f} (|r| > 1)")
    return out


def resolve_missing(data: pd.DataFrame, columns: Sequence[str], missing: str | None) -> str:
    """The missing-data handling actually used: FIML whenever an analysed cell is missing (lavaan users'
    choice for incomplete Likert data), otherwise plain ML on the complete data (identical numbers)."""
    if missing is not None and missing not in MISSING:
        raise UserError(f"unknown missing-data handling {missing!r} (use {', '.join(MISSING)})")
    cols = [c for c in columns if c in data.columns]
    has_na = bool(data[cols].isna().to_numpy().any()) if cols else False
    if not has_na:
        return "listwise"
    return missing or "fiml"


def estimate(
    data: pd.DataFrame,
    model: str | ModelSpec | Mapping[str, Sequence[str]],
    *,
    estimator: Estimator | None = None,
    min_indicators: int = 3,
    source: str = "model",
    prepared: ItemData | None = None,
    missing: str | None = None,
    std_lv: bool = False,
) -> FittedModel:
    """Fit ``model`` (lavaan syntax, a parsed spec, or a factor -> items dict) to ``data`` by ML.

    ``missing``: "fiml" (full-information ML, every row with an answer is used), "listwise" (complete
    cases) or None (FIML whenever an analysed item is missing). Complete data always take the plain ML
    path, so their numbers do not depend on this choice.
    """
    est = estimator or Estimator()
    if est.name not in ("ml", "mlr"):
        raise UserError(f"estimator {est.name!r} is not available in this version (use ml or mlr)")
    spec = as_spec(model)
    if std_lv and not spec.std_lv:
        spec = replace(spec, std_lv=True)
    check_against_data(spec, data.columns, min_indicators=min_indicators, source=source)
    logging.disable(logging.WARNING)  # semopy warns "No fixed loadings" for std.lv / NA* models
    try:
        sem = semopy.Model(spec.to_semopy())
    finally:
        logging.disable(logging.NOTSET)
    if spec.std_lv or any(t.free for t in spec.terms):
        # semopy's starting values follow each factor's fixed marker and loop forever without one:
        # point them at the first indicator (this changes start values only, not the model)
        for factor, items in spec.measurement.items():
            if sem.first_manifs[factor] is None:
                sem.first_manifs[factor] = items[0]
    observed = list(sem.vars["observed"])
    exog = set(sem.vars.get("exogenous", set())) - set(spec.latent)
    fixed_x = [i for i, v in enumerate(observed) if v in exog]
    how = resolve_missing(data, observed, missing) if prepared is None else prepared.missing
    # free parameters before fitting: what the data must at least support
    npar = sum(1 for p in sem.parameters.values() if p.active)
    items = prepared or prepare_items(
        data,
        observed,
        min_n=max(npar + 1, len(observed) + 1, 10),
        source=source,
        what="model",
        missing=how,
        complete=[observed[i] for i in fixed_x],
    )
    if how == "fiml" and not items.has_missing:
        how = "listwise"
    if est.name == "mlr" and fixed_x:
        raise UserError(
            f"{source}: MLR with observed exogenous covariates ({', '.join(observed[i] for i in fixed_x)}) is "
            "not validated against lavaan yet; use the ML estimator"
        )
    x = items.frame[observed].to_numpy(dtype=float)
    n = x.shape[0]
    fiml = None
    if how == "fiml":
        pat = missing_patterns(x)
        h1 = em_saturated(pat)
        s = h1[1]
        _check_pd(s, observed, source)
        start_data = None
    else:
        s = ml_covariance(x)
        start_data = items.frame[observed]
    try:
        res = _fit_semopy(sem, start_data, _s_frame(s, observed), n, est)
        if how == "fiml":
            with threadpool_limits(1), np.errstate(all="ignore"):
                fiml = fit_fiml(sem, pat, h1, fixed_x, ftol=est.ftol, maxiter=est.maxiter)
    except np.linalg.LinAlgError:
        raise DataCheckError(f"{source}: the model could not be fitted (singular matrices)") from None
    sigma = sem.calc_sigma()[0]
    npar = len(sem.param_vals)
    try:
        if fiml is not None:
            fit = fiml_fit_indices(
                logl_h0=fiml.logl_h0,
                logl_h1=fiml.logl_h1,
                logl_base=fiml.logl_base,
                h1_cov=fiml.h1_cov,
                h1_mean=fiml.h1_mean,
                sigma=fiml.sigma,
                mu=fiml.mu,
                n=n,
                n_total=items.n_total,
                npar=npar,
                n_free_means=len(observed) - len(fixed_x),
                fixed_x=fixed_x,
            )
        else:
            fit = fit_indices(s, sigma, n, npar, fixed_x=fixed_x)
            fit = replace(fit, n_total=items.n_total)
    except np.linalg.LinAlgError:
        raise DataCheckError(
            f"{source}: the estimation ended with a non-positive-definite implied covariance matrix; "
            "the model does not fit these data"
        ) from None
    robust_se = robust_acov = None
    if est.name == "mlr" and fiml is not None:
        fit, fiml = _mlr_fiml(sem, pat, fiml, fit)
    elif est.name == "mlr":
        fit, robust_acov = _mlr(sem, x, s, sigma, fit)
        robust_se = np.sqrt(np.clip(np.diag(robust_acov), 0, None))
    std = standardized(sem)
    if fiml is not None:
        params = _param_table(
            sem, spec, std, observed, fiml.se_theta, _intercept_rows(sem, fiml, observed, fixed_x)
        )
        converged, message, iterations = fiml.converged, fiml.message, fiml.iterations
    else:
        extra = _sample_intercepts(sem, x, sigma, observed, fixed_x) if spec.intercepts else []
        params = _param_table(sem, spec, std, observed, robust_se, extra)
        converged, message = bool(res.success), str(res.message)
        iterations = int(getattr(res, "n_it", 0) or 0)
        if extra:  # lavaan's mean structure: every observed intercept free (saturated), in npar/AIC/BIC
            k = len(observed) - len(fixed_x)
            fit = replace(fit, npar=fit.npar + k, aic=fit.aic + 2 * k, bic=fit.bic + k * np.log(n))
    problems = [] if converged else [f"the optimiser did not converge: {message}"]
    problems += _problems(params, std)
    return FittedModel(
        spec=spec,
        model=sem,
        observed=observed,
        s=s,
        n=n,
        n_dropped=items.n_dropped,
        fixed_x=fixed_x,
        converged=converged,
        message=message,
        iterations=iterations,
        fit=fit,
        params=params,
        estimator=est,
        problems=problems,
        n_total=items.n_total,
        missing=how,
        dropped_reason=items.reason,
        fiml=fiml,
        robust_acov=robust_acov,
    )


def _mlr(sem: semopy.Model, x: np.ndarray, s: np.ndarray, sigma: np.ndarray, fit: FitIndices):
    """lavaan's MLR on top of the ML solution: robust statistics in ``fit.robust``, sandwich SEs."""
    from dancerec.indices.fiml import numeric_hessian
    from dancerec.indices.modindices import sigma_jacobian
    from dancerec.indices.robust import mlr_statistics

    theta = sem.param_vals.copy()
    with threadpool_limits(1), np.errstate(all="ignore"):
        obj = MLObjective(sem, s)
        hess = numeric_hessian(obj, theta)
        obj(theta)
        dsig = sigma_jacobian(sem)
        robust, acov = mlr_statistics(
            x, s, sigma, dsig, hess, fit.chi2, fit.df, fit.baseline_chi2, fit.baseline_df
        )
    sem.param_vals = theta
    sem.update_matrices(theta)
    return replace(fit, robust=robust), acov


def _sample_intercepts(
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
                "p": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
            }
        )
    return rows


def _mlr_fiml(sem: semopy.Model, pat, fiml: FIMLResult, fit: FitIndices):
    """MLR with FIML: scaled statistics in ``fit.robust``; sandwich SEs replace the FIML SEs."""
    from dancerec.indices.modindices import sigma_jacobian
    from dancerec.indices.robust import mlr_fiml_statistics

    with threadpool_limits(1), np.errstate(all="ignore"):
        dsig = sigma_jacobian(sem)
        robust, acov = mlr_fiml_statistics(
            pat,
            fiml.mu,
            fiml.sigma,
            fiml.h1_mean,
            fiml.h1_cov,
            dsig,
            fiml.free_mu,
            fiml.hessian_f,
            fit.chi2,
            fit.df,
            fit.baseline_chi2,
            fit.baseline_df,
        )
    se = np.sqrt(np.clip(np.diag(acov), 0, None))
    k = len(sem.param_vals)
    se_mu = np.full(len(fiml.mu), np.nan)
    se_mu[fiml.free_mu] = se[k:]
    fiml = replace(fiml, se_theta=se[:k], se_mu=se_mu, acov_theta=acov[:k, :k], acov=acov)
    return replace(fit, robust=robust), fiml


def _check_pd(s: np.ndarray, observed: list[str], source: str) -> None:
    """Refuse an EM (H1) covariance that is not positive definite, naming the most collinear pair."""
    sd = np.sqrt(np.diag(s))
    corr = s / np.outer(sd, sd)
    if np.linalg.eigvalsh(corr)[0] > 1e-8:
        return
    c = np.abs(corr - np.eye(len(observed)))
    i, j = np.unravel_index(np.argmax(c), c.shape)
    raise DataCheckError(
        f"{source}: the EM estimate of the item covariance matrix is not positive definite; items are "
        f"linearly dependent, e.g. {observed[i]!r} and {observed[j]!r} correlate {corr[i, j]:.3f}"
    )


class MLObjective:
    """Vectorised ML discrepancy and its analytic gradient on semopy's matrices.

    Hand-written because semopy's ``grad_mlw`` loops over parameters in Python (one einsum per
    parameter); this one forms the matrix gradients once per call, which makes refits (bootstrap)
    about an order of magnitude faster. Same objective and parameterisation as semopy's MLW.

    With Sigma = M Psi M' + Theta, M = Lambda C, C = (I - B)^-1 and G = Sigma^-1 - Sigma^-1 S Sigma^-1:
    dF/dLambda = 2 G M Psi C', dF/dB = 2 M' G M Psi C', dF/dPsi = M' G M, dF/dTheta = G.
    """

    def __init__(self, model: semopy.Model, s: np.ndarray):
        self.model = model
        self.npar = len(model.param_vals)
        self.set_cov(s)

    def set_cov(self, s: np.ndarray) -> None:
        self.s = s
        self.logdet_s = float(np.linalg.slogdet(s)[1])
        self.p = s.shape[0]

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """F_ML and its gradient; (inf, 0) wherever Sigma or I - B is singular or not finite, so an
        optimiser backs off instead of crashing (no unguarded inverse: bootstrap resamples hit these)."""
        try:
            return self._evaluate(x)
        except (np.linalg.LinAlgError, ValueError):
            return np.inf, np.zeros(self.npar)

    def _evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        m = self.model
        m.update_matrices(x)
        beta, lamb, psi, theta = m.matrices[:4]
        c = np.linalg.inv(m.identity_c - beta)
        mm = lamb @ c
        sigma = mm @ psi @ mm.T + theta
        if not np.all(np.isfinite(sigma)):
            return np.inf, np.zeros(self.npar)
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros(self.npar)
        logdet = 2.0 * float(np.log(np.diag(chol)).sum())
        inv = np.linalg.inv(sigma)
        inv_s = inv @ self.s
        f = logdet - self.logdet_s + float(np.trace(inv_s)) - self.p
        g = inv - inv_s @ inv
        mg = mm.T @ g
        psi_ct = psi @ c.T
        grads = (2.0 * mg @ mm @ psi_ct, 2.0 * g @ mm @ psi_ct, mg @ mm, g)
        out = np.zeros(self.npar)
        for gm, (r1, r2) in zip(grads, m.param_ranges, strict=False):
            if r1:
                out += np.bincount(r2, weights=gm[r1], minlength=self.npar)
        if not (np.isfinite(f) and np.all(np.isfinite(out))):
            return np.inf, np.zeros(self.npar)
        return f, out
