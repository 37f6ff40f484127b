"""The LISREL-type matrices of an ordinal CFA/SEM in lavaan's delta parameterisation, and their derivatives.

Latent responses y* are standard normal (delta parameterisation, lavaan's default for WLSMV):
Sigma* = Lambda C Psi C' Lambda' + Theta with C = (I - B)^-1, and the residual variances on Theta's
diagonal are not parameters but 1 - diag(Lambda C Psi C' Lambda'), so diag(Sigma*) = 1. The free
parameters are loadings, latent regressions (B), latent (residual) variances and covariances (Psi), and
residual covariances between items (Theta's off-diagonal). Defaults follow lavaan's ``cfa``/``sem``: the
first loading of each factor is fixed at 1 (marker), exogenous latent variables covary freely, endogenous
ones have free residual variances only. A label used twice is an equality constraint.

Supported scope (refused otherwise, with the reason): every observed variable is an ordinal indicator of a
latent variable; regressions and covariances relate latent variables, residual covariances relate items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from dancerec.indices.polychoric import pair_index
from dancerec.indices.syntax import ModelSpec

from dancerec.errors import UserError

__all__ = ["OrdinalModel", "build_model"]


@dataclass
class Param:
    """One free parameter and the matrix cells it fills ("L", "B", "P", "T"; symmetric cells both ways)."""

    name: str
    kind: str
    cells: list[tuple[str, int, int]] = field(default_factory=list)
    start: float = 0.0


@dataclass
class Entry:
    """One row of the parameter table: a matrix cell with its term, free parameter index or fixed value."""

    kind: str
    lhs: str
    op: str
    rhs: str
    label: str | None
    matrix: str
    i: int
    j: int
    param: int | None
    fixed: float = 0.0


@dataclass
class OrdinalModel:
    """Matrix layout of the model; :meth:`implied` and :meth:`jacobian` evaluate it at a parameter vector."""

    items: list[str]
    latent: list[str]
    params: list[Param]
    entries: list[Entry]
    fixed_cells: list[tuple[str, int, int, float]]

    @property
    def npar(self) -> int:
        return len(self.params)

    def start(self) -> np.ndarray:
        return np.array([p.start for p in self.params], dtype=float)

    def matrices(self, x: np.ndarray) -> dict[str, np.ndarray]:
        p, m = len(self.items), len(self.latent)
        mats = {"L": np.zeros((p, m)), "B": np.zeros((m, m)), "P": np.zeros((m, m)), "T": np.zeros((p, p))}
        for name, i, j, value in self.fixed_cells:
            mats[name][i, j] = value
        for k, par in enumerate(self.params):
            for name, i, j in par.cells:
                mats[name][i, j] = x[k]
        return mats

    def implied(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Sigma* with unit diagonal, and the matrices (Theta's diagonal filled in)."""
        mats = self.matrices(x)
        c = np.linalg.inv(np.eye(len(self.latent)) - mats["B"])
        a = mats["L"] @ c
        common = a @ mats["P"] @ a.T
        theta = mats["T"].copy()
        np.fill_diagonal(theta, 1.0 - np.diag(common))
        mats["T"] = theta
        mats["C"] = c
        return common + theta, mats

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """d vech_offdiag(Sigma*) / d x, (n_correlations, npar), rows in :func:`pair_index` order."""
        mats = self.matrices(x)
        lam, psi = mats["L"], mats["P"]
        c = np.linalg.inv(np.eye(len(self.latent)) - mats["B"])
        a = lam @ c  # (p, m)
        m_right = c @ psi @ a.T  # (m, p): C Psi C' Lambda'
        rows, cols = pair_index(len(self.items))
        out = np.zeros((len(rows), self.npar))
        p = len(self.items)
        for k, par in enumerate(self.params):
            d = np.zeros((p, p))
            for name, i, j in par.cells:
                if name == "L":  # d Sigma = e_i M[j] + transpose
                    d[i, :] += m_right[j]
                    d[:, i] += m_right[j]
                elif name == "B":  # d C = C E_ij C: d Sigma = a_i (C Psi C' Lambda')_j + transpose
                    term = np.outer(a[:, i], m_right[j])
                    d += term + term.T
                elif name == "P":  # one cell of Psi (the symmetric partner is its own entry)
                    d += np.outer(a[:, i], a[:, j])
                else:  # Theta off-diagonal cell
                    d[i, j] += 1.0
            out[:, k] = d[rows, cols]
        return out


