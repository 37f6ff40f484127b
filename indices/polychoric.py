"""Polychoric correlations, thresholds and their asymptotic covariance (lavaan's two-step estimator).

What is computed, following lavaan 0.6 (``lav_samplestats_step1``/``step2`` and ``muthen1984``):

- **thresholds**: for an item with categories 1..K, tau_k = Phi^-1(proportion of answers <= k), k < K
  (the ML estimate of the univariate probit model without covariates);
- **polychoric correlation** of each pair: the rho maximising the bivariate-normal likelihood of the
  pair's contingency table with both thresholds held at their univariate values (two-step ML);
- **NACOV** (lavaan's ``gamma``): N times the sandwich covariance of (thresholds, correlations) from the
  casewise scores (Muthen 1984): Gamma = N * B^-1 (sum_i s_i s_i') B^-T, where B is block
  lower-triangular with the outer-product information of the thresholds item by item (A11), the
  cross-derivative of the correlation scores with the thresholds (A21) and the diagonal outer-product
  information of the correlations (A22).

Why hand-written: no maintained Python package estimates polychoric correlations with their joint
asymptotic covariance (needed for DWLS weights and robust statistics). Every quantity is vectorised over
all item pairs at once: a bivariate table has at most K x K cells and each respondent's score depends
only on their cell, so scores are looked up per cell instead of computed per respondent.

Correlations are ordered as lavaan's ``vech`` without the diagonal: (2,1), (3,1), ..., (p,1), (3,2), ...
Empty cells are kept as they are, except in 2 x 2 tables (binary items), where lavaan's 0.5 rule applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dancerec.indices._threads import single_blas_thread
from scipy import special

from dancerec.errors import UserError

__all__ = ["Polychoric", "bivariate_normal_cdf", "pair_index", "polychoric"]

_EPS_PI = np.sqrt(np.finfo(float).eps)  # lavaan floors cell probabilities at sqrt(machine eps)
_INV_2PI = 1.0 / (2.0 * np.pi)
_GL20 = np.polynomial.legendre.leggauss(20)
_GL80 = np.polynomial.legendre.leggauss(80)


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return special.ndtr(x)


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.exp(-0.5 * np.square(x)) / np.sqrt(2.0 * np.pi)
    return np.where(np.isfinite(x), out, 0.0)


def _bvn_finite(x: np.ndarray, y: np.ndarray, rho: np.ndarray, nodes) -> np.ndarray:
    """Phi2 for finite arguments by Gauss-Legendre quadrature of Plackett's identity in theta = asin(r).

    Phi2(x, y; rho) = Phi(x) Phi(y) + 1/(2 pi) int_0^asin(rho) exp(-(x^2 + y^2 - 2xy sin t) / (2 cos^2 t)) dt
    (Drezner & Wesolowsky 1990; the form Genz 2004 uses for |rho| < 0.925).
    """
    t, w = nodes
    a = np.arcsin(rho)[..., None]
    theta = 0.5 * a * (t + 1.0)  # nodes mapped to [0, asin(rho)]
    sn = np.sin(theta)
    cs2 = 1.0 - sn * sn
    xx = x[..., None]
    yy = y[..., None]
    expo = -(xx * xx + yy * yy - 2.0 * xx * yy * sn) / (2.0 * cs2)
    integral = 0.5 * a[..., 0] * (np.exp(expo) @ w)
    return _norm_cdf(x) * _norm_cdf(y) + _INV_2PI * integral


def bivariate_normal_cdf(x, y, rho) -> np.ndarray:
    """P(X <= x, Y <= y) for standard bivariate normal (X, Y) with correlation ``rho``, vectorised.

    Arguments broadcast; infinite limits are exact. Accuracy ~1e-13 for |rho| <= 0.999 (20 quadrature
    nodes below |rho| = 0.925, 80 above), checked against scipy's ``multivariate_normal.cdf`` in the tests.
    """
    x, y, rho = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, y, rho)))
    fin = np.isfinite(x) & np.isfinite(y)
    xf = np.where(fin, x, 0.0)
    yf = np.where(fin, y, 0.0)
    high = np.abs(rho) >= 0.925
    out = _bvn_finite(xf, yf, rho, _GL20)
    if high.any():
        out = np.where(high, _bvn_finite(xf, yf, rho, _GL80), out)
    # infinite limits: Phi2(x, +inf) = Phi(x), Phi2(+inf, y) = Phi(y), Phi2(-inf, .) = 0
    out = np.where(np.isposinf(y) & ~np.isinf(x), _norm_cdf(x), out)
    out = np.where(np.isposinf(x) & ~np.isinf(y), _norm_cdf(y), out)
    out = np.where(np.isposinf(x) & np.isposinf(y), 1.0, out)
    out = np.where(np.isneginf(x) | np.isneginf(y), 0.0, out)
    return out


def _bvn_pdf(x: np.ndarray, y: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Standard bivariate normal density; 0 where an argument is infinite."""
    fin = np.isfinite(x) & np.isfinite(y)
    xf = np.where(fin, x, 0.0)
    yf = np.where(fin, y, 0.0)
    r2 = 1.0 - rho * rho
    q = (xf * xf - 2.0 * rho * xf * yf + yf * yf) / r2
    return np.where(fin, np.exp(-0.5 * q) * _INV_2PI / np.sqrt(r2), 0.0)


def pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (i > j) of the correlations in lavaan's order: column by column."""
    rows, cols = [], []
    for j in range(p - 1):
        for i in range(j + 1, p):
            rows.append(i)
            cols.append(j)
    return np.array(rows, dtype=int), np.array(cols, dtype=int)


@dataclass
class Polychoric:
    """Two-step polychoric estimates and their asymptotic covariance.

    ``gamma`` is lavaan's NACOV: N times the asymptotic covariance of (thresholds, correlations), with the
    thresholds first (item by item) and the correlations in :func:`pair_index` order.
    """

    items: list[str]
    levels: list[list[float]]  # the observed answer values of each item, sorted
    thresholds: list[np.ndarray]
    corr: np.ndarray
    gamma: np.ndarray | None
    n: int
    converged: bool

    @property
    def threshold_names(self) -> list[str]:
        return [
            f"{v}|t{k + 1}" for v, th in zip(self.items, self.thresholds, strict=True) for k in range(len(th))
        ]

    @property
    def n_thresholds(self) -> int:
        return sum(len(t) for t in self.thresholds)

    def threshold_vector(self) -> np.ndarray:
        return np.concatenate(self.thresholds)

    def corr_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.corr, index=self.items, columns=self.items)

    def correlation_vector(self) -> np.ndarray:
        r, c = pair_index(len(self.items))
        return self.corr[r, c]


def _codes(data: pd.DataFrame, items: Sequence[str]) -> tuple[np.ndarray, list[list[float]]]:
    """Answers recoded 0..K-1 per item (ordered by value); refuses items with a single category."""
    codes = np.empty((len(data), len(items)), dtype=np.intp)
    levels = []
    for k, item in enumerate(items):
        col = data[item].to_numpy(dtype=float)
        values, inv = np.unique(col, return_inverse=True)
        if len(values) < 2:
            raise UserError(f"ordinal item {item!r} has a single observed category; drop it from the model")
        codes[:, k] = inv
        levels.append([float(v) for v in values])
    return codes, levels


def _padded_thresholds(thresholds: list[np.ndarray], kmax: int) -> np.ndarray:
    """(p, kmax + 1) array -inf, tau_1 .. tau_{K-1}, +inf, ... (+inf beyond an item's last category)."""
    out = np.full((len(thresholds), kmax + 1), np.inf)
    out[:, 0] = -np.inf
    for i, th in enumerate(thresholds):
        out[i, 1 : len(th) + 1] = th
    return out


def _cell_probs(t1: np.ndarray, t2: np.ndarray, rho: np.ndarray):
    """Cell probabilities pi (P, K, K) and d pi / d rho for every pair, from padded thresholds (P, K+1)."""
    cdf = bivariate_normal_cdf(t1[:, :, None], t2[:, None, :], rho[:, None, None])
    pdf = _bvn_pdf(t1[:, :, None], t2[:, None, :], rho[:, None, None])
    pi = cdf[:, 1:, 1:] - cdf[:, :-1, 1:] - cdf[:, 1:, :-1] + cdf[:, :-1, :-1]
    phi = pdf[:, 1:, 1:] - pdf[:, :-1, 1:] - pdf[:, 1:, :-1] + pdf[:, :-1, :-1]
    return np.maximum(pi, _EPS_PI), phi


def _tables(codes: np.ndarray, rows: np.ndarray, cols: np.ndarray, kmax: int) -> np.ndarray:
    """Contingency tables (P, K, K) of every pair in one bincount."""
    n_pairs = len(rows)
    flat = codes[:, rows] * kmax + codes[:, cols] + (np.arange(n_pairs) * kmax * kmax)[None, :]
    return (
        np.bincount(flat.ravel(), minlength=n_pairs * kmax * kmax).reshape(n_pairs, kmax, kmax).astype(float)
    )


