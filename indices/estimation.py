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
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from dancerec.indices._semopy import model_class
from dancerec.indices.data import DataCheckError, ItemData, ml_covariance, prepare_items
from dancerec.indices.fiml import FIMLResult, em_saturated, fit_fiml, missing_patterns
from dancerec.indices.fitindices import FitIndices, fiml_fit_indices, fit_indices
from dancerec.indices.mlobjective import MLObjective
from dancerec.indices.paramtable import (
    improper_solutions,
    intercept_rows,
    param_table,
    sample_intercepts,
    standardized,
)
from dancerec.indices.syntax import ModelSpec, as_spec, check_against_data
from threadpoolctl import threadpool_limits

from dancerec.errors import UserError

if TYPE_CHECKING:
    import semopy

__all__ = ["ESTIMATORS", "MISSING", "Estimator", "FittedModel", "MLObjective", "estimate", "standardized"]


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

    def describe(self, missing: str = "listwise", std_lv: bool = False) -> str:
        how = (
            "FIML (casewise likelihood with saturated intercepts, H1 by EM, observed-information SEs)"
            if missing == "fiml"
            else "expected-information SEs, listwise deletion"
        )
        if self.name == "mlr":
            how = "robust: Yuan-Bentler scaled chi2 (Mplus variant), Huber-White sandwich SEs, " + (
                "FIML (incomplete rows kept)" if missing == "fiml" else "listwise deletion"
            )
        identification = "unit latent variances (std.lv)" if std_lv else "marker-variable identification"
        return (
            f"{self.name.upper()} (semopy obj={self.objective}, solver={self.solver}, ftol={self.ftol:g}), "
            f"{identification}, {how}"
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


@dataclass
class _Sample:
    """What the fit is computed from: the analysed rows, their (ML or EM) covariance, FIML patterns."""

    items: ItemData
    observed: list[str]
    fixed_x: list[int]
    how: str
    x: np.ndarray
    s: np.ndarray
    pat: object = None  # missing_patterns(x) under FIML
    h1: tuple | None = None  # EM saturated model under FIML

    @property
    def n(self) -> int:
        return self.x.shape[0]


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
    _check_estimator(est)
    spec, sem = _build_model(data, model, std_lv=std_lv, min_indicators=min_indicators, source=source)
    sample = _sample(data, spec, sem, est, prepared=prepared, missing=missing, source=source)
    res, fiml = _fit(sem, sample, est, source)
    sigma = sem.calc_sigma()[0]
    fit = _global_fit(sem, sample, sigma, fiml, source)
    robust_se = robust_acov = None
    if est.name == "mlr" and fiml is not None:
        fit, fiml = _mlr_fiml(sem, sample.pat, fiml, fit)
    elif est.name == "mlr":
        fit, robust_acov = _mlr(sem, sample.x, sample.s, sigma, fit)
        robust_se = np.sqrt(np.clip(np.diag(robust_acov), 0, None))
    std = standardized(sem)
    params, fit, (converged, message, iterations) = _param_results(
        sem, spec, std, sample, sigma, res, fiml, robust_se, fit
    )
    problems = [] if converged else [f"the optimiser did not converge: {message}"]
    problems += improper_solutions(params, std)
    items = sample.items
    return FittedModel(
        spec=spec,
        model=sem,
        observed=sample.observed,
        s=sample.s,
        n=sample.n,
        n_dropped=items.n_dropped,
        fixed_x=sample.fixed_x,
        converged=converged,
        message=message,
        iterations=iterations,
        fit=fit,
        params=params,
        estimator=est,
        problems=problems,
        n_total=items.n_total,
        missing=sample.how,
        dropped_reason=items.reason,
        fiml=fiml,
        robust_acov=robust_acov,
    )


def _check_estimator(est: Estimator) -> None:
    """Only ML and MLR are fitted here; WLSMV has its own path (a clear error instead of wrong numbers)."""
    if est.name not in ("ml", "mlr"):
        raise UserError(
            f"estimator {est.name!r} is not available for this fit (ml or mlr); ordinal models are fitted by "
            "WLSMV through fit_cfa(..., estimator=Estimator('wlsmv')) or dancerec.indices.ordinal.fit_wlsmv"
        )


def _build_model(
    data: pd.DataFrame,
    model: str | ModelSpec | Mapping[str, Sequence[str]],
    *,
    std_lv: bool,
    min_indicators: int,
    source: str,
) -> tuple[ModelSpec, semopy.Model]:
    """The parsed spec (checked against the data's columns) and the semopy model with usable starts."""
    spec = as_spec(model)
    if std_lv and not spec.std_lv:
        spec = replace(spec, std_lv=True)
    check_against_data(spec, data.columns, min_indicators=min_indicators, source=source)
    logging.disable(logging.WARNING)  # semopy warns "No fixed loadings" for std.lv / NA* models
    try:
        sem = model_class()(spec.to_semopy())
    finally:
        logging.disable(logging.NOTSET)
    _point_starts(sem, spec)
    _canonical_parameter_order(sem)
    return spec, sem


def _canonical_parameter_order(sem: semopy.Model) -> None:
    """Order semopy's free parameters by matrix and position.

    semopy creates some parameters while iterating Python sets (the covariances of exogenous factors in
    ``Model.preprocess_effects``), so the order of the optimiser's parameter vector — and with it the last
    bits of every estimate, and the order of any ACOV — changed with PYTHONHASHSEED from one process to
    the next. Called before ``load`` builds the vector (``prepare_params``)."""
    position = {id(mx): i for i, mx in enumerate(sem.matrices)}

    def key(item: tuple[str, object]) -> list[tuple[int, tuple[int, ...]]]:
        return sorted((position[id(loc.matrix)], tuple(sorted(loc.indices))) for loc in item[1].locations)  # type: ignore[attr-defined]

    sem.parameters = dict(sorted(sem.parameters.items(), key=key))


def _point_starts(sem: semopy.Model, spec: ModelSpec) -> None:
    """semopy's starting values follow each factor's fixed marker and loop forever without one: point
    them at the first indicator (this changes start values only, not the model)."""
    if spec.std_lv or any(t.free for t in spec.terms):
        for factor, items in spec.measurement.items():
            if sem.first_manifs[factor] is None:
                sem.first_manifs[factor] = items[0]


def _sample(
    data: pd.DataFrame,
    spec: ModelSpec,
    sem: semopy.Model,
    est: Estimator,
    *,
    prepared: ItemData | None,
    missing: str | None,
    source: str,
) -> _Sample:
    """The analysed rows and their covariance: ML (divisor N) for complete data, EM's for FIML."""
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
    if how != "fiml":
        return _Sample(items, observed, fixed_x, how, x, ml_covariance(x))
    pat = missing_patterns(x)
    h1 = em_saturated(pat)
    _check_pd(h1[1], observed, source)
    return _Sample(items, observed, fixed_x, how, x, h1[1], pat, h1)


def _fit(sem: semopy.Model, sample: _Sample, est: Estimator, source: str):
    """semopy's ML fit to the covariance, then (FIML) the casewise likelihood from those starts."""
    start_data = None if sample.how == "fiml" else sample.items.frame[sample.observed]
    fiml = None
    try:
        res = _fit_semopy(sem, start_data, _s_frame(sample.s, sample.observed), sample.n, est)
        if sample.how == "fiml":
            with threadpool_limits(1), np.errstate(all="ignore"):
                fiml = fit_fiml(
                    sem, sample.pat, sample.h1, sample.fixed_x, ftol=est.ftol, maxiter=est.maxiter
                )
    except np.linalg.LinAlgError:
        raise DataCheckError(f"{source}: the model could not be fitted (singular matrices)") from None
    return res, fiml


def _global_fit(
    sem: semopy.Model, sample: _Sample, sigma: np.ndarray, fiml: FIMLResult | None, source: str
) -> FitIndices:
    """Global fit from :mod:`dancerec.indices.fitindices` (FIML: from the casewise log-likelihoods)."""
    npar = len(sem.param_vals)
    try:
        if fiml is not None:
            return fiml_fit_indices(
                logl_h0=fiml.logl_h0,
                logl_h1=fiml.logl_h1,
                logl_base=fiml.logl_base,
                h1_cov=fiml.h1_cov,
                h1_mean=fiml.h1_mean,
                sigma=fiml.sigma,
                mu=fiml.mu,
                n=sample.n,
                n_total=sample.items.n_total,
                npar=npar,
                n_free_means=len(sample.observed) - len(sample.fixed_x),
                fixed_x=sample.fixed_x,
            )
        fit = fit_indices(sample.s, sigma, sample.n, npar, fixed_x=sample.fixed_x)
        return replace(fit, n_total=sample.items.n_total)
    except np.linalg.LinAlgError:
        raise DataCheckError(
            f"{source}: the estimation ended with a non-positive-definite implied covariance matrix; "
            "the model does not fit these data"
        ) from None


def _param_results(
    sem: semopy.Model,
    spec: ModelSpec,
    std: pd.DataFrame,
    sample: _Sample,
    sigma: np.ndarray,
    res,
    fiml: FIMLResult | None,
    robust_se: np.ndarray | None,
    fit: FitIndices,
) -> tuple[pd.DataFrame, FitIndices, tuple[bool, str, int]]:
    """The parameter table (with intercepts where lavaan has a mean structure) and convergence.

    With sample intercepts, lavaan counts every observed intercept as free: npar/AIC/BIC grow by them."""
    observed, fixed_x = sample.observed, sample.fixed_x
    if fiml is not None:
        params = param_table(
            sem, spec, std, observed, fiml.se_theta, intercept_rows(sem, fiml, observed, fixed_x)
        )
        return params, fit, (fiml.converged, fiml.message, fiml.iterations)
    extra = sample_intercepts(sem, sample.x, sigma, observed, fixed_x) if spec.intercepts else []
    params = param_table(sem, spec, std, observed, robust_se, extra)
    converged, message = bool(res.success), str(res.message)
    iterations = int(getattr(res, "n_it", 0) or 0)
    if extra:  # lavaan's mean structure: every observed intercept free (saturated), in npar/AIC/BIC
        k = len(observed) - len(fixed_x)
        n = sample.n
        fit = replace(fit, npar=fit.npar + k, aic=fit.aic + 2 * k, bic=fit.bic + k * np.log(n))
    return params, fit, (converged, message, iterations)


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
