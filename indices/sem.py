"""Structural equation models: latent (and observed) variables regressed on each other.

``fit_sem(data, syntax)`` fits any lavaan-style model by ML with the settings of
:mod:`dancerec.indices.estimation` (exogenous observed covariates, such as per-user offline metrics,
are allowed: their (co)variances are fixed at the sample values, lavaan's ``fixed.x``). It reports the
global fit on lavaan's scale, standardised paths (``std.all``) with SE, z and p, the R^2 of every
endogenous variable, and indirect effects with confidence intervals:

- ``ci="bootstrap"`` (default, >= 1000 resamples): nonparametric bootstrap of respondents with
  percentile intervals (lavaan's ``boot.ci.type = "perc"``). Each resample is refitted from the
  full-sample estimates (warm start) on its covariance matrix, which makes 1000 resamples of the
  30-item model take well under a minute instead of several;
- ``ci="montecarlo"``: the Monte Carlo method (MacKinnon, Lockwood & Williams 2004; Preacher &
  Selig 2012): parameters drawn from N(theta, ACOV) and the effect recomputed per draw. No refits.

Indirect effects are lavaan ``:=`` definitions (products of path labels) and/or chains of variables
(``indirect=[("content", "usefulness", "experience")]``: product of the consecutive paths).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.cfa import _loadings, _measurement_json
from dancerec.indices.data import prepare_items
from dancerec.indices.estimation import Estimator, FittedModel, estimate, standardized
from dancerec.indices.fitindices import FitIndices
from dancerec.indices.resampling import bootstrap, delta_se, montecarlo
from dancerec.indices.syntax import (
    ModelSpec,
    as_spec,
    evaluate_defined,
    measurement_syntax,
    parse_model,
)
from scipy import stats

from dancerec.display import DisplayMixin
from dancerec.errors import UserError

__all__ = [
    "DEFAULT_STRUCTURAL_FILE",
    "SEMResult",
    "default_sem_syntax",
    "default_structural_syntax",
    "fit_sem",
]

DEFAULT_STRUCTURAL_FILE = "structural_default.lav"
CI_METHODS = ("bootstrap", "montecarlo", "none")


def default_structural_syntax() -> str:
    """The shipped default structural model for the 8 dimensions (lavaan syntax, no measurement part)."""
    return (resources.files("dancerec.indices") / "models" / DEFAULT_STRUCTURAL_FILE).read_text(
        encoding="utf-8"
    )


def default_sem_syntax(structure: Mapping[str, Sequence[str]], structural: str | None = None) -> str:
    """Measurement model of ``structure`` plus a structural model (default: the shipped one).

    Refuses a structural model that names dimensions the structure does not have.
    """
    structural = structural if structural is not None else default_structural_syntax()
    spec = parse_model(structural, source="structural model")
    names = set(structure)
    used = {v for t in spec.terms for v in (t.lhs, t.rhs)}
    unknown = sorted(used - names)
    if unknown:
        raise UserError(
            "the structural model names dimension(s) the instrument does not have: "
            + ", ".join(unknown)
            + f" (instrument dimensions: {', '.join(structure)}); give a model file with --model"
        )
    return measurement_syntax(structure) + "\n" + structural


@dataclass
class SEMResult(DisplayMixin):
    """A fitted structural model.

    ``paths``: lhs (outcome), rhs (predictor), label, estimate, std, se, z, p.
    ``r2``: variable, r2 for every endogenous variable. ``indirect``: name, definition, estimate,
    std, ci_low, ci_high (for ``estimate``), std_ci_low, std_ci_high, se (resampling SD of std).
    """

    fit: FitIndices
    loadings: pd.DataFrame
    paths: pd.DataFrame
    r2: pd.DataFrame
    covariances: pd.DataFrame
    indirect: pd.DataFrame
    ci_method: str
    n_resamples: int
    n_failed: int
    level: float
    seed: int
    converged: bool
    problems: list[str]
    estimator: str
    syntax: str
    n_dropped: int
    params: pd.DataFrame
    fitted: FittedModel | None = field(default=None, repr=False, compare=False)

    def summary_header(self) -> list[str]:
        return (
            [f"Estimator: {self.estimator}", self.n_note] if self.n_note else [f"Estimator: {self.estimator}"]
        )

    def summary_frames(self) -> dict[str, pd.DataFrame]:
        """Global fit, structural paths, R² and indirect effects."""
        from dancerec.indices.cfa import fit_table

        return {
            "Global fit": fit_table(self.fit),
            "Structural paths (std = completely standardised)": self.paths,
            "Loadings": self.loadings,
            "Indirect effects": self.indirect,
        }

    @property
    def n(self) -> int:
        return self.fit.n

    @property
    def n_note(self) -> str:
        """'N used k of n' with the reason the rest were not used."""
        return self.fitted.n_note if self.fitted is not None else f"N used {self.fit.n}"

    @property
    def parameters(self) -> pd.DataFrame:
        """All parameters in semopy/lavaan column names: lval, op, rval, estimate, std, se, z, p."""
        p = self.params.rename(columns={"lhs": "lval", "rhs": "rval"})
        return p[["lval", "op", "rval", "label", "estimate", "std", "se", "z", "p"]]

    def to_json(self) -> dict[str, Any]:
        """The JSON payload of ``dancerec indices sem --json``."""
        out = _measurement_json(self.fit, self.loadings, self.n_note)
        out["paths"] = [
            {"lhs": r.lhs, "rhs": r.rhs, "estimate": r.estimate, "std": r.std, "se": r.se, "z": r.z, "p": r.p}
            for r in self.paths.itertuples()
        ]
        out["r2"] = {r.variable: r.r2 for r in self.r2.itertuples()}
        out["indirect"] = [
            {
                "name": r.name,
                "definition": r.definition,
                "estimate": r.estimate,
                "std": r.std,
                "ci": [r.ci_low, r.ci_high],
                "std_ci": [r.std_ci_low, r.std_ci_high],
                "se_delta": r.se_delta,
                "p_delta": r.p,
            }
            for r in self.indirect.itertuples()
        ]
        out["ci_method"] = self.ci_method
        out["n_resamples"] = self.n_resamples
        return out


# ----------------------------------------------------------------------------------------------
# effects: defined parameters and chains, evaluated on the model's current matrices
# ----------------------------------------------------------------------------------------------
class _Effects:
    """Evaluates every requested effect (unstandardised and std.all) from semopy's matrices."""

    def __init__(self, fm: FittedModel, chains: Mapping[str, Sequence[str]]):
        self.model = fm.model
        self.spec = fm.spec
        self.defined = dict(fm.spec.defined)
        self.chains = {k: list(v) for k, v in chains.items()}
        model = self.model
        self.inner = {v: i for i, v in enumerate(model.names_beta[0])}
        self.obs = {v: i for i, v in enumerate(model.names_lambda[0])}
        regs = {(t.lhs, t.rhs) for t in fm.spec.regressions}
        for name, chain in self.chains.items():
            if len(chain) < 3:
                raise UserError(f"indirect effect {name!r}: a chain needs at least 3 variables")
            for a, b in itertools.pairwise(chain):
                if (b, a) not in regs:
                    raise UserError(f"indirect effect {name!r}: the model has no path {b} ~ {a}")
        # where each label lives: (matrix name, row index, col index)
        self.where: dict[str, tuple[str, int, int]] = {}
        for label, term in fm.spec.labels.items():
            if term.op == "~":
                self.where[label] = ("beta", self.inner[term.lhs], self.inner[term.rhs])
            elif term.op == "=~":
                self.where[label] = ("lambda", self.obs[term.rhs], self.inner[term.lhs])
            else:
                a = self.inner.get(term.lhs)
                b = self.inner.get(term.rhs)
                if a is None or b is None:
                    self.where[label] = ("theta", self.obs[term.lhs], self.obs[term.rhs])
                else:
                    self.where[label] = ("psi", a, b)

    @property
    def names(self) -> list[str]:
        return [*self.defined, *self.chains]

    def definitions(self) -> list[str]:
        out = list(self.defined.values())
        out += [" -> ".join(c) for c in self.chains.values()]
        return out

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.model
        beta, lamb, psi, theta = m.matrices[:4]
        c = np.linalg.inv(m.identity_c - beta)
        cov = c @ psi @ c.T
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        sd_obs = None
        vals: dict[str, float] = {}
        svals: dict[str, float] = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for label, (mx, i, j) in self.where.items():
                if mx in ("lambda", "theta") and sd_obs is None:
                    sd_obs = np.sqrt(np.diag(lamb @ cov @ lamb.T + theta))
                if mx == "beta":
                    vals[label] = float(beta[i, j])
                    svals[label] = float(beta[i, j] * sd[j] / sd[i])
                elif mx == "lambda":
                    vals[label] = float(lamb[i, j])
                    svals[label] = float(lamb[i, j] * sd[j] / sd_obs[i])
                elif mx == "psi":
                    vals[label] = float(psi[i, j])
                    svals[label] = float(psi[i, j] / (sd[i] * sd[j]))
                else:
                    vals[label] = float(theta[i, j])
                    svals[label] = float(theta[i, j] / (sd_obs[i] * sd_obs[j]))
            est, std = [], []
            for expr in self.defined.values():
                est.append(evaluate_defined(expr, vals))
                std.append(evaluate_defined(expr, svals))
            for chain in self.chains.values():
                e = s = 1.0
                for a, b in itertools.pairwise(chain):
                    i, j = self.inner[b], self.inner[a]
                    e *= float(beta[i, j])
                    s *= float(beta[i, j] * sd[j] / sd[i])
                est.append(e)
                std.append(s)
        return np.array(est), np.array(std)