def _check_scope(spec: ModelSpec) -> tuple[list[str], list[str]]:
    latent = spec.latent
    if not latent:
        raise UserError("the ordinal estimator needs a measurement model (at least one 'factor =~ items')")
    items = list(dict.fromkeys(i for f in latent for i in spec.measurement[f]))
    latent_set, item_set = set(latent), set(items)
    for t in spec.regressions:
        bad = [v for v in (t.lhs, t.rhs) if v not in latent_set]
        if bad:
            raise UserError(
                f"WLSMV: regression '{t.lhs} ~ {t.rhs}' involves observed variable(s) {', '.join(bad)}; "
                "only regressions among latent variables are supported for ordinal indicators"
            )
    for t in spec.covariances:
        both_latent = t.lhs in latent_set and t.rhs in latent_set
        both_items = t.lhs in item_set and t.rhs in item_set and t.lhs != t.rhs
        if not (both_latent or both_items):
            raise UserError(
                f"WLSMV: '{t.lhs} ~~ {t.rhs}' is not supported: with ordinal indicators (delta "
                "parameterisation) item variances are not parameters; use covariances between latent "
                "variables or between two items"
            )
    if any(i in latent_set for i in items):
        raise UserError("WLSMV: higher-order factors (a factor measured by factors) are not supported")
    return items, latent


def build_model(spec: ModelSpec) -> OrdinalModel:
    """Lay out the matrices and free parameters of ``spec`` (see the module docstring for the defaults)."""
    items, latent = _check_scope(spec)
    ii = {v: k for k, v in enumerate(items)}
    li = {v: k for k, v in enumerate(latent)}
    params: list[Param] = []
    by_label: dict[str, int] = {}
    entries: list[Entry] = []
    fixed: list[tuple[str, int, int, float]] = []

    def add(kind, lhs, op, rhs, label, value, matrix, i, j, start, symmetric=False):
        cells = [(matrix, i, j)] + ([(matrix, j, i)] if symmetric and i != j else [])
        if value is not None:
            fixed.extend((m, a, b, float(value)) for m, a, b in cells)
            entries.append(Entry(kind, lhs, op, rhs, label, matrix, i, j, None, float(value)))
            return
        if label is not None and label in by_label:
            k = by_label[label]
        else:
            k = len(params)
            params.append(Param(label or f"{lhs}{op}{rhs}", kind, [], start))
            if label is not None:
                by_label[label] = k
        params[k].cells.extend(cells)
        entries.append(Entry(kind, lhs, op, rhs, label, matrix, i, j, k))

    first = {f: True for f in latent}
    for t in spec.terms:
        if t.op != "=~":
            continue
        value = t.fixed
        if value is None and first[t.lhs] and t.label is None:
            value = 1.0  # marker-variable identification
        first[t.lhs] = False
        add("loading", t.lhs, "=~", t.rhs, t.label, value, "L", ii[t.rhs], li[t.lhs], 0.7)
    for t in spec.regressions:
        add("regression", t.lhs, "~", t.rhs, t.label, t.fixed, "B", li[t.lhs], li[t.rhs], 0.0)
    endogenous = set(spec.endogenous)
    explicit = {(t.lhs, t.rhs) for t in spec.covariances} | {(t.rhs, t.lhs) for t in spec.covariances}
    for f in latent:
        if (f, f) not in explicit:
            add("variance", f, "~~", f, None, None, "P", li[f], li[f], 0.5)
    exo = [f for f in latent if f not in endogenous]
    for a_pos, a in enumerate(exo):
        for b in exo[a_pos + 1 :]:
            if (a, b) not in explicit:
                add("covariance", a, "~~", b, None, None, "P", li[a], li[b], 0.0, symmetric=True)
    for t in spec.covariances:
        if t.lhs in li:
            kind = "variance" if t.lhs == t.rhs else "covariance"
            start = 0.5 if t.lhs == t.rhs else 0.0
            add(kind, t.lhs, "~~", t.rhs, t.label, t.fixed, "P", li[t.lhs], li[t.rhs], start, symmetric=True)
        else:
            add(
                "residual covariance",
                t.lhs,
                "~~",
                t.rhs,
                t.label,
                t.fixed,
                "T",
                ii[t.lhs],
                ii[t.rhs],
                0.0,
                True,
            )
    return OrdinalModel(items, latent, params, entries, fixed)
