"""Partial measurement invariance: which equality constraints to release, and score tests that suggest them.

- ``parse_free("visual=~x2, x7~1")``: lavaan's ``group.partial`` notation. ``factor=~item`` releases
  that loading, ``item~1`` that intercept, ``item~~item`` that residual variance, in every group.
- ``score_tests``: lavaan's ``lavTestScore()`` univariate score (Lagrange multiplier) tests, one per
  equality constraint (group 1 against group g, 1 df): with the unit expected information I of the
  unconstrained ("full") parameterisation evaluated at the constrained estimates (lavaan's default,
  structured), the gradient g of lavaan's F_ML there and the Jacobian R of the other constraints,
  X2 = N g' [(I R'; R 0)^+]_11 g. A large X2 means releasing that constraint improves the fit by
  about X2 chi-square units. ``p_holm`` adjusts across all the constraints tested (Holm); the
  suggestion is to release the largest one first, refit, and test again.

Written here because no Python library fits multi-group models with these constraints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dancerec.errors import UserError

__all__ = ["format_free", "parse_free", "score_tests"]


def parse_free(spec: str | Sequence[str] | None, structure: Mapping[str, Sequence[str]]) -> frozenset:
    """Parameters to release, as layout keys; ``spec`` is comma-separated lavaan notation."""
    if spec is None:
        return frozenset()
    parts = [p for chunk in ([spec] if isinstance(spec, str) else spec) for p in str(chunk).split(",")]
    items = {i for its in structure.values() for i in its}
    out = set()
    for raw in parts:
        term = "".join(raw.split())
        if not term:
            continue
        if "=~" in term:
            factor, item = term.split("=~", 1)
            if factor not in structure or item not in structure[factor]:
                raise UserError(
                    f"--free {raw.strip()!r}: {item!r} is not an indicator of {factor!r} in the model"
                )
            if structure[factor][0] == item:
                raise UserError(
                    f"--free {raw.strip()!r}: {item!r} is the marker of {factor!r} (its loading is fixed to 1 "
                    "in every group); release another loading"
                )
            out.add(("lam", item, factor))
        elif term.endswith("~1"):
            item = term[:-2]
            if item not in items:
                raise UserError(f"--free {raw.strip()!r}: {item!r} is not an item of the model")
            out.add(("nu", item))
        elif "~~" in term:
            a, b = term.split("~~", 1)
            if a != b or a not in items:
                raise UserError(
                    f"--free {raw.strip()!r}: only residual variances (item~~item) can be released"
                )
            out.add(("theta", a))
        else:
            raise UserError(
                f"--free {raw.strip()!r}: use factor=~item (loading), item~1 (intercept) or item~~item "
                "(residual variance)"
            )
    return frozenset(out)


def format_free(free: frozenset, level: str) -> str:
    """The released parameters that matter at ``level``, in lavaan notation (empty when none)."""
    kinds = {"configural": (), "metric": ("lam",), "scalar": ("lam", "nu"), "strict": ("lam", "nu", "theta")}
    terms = []
    for key in sorted(free):
        if key[0] not in kinds[level]:
            continue
        if key[0] == "lam":
            terms.append(f"{key[2]}=~{key[1]}")
        elif key[0] == "nu":
            terms.append(f"{key[1]}~1")
        else:
            terms.append(f"{key[1]}~~{key[1]}")
    return ", ".join(terms)


def _arrays(layout) -> list[np.ndarray]:
    return [layout.lam, layout.phi, layout.theta, layout.nu, layout.alpha]


def _moments(layout, x: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray]:
    lam, phi, theta, nu, alpha = layout.unpack(x, g)
    return lam @ phi @ lam.T + theta, nu + lam @ alpha


def _expected_information(layout, x: np.ndarray, weights: list[float]) -> np.ndarray:
    """Unit expected information of lavaan's F_ML at the model-implied moments (structured).

    I = sum_g w_g [dmu' S^-1 dmu + 1/2 tr(S^-1 dS_a S^-1 dS_b)], derivatives by central differences
    (the moments are polynomial in the parameters, so the error is ~1e-10).
    """
    npar = len(x)
    info = np.zeros((npar, npar))
    for g, w in enumerate(weights):
        sigma, _ = _moments(layout, x, g)
        inv = np.linalg.inv(sigma)
        used = np.unique(np.concatenate([a[g].ravel() for a in _arrays(layout)]))
        used = used[used >= 0]
        d_mu, a_mats = [], []
        for i in used:
            h = 1e-6 * max(1.0, abs(x[i]))
            e = np.zeros(npar)
            e[i] = h
            sp, mp = _moments(layout, x + e, g)
            sm, mm = _moments(layout, x - e, g)
            d_mu.append((mp - mm) / (2 * h))
            a_mats.append(inv @ ((sp - sm) / (2 * h)))
        d_mu_arr = np.array(d_mu)
        a_arr = np.array(a_mats)  # (m, p, p)
        block = d_mu_arr @ inv @ d_mu_arr.T + 0.5 * np.einsum("aij,bji->ab", a_arr, a_arr)
        info[np.ix_(used, used)] += w * block
    return info


def _label(key: tuple, items: list[str], factors: list[str]) -> tuple[str, str, str, str]:
    """(kind, lhs, op, rhs) of a full-layout key."""
    if key[0] == "lam":
        return "loading", factors[key[3]], "=~", items[key[2]]
    if key[0] == "nu":
        return "intercept", items[key[2]], "~1", ""
    if key[0] == "theta":
        return "residual", items[key[2]], "~~", items[key[2]]
    raise ValueError(key)


def score_tests(structure, items, gdata, fit) -> pd.DataFrame:
    """Univariate score tests of every cross-group equality constraint of ``fit`` (lavTestScore)."""
    from dancerec.indices.invariance import _Layout, _objective
    from scipy import stats

    n_groups = len(gdata)
    con = _Layout(structure, items, n_groups, fit.level, fit.free)
    full = _Layout(structure, items, n_groups, fit.level, fit.free, full=True)
    # map every full parameter to the constrained one it copies
    to_con = np.full(full.npar, -1, dtype=int)
    for a_full, a_con in zip(_arrays(full), _arrays(con), strict=True):
        m = a_full >= 0
        to_con[a_full[m]] = a_con[m]
    x_full = fit.x[to_con]
    n_total = sum(gd.n for gd in gdata)
    # lavaan's F_ML is half of the F minimised in invariance._objective
    grad = 0.5 * _objective(x_full, full, gdata, n_total)[1]
    info = _expected_information(full, x_full, [gd.n / n_total for gd in gdata])
    key_of = {i: k for k, i in full.keys.items()}
    rows, meta = [], []
    for c in np.unique(to_con):
        copies = np.flatnonzero(to_con == c)
        if len(copies) < 2:
            continue
        first = min(copies, key=lambda i: key_of[i][1])
        for other in copies:
            if other == first:
                continue
            r = np.zeros(full.npar)
            r[first], r[other] = 1.0, -1.0
            rows.append(r)
            meta.append((key_of[first], key_of[other]))
    if not rows:
        return pd.DataFrame(
            columns=["kind", "lhs", "op", "rhs", "group_a", "group_b", "X2", "df", "p", "p_holm"]
        )
    r_all = np.array(rows)
    npar = full.npar
    out = []
    for j, (ka, kb) in enumerate(meta):
        r1 = np.delete(r_all, j, axis=0)
        z = np.block([[info, r1.T], [r1, np.zeros((len(r1), len(r1)))]])
        z1 = np.linalg.pinv(z)[:npar, :npar]
        x2 = float(n_total * grad @ z1 @ grad)
        kind, lhs, op, rhs = _label(ka, items, full.factors)
        out.append(
            {
                "kind": kind,
                "lhs": lhs,
                "op": op,
                "rhs": rhs,
                "group_a": gdata[ka[1]].name,
                "group_b": gdata[kb[1]].name,
                "X2": x2,
                "df": 1,
                "p": float(stats.chi2.sf(x2, 1)),
            }
        )
    table = pd.DataFrame(out)
    table["p_holm"] = _holm(table["p"].to_numpy())
    return table.sort_values("X2", ascending=False, kind="stable").reset_index(drop=True)


def _holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    m = len(p)
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out