def _zero_add_2x2(freq: np.ndarray, bin1: np.ndarray, bin2: np.ndarray, names) -> np.ndarray:
    """lavaan's ``zero.add = c(0.5, 0)`` with ``zero.keep.margins``: a 2 x 2 table with one empty cell gets
    0.5 moved onto it and its diagonal partner (margins kept) before rho is estimated; two empty cells make
    rho +-1, which is refused here. Larger tables are used as they are."""
    out = freq.copy()
    for q in np.flatnonzero(bin1 & bin2):
        t = out[q, :2, :2]
        zeros = int(np.sum(t == 0))
        if zeros >= 2:
            a, b = names[q]
            raise UserError(f"items {a!r} and {b!r} (both binary) have two empty cells in their 2 x 2 table")
        if zeros == 1:
            on_diag = t[0, 0] == 0 or t[1, 1] == 0
            sign = 1.0 if on_diag else -1.0
            t += sign * np.array([[0.5, -0.5], [-0.5, 0.5]])
    return out


def _fit_rho(freq: np.ndarray, t1: np.ndarray, t2: np.ndarray, tol: float = 1e-10, maxiter: int = 100):
    """Two-step ML polychoric correlations of all pairs at once by Fisher scoring, bounded to |rho| < 0.999."""
    n = freq.sum(axis=(1, 2))
    # start: Pearson-like moment from the table is not needed; rho = 0 is lavaan's start as well
    rho = np.zeros(freq.shape[0])
    converged = False
    for _ in range(maxiter):
        pi, phi = _cell_probs(t1, t2, rho)
        score = (freq * phi / pi).sum(axis=(1, 2))
        info = n * (phi * phi / pi).sum(axis=(1, 2))
        step = score / info
        new = np.clip(rho + step, -0.999, 0.999)
        done = np.max(np.abs(new - rho)) < tol
        rho = new
        if done:
            converged = True
            break
    return rho, converged