# ----------------------------------------------------------------------------------------------
def _paths(params: pd.DataFrame) -> pd.DataFrame:
    sub = params[params["kind"] == "regression"]
    return sub[["lhs", "rhs", "label", "estimate", "std", "se", "z", "p"]].reset_index(drop=True)


@single_blas_thread
def fit_sem(
    data: pd.DataFrame,
    syntax: str | ModelSpec,
    *,
    indirect: Sequence[Sequence[str]] | Mapping[str, Sequence[str]] | None = None,
    ci: str = "bootstrap",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    estimator: Estimator | None = None,
    min_indicators: int = 3,
    source: str = "model",
    progress: Callable[[int, int], None] | None = None,
    missing: str | None = None,
    std_lv: bool = False,
) -> SEMResult:
    """Fit a structural equation model and its indirect effects.

    ``syntax``: lavaan-style model (measurement ``=~`` and structural ``~`` parts; ``:=`` for indirect
    effects). ``indirect``: extra indirect effects as chains of variable names (a list, or a mapping
    name -> chain). ``ci``: "bootstrap" (``n_boot`` resamples), "montecarlo" (``n_boot`` draws) or
    "none". ``progress(done, total)`` is called after every resample.
    """
    if ci not in CI_METHODS:
        raise UserError(f"unknown CI method {ci!r} (use {', '.join(CI_METHODS)})")
    if ci != "none" and n_boot < 1:
        raise UserError("the number of resamples must be positive")
    spec = as_spec(syntax)
    est = estimator or Estimator()
    fm = estimate(
        data,
        spec,
        estimator=est,
        min_indicators=min_indicators,
        source=source,
        missing=missing,
        std_lv=std_lv,
    )
    effects = _Effects(fm, _indirect_chains(indirect))
    base_raw, base_std = effects() if effects.names else (np.array([]), np.array([]))
    se_delta = delta_se(fm, effects) if effects.names else np.array([])
    raw, std, failed, n_done = _resample(data, fm, effects, ci, n_boot, seed, est, progress)
    indirect_df = _indirect_table(effects, base_raw, base_std, se_delta, raw, std, level)
    problems = list(fm.problems)
    if failed:
        problems.append(f"{failed} of {n_done} {ci} resamples failed and were left out")
    params = fm.params
    return SEMResult(
        fit=fm.fit,
        loadings=_loadings(params),
        paths=_paths(params),
        r2=_r2_table(fm),
        covariances=params[params["kind"] == "covariance"].reset_index(drop=True),
        indirect=indirect_df,
        ci_method=ci if effects.names else "none",
        n_resamples=n_done - failed,
        n_failed=failed,
        level=level,
        seed=seed,
        converged=fm.converged,
        problems=problems,
        estimator=est.describe(fm.missing, fm.spec.std_lv),
        syntax=fm.spec.to_lavaan(),
        n_dropped=fm.n_dropped,
        params=params,
        fitted=fm,
    )


