"""Confirmatory factor analysis: the measurement model from an instrument or lavaan syntax, fitted by ML
with semopy (settings in :mod:`dancerec.indices.estimation`), global fit on lavaan's scale, standardised
loadings with SE/z/p, factor correlations, residual correlations and improper-solution diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.estimation import Estimator, FittedModel, estimate
from dancerec.indices.fitindices import FitIndices, fit_rows, measurement_json
from dancerec.indices.syntax import ModelSpec

from dancerec.display import DisplayMixin

__all__ = ["CFAResult", "fit_cfa", "fit_table"]


def fit_table(fit: FitIndices) -> pd.DataFrame:
    """Global fit as a two-column table (index, value) in the order papers report it."""
    return pd.DataFrame(fit_rows(fit), columns=["index", "value"])


def _measurement_json(fit: FitIndices, loadings: pd.DataFrame, n_note: str = "") -> dict[str, Any]:
    """Global fit and loadings: the part of the ``--json`` payload CFA and SEM share."""
    return measurement_json(fit, loadings.itertuples(), n_note)


@dataclass
class CFAResult(DisplayMixin):
    """A fitted measurement model.

    ``loadings``: factor, item, estimate, std (std.all), se, z, p. ``factor_correlations``: latent
    correlation matrix. ``residual_correlations``: observed minus model-implied correlations (lavaan's
    ``resid(fit, "cor")``). ``problems``: non-convergence and Heywood cases, never hidden.
    """

    fit: FitIndices
    loadings: pd.DataFrame
    factor_correlations: pd.DataFrame
    residual_variances: pd.DataFrame
    residual_correlations: pd.DataFrame
    structure: dict[str, list[str]]
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
        """Global fit, loadings and factor correlations (what lavaan's ``summary(fit)`` leads with)."""
        return {
            "Global fit": fit_table(self.fit),
            "Loadings (std = completely standardised)": self.loadings,
            "Factor correlations": self.factor_correlations,
        }

    @property
    def n(self) -> int:
        return self.fit.n

    def std_loadings(self) -> dict[str, pd.Series]:
        """factor -> standardised loadings of its items."""
        out = {}
        for factor, items in self.structure.items():
            sub = self.loadings[self.loadings["factor"] == factor].set_index("item")["std"]
            out[factor] = sub.reindex(items)
        return out

    def largest_residuals(self, k: int = 10) -> pd.DataFrame:
        """The k largest absolute residual correlations (local misfit)."""
        r = self.residual_correlations
        cols = list(r.columns)
        rows = [(cols[i], cols[j], float(r.iat[i, j])) for i in range(len(cols)) for j in range(i)]
        df = pd.DataFrame(rows, columns=["item_a", "item_b", "residual_r"])
        return (
            df.reindex(df["residual_r"].abs().sort_values(ascending=False).index)
            .head(k)
            .reset_index(drop=True)
        )

    @property
    def n_note(self) -> str:
        """'N used k of n' with the reason the rest were not used."""
        return self.fitted.n_note if self.fitted is not None else f"N used {self.fit.n}"

    def to_json(self) -> dict[str, Any]:
        """The JSON payload of ``dancerec indices cfa --json``."""
        return _measurement_json(self.fit, self.loadings, self.n_note)


def _loadings(params: pd.DataFrame) -> pd.DataFrame:
    sub = params[params["kind"] == "loading"]
    return pd.DataFrame(
        {
            "factor": sub["lhs"].to_numpy(),
            "item": sub["rhs"].to_numpy(),
            "estimate": sub["estimate"].to_numpy(),
            "std": sub["std"].to_numpy(),
            "se": sub["se"].to_numpy(),
            "z": sub["z"].to_numpy(),
            "p": sub["p"].to_numpy(),
        }
    )


def _latent_corr(fm: FittedModel) -> pd.DataFrame:
    from dancerec.indices.estimation import standardized

    std = standardized(fm.model)
    latent = fm.spec.latent
    idx = [std.inner.index(f) for f in latent]
    return pd.DataFrame(std.inner_corr[np.ix_(idx, idx)], index=latent, columns=latent)


def _residual_corr(fm: FittedModel) -> pd.DataFrame:
    s, sigma = fm.s, fm.sigma
    ds = np.sqrt(np.diag(s))
    dm = np.sqrt(np.diag(sigma))
    resid = s / np.outer(ds, ds) - sigma / np.outer(dm, dm)
    return pd.DataFrame(resid, index=fm.observed, columns=fm.observed)


def result_from_fitted(fm: FittedModel) -> CFAResult:
    params = fm.params
    rv = params[params["kind"] == "residual variance"]
    residual_variances = pd.DataFrame(
        {
            "item": rv["lhs"].to_numpy(),
            "estimate": rv["estimate"].to_numpy(),
            "std": rv["std"].to_numpy(),
            "r2": 1.0 - rv["std"].to_numpy(),
        }
    )
    return CFAResult(
        fit=fm.fit,
        loadings=_loadings(params),
        factor_correlations=_latent_corr(fm),
        residual_variances=residual_variances,
        residual_correlations=_residual_corr(fm),
        structure=fm.spec.measurement,
        converged=fm.converged,
        problems=list(fm.problems),
        estimator=fm.estimator.describe(fm.missing, fm.spec.std_lv),
        syntax=fm.spec.to_lavaan(),
        n_dropped=fm.n_dropped,
        params=params,
        fitted=fm,
    )


@single_blas_thread
def fit_cfa(
    data: pd.DataFrame,
    model: str | ModelSpec | Mapping[str, Sequence[str]],
    *,
    estimator: Estimator | None = None,
    min_indicators: int = 3,
    source: str = "model",
    missing: str | None = None,
    std_lv: bool = False,
) -> CFAResult:
    """Fit a CFA measurement model (ML/MLR; ``Estimator("wlsmv")`` returns an :class:`OrdinalFit`).

    ``model`` is lavaan syntax (``visual =~ x1 + x2 + x3``), a parsed :class:`ModelSpec`, or a
    ``{factor: [items]}`` dict (e.g. ``Instrument.dimension_items()``). Items must already be
    reverse-recoded. Raises :class:`dancerec.errors.UserError` for unknown items, factors with fewer
    than ``min_indicators`` items, constant items, too few respondents or a non-PD covariance matrix.
    """
    if estimator is not None and estimator.name == "wlsmv":
        from dancerec.indices.ordinal import fit_wlsmv

        return fit_wlsmv(data, model)  # type: ignore[return-value]  # OrdinalFit: same loadings/fit names
    fm = estimate(
        data,
        model,
        estimator=estimator,
        min_indicators=min_indicators,
        source=source,
        missing=missing,
        std_lv=std_lv,
    )
    if fm.spec.regressions:
        from dancerec.errors import UserError

        raise UserError(f"{source}: the model has regressions (~); use fit_sem for structural models")
    return result_from_fitted(fm)