def _threshold_scores(codes: np.ndarray, thresholds: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Casewise scores of the univariate threshold likelihoods (N, n_thresholds), and each item's columns."""
    n = codes.shape[0]
    blocks, index, start = [], [], 0
    for k, th in enumerate(thresholds):
        kk = len(th) + 1
        full = np.concatenate([[-np.inf], th, [np.inf]])
        p = np.diff(_norm_cdf(full))
        dens = _norm_pdf(th)
        c = codes[:, k]
        sc = np.zeros((n, kk - 1))
        rows = np.arange(n)
        up = c < kk - 1  # the category's upper threshold is tau_c
        sc[rows[up], c[up]] = dens[c[up]] / p[c[up]]
        lo = c > 0  # the category's lower threshold is tau_{c-1}
        sc[rows[lo], c[lo] - 1] = -dens[c[lo] - 1] / p[c[lo]]
        blocks.append(sc)
        index.append(np.arange(start, start + kk - 1))
        start += kk - 1
    return np.hstack(blocks), index


def _dpi_dtau(t_own: np.ndarray, t_other: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """d pi_ab / d tau_own_k arranged as (P, K_own + 1 boundaries, K_other cells).

    With G(x; b) = phi(x) [Phi((t_other_b - rho x)/s) - Phi((t_other_{b-1} - rho x)/s)], s = sqrt(1 - rho^2):
    d pi_ab / d tau_k = G(tau_k; b) if k is cell a's upper boundary, -G(tau_k; b) if its lower one.
    """
    s = np.sqrt(1.0 - rho * rho)[:, None, None]
    x = t_own[:, :, None]
    xf = np.where(np.isfinite(x), x, 0.0)
    z = (t_other[:, None, :] - rho[:, None, None] * xf) / s
    cdf = _norm_cdf(z)
    g = _norm_pdf(x) * (cdf[:, :, 1:] - cdf[:, :, :-1])
    return g  # (P, K+1, K): boundary index 0..K (0 and K are infinite: zero)


@single_blas_thread
def polychoric(data: pd.DataFrame, items: Sequence[str] | None = None, *, nacov: bool = True) -> Polychoric:
    """Thresholds, polychoric correlations and (if ``nacov``) their NACOV from complete ordinal data.

    ``data`` must hold complete cases (the caller applies listwise deletion and says so); each item's
    distinct values are its ordered categories.
    """
    items = [str(c) for c in (items if items is not None else data.columns)]
    frame = data[items]
    if frame.isna().to_numpy().any():
        raise UserError("polychoric correlations need complete cases; drop incomplete rows first")
    codes, levels = _codes(frame, items)
    n, p = codes.shape
    thresholds = []
    for k in range(p):
        counts = np.bincount(codes[:, k], minlength=len(levels[k]))
        thresholds.append(special.ndtri(np.cumsum(counts)[:-1] / n))
    kmax = max(len(v) for v in levels)
    tpad = _padded_thresholds(thresholds, kmax)
    rows, cols = pair_index(p)
    freq = _tables(codes, rows, cols, kmax)
    ncat = np.array([len(v) for v in levels])
    fit_freq = _zero_add_2x2(
        freq,
        ncat[rows] == 2,
        ncat[cols] == 2,
        [(items[i], items[j]) for i, j in zip(rows, cols, strict=True)],
    )
    rho, converged = _fit_rho(fit_freq, tpad[rows], tpad[cols])
    corr = np.eye(p)
    corr[rows, cols] = rho
    corr[cols, rows] = rho
    gamma = _nacov(codes, thresholds, tpad, rows, cols, freq, rho) if nacov else None
    return Polychoric(items, levels, thresholds, corr, gamma, n, converged)


def _a21_side(g: np.ndarray, wcell: np.ndarray) -> np.ndarray:
    """sum over cells of w_ab d pi_ab / d tau_k for the thresholds of the table's row item: (P, K-1).

    d pi_ab / d tau_k = G(k, b) if boundary k is cell a's upper one (k = a + 1), -G(k, b) if its lower one
    (k = a), so the sum is sum_b G(k, b) (w_{k-1, b} - w_{k, b}); boundaries 0 and K are infinite.
    """
    n_pairs, kmax = wcell.shape[0], wcell.shape[2]
    zero = np.zeros((n_pairs, 1, kmax))
    below = np.concatenate([zero, wcell], axis=1)  # w_{k-1, b}
    above = np.concatenate([wcell, zero], axis=1)  # w_{k, b}
    return (g * (below - above)).sum(axis=2)[:, 1:-1]


def _a21(tpad, rows, cols, rho, freq, pi, phi, th_index, nth) -> np.ndarray:
    """lavaan's A21: sum over respondents of the rho score times the bivariate threshold scores,
    = sum over cells n_ab (phi/pi) d log pi / d tau = sum n_ab phi / pi^2 d pi / d tau."""
    t1, t2 = tpad[rows], tpad[cols]
    wcell = freq * phi / (pi * pi)  # (P, K, K)
    side1 = _a21_side(_dpi_dtau(t1, t2, rho), wcell)  # thresholds of item rows[q]
    side2 = _a21_side(_dpi_dtau(t2, t1, rho), np.transpose(wcell, (0, 2, 1)))  # of item cols[q]
    a21 = np.zeros((len(rows), nth))
    for q in range(len(rows)):
        i1, i2 = th_index[rows[q]], th_index[cols[q]]
        a21[q, i1] = side1[q, : len(i1)]
        a21[q, i2] = side2[q, : len(i2)]
    return a21


def _nacov(codes, thresholds, tpad, rows, cols, freq, rho) -> np.ndarray:
    """lavaan's NACOV (Muthen 1984) from casewise scores; see the module docstring."""
    n = codes.shape[0]
    pi, phi = _cell_probs(tpad[rows], tpad[cols], rho)
    ratio = phi / pi  # score of rho for a respondent in cell (a, b)
    sc_cor = ratio[np.arange(len(rows))[None, :], codes[:, rows], codes[:, cols]]  # (N, P)
    sc_th, th_index = _threshold_scores(codes, thresholds)
    nth = sc_th.shape[1]
    a21 = _a21(tpad, rows, cols, rho, freq, pi, phi, th_index, nth)
    # A11^-1 block by block (outer-product information of each item's thresholds)
    a11_inv = np.zeros((nth, nth))
    for idx in th_index:
        blk = sc_th[:, idx]
        a11_inv[np.ix_(idx, idx)] = np.linalg.inv(blk.T @ blk)
    a22_inv = 1.0 / np.einsum("np,np->p", sc_cor, sc_cor)
    a21_inv = -(a22_inv[:, None] * a21) @ a11_inv
    # transformed scores z_i = B^-1 s_i, Gamma = N * sum_i z_i z_i'
    z_th = sc_th @ a11_inv
    z_cor = sc_cor * a22_inv[None, :] + sc_th @ a21_inv.T
    z = np.hstack([z_th, z_cor])
    return n * (z.T @ z)