def _indirect_chains(
    indirect: Sequence[Sequence[str]] | Mapping[str, Sequence[str]] | None,
) -> dict[str, list[str]]:
    """Extra indirect effects as name -> chain of variables (a bare chain is named "a -> b -> c")."""
    if indirect is None:
        return {}
    items = indirect.items() if isinstance(indirect, Mapping) else ((" -> ".join(c), c) for c in indirect)
    return {str(k): [str(v) for v in c] for k, c in items}


def _resample(
    data: pd.DataFrame,
    fm: FittedModel,
    effects: _Effects,
    ci: str,
    n_boot: int,
    seed: int,
    est: Estimator,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Raw and standardised indirect effects per bootstrap resample or Monte Carlo draw (empty when
    there is no effect or ``ci="none"``), the number of failed resamples and the number attempted."""
    raw = std = np.empty((0, len(effects.names)))
    failed, n_done = 0, 0
    if effects.names and ci == "bootstrap":
        x = (
            prepare_items(
                data,
                fm.observed,
                min_n=1,
                need_pd=False,
                missing=fm.missing,
                complete=[fm.observed[i] for i in fm.fixed_x],
            )
            .frame[fm.observed]
            .to_numpy(float)
        )
        raw, std, failed = bootstrap(fm, x, effects, n_boot, seed, est, progress)
        n_done = n_boot
    elif effects.names and ci == "montecarlo":
        raw, std, failed = montecarlo(fm, effects, n_boot, seed)
        n_done = n_boot
    return raw, std, failed, n_done


INDIRECT_COLUMNS = [
    "name",
    "definition",
    "estimate",
    "std",
    "ci_low",
    "ci_high",
    "std_ci_low",
    "std_ci_high",
    "se",
    "std_se",
    "se_delta",
    "z",
    "p",
]


def _indirect_table(
    effects: _Effects,
    base_raw: np.ndarray,
    base_std: np.ndarray,
    se_delta: np.ndarray,
    raw: np.ndarray,
    std: np.ndarray,
    level: float,
) -> pd.DataFrame:
    """One row per indirect effect: estimate, delta-method z and p, and percentile intervals and SD of
    the resamples (NaN without resamples)."""
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    rows = []
    for k, (name, definition) in enumerate(zip(effects.names, effects.definitions(), strict=True)):
        row = {
            "name": name,
            "definition": definition,
            "estimate": float(base_raw[k]),
            "std": float(base_std[k]),
            "ci_low": np.nan,
            "ci_high": np.nan,
            "std_ci_low": np.nan,
            "std_ci_high": np.nan,
            "se": np.nan,
            "std_se": np.nan,
            "se_delta": float(se_delta[k]),
            "z": float(base_raw[k] / se_delta[k]) if se_delta[k] > 0 else np.nan,
            "p": float(2 * stats.norm.sf(abs(base_raw[k] / se_delta[k]))) if se_delta[k] > 0 else np.nan,
        }
        if len(raw):
            lo, hi = np.percentile(raw[:, k], q)
            slo, shi = np.percentile(std[:, k], q)
            row.update(
                ci_low=float(lo),
                ci_high=float(hi),
                std_ci_low=float(slo),
                std_ci_high=float(shi),
                se=float(np.std(raw[:, k], ddof=1)) if len(raw) > 1 else np.nan,
                std_se=float(np.std(std[:, k], ddof=1)) if len(raw) > 1 else np.nan,
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=INDIRECT_COLUMNS)


def _r2_table(fm: FittedModel) -> pd.DataFrame:
    """R^2 of every endogenous latent/observed variable of the structural part."""
    stdz = standardized(fm.model)
    r2_rows = [
        {"variable": v, "r2": float(stdz.r2_inner[stdz.inner.index(v)])}
        for v in fm.spec.endogenous
        if v in stdz.inner
    ]
    return pd.DataFrame(r2_rows, columns=["variable", "r2"])
