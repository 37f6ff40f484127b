"""Simulated respondents drawn from a planted model, for the demo, round-trip tests and power analysis.

The model (all latent variables standardised in the reference group):

- **Structural model** between the dimensions (default :data:`STRUCTURAL_PATHS`): content,
  functionality and page design are exogenous and correlated; functionality, page design → ease of
  use; ease of use, content, functionality → usefulness; ease of use, content → risk (negative);
  usefulness, content, risk (−) → confidence; usefulness, confidence, ease of use, risk (−) →
  experience. ``η = B η + α_g + ζ``; each endogenous residual variance is set so that the
  dimension's variance is 1, hence the implied covariance matrix is a correlation matrix.
- **Groups**: each group's recommender-quality parameter ``q_g`` shifts the latent intercepts by
  ``q_g × quality_paths`` (default: content only, the algorithm acting through perceived quality);
  the shift reaches downstream dimensions through the structural model: group latent means are
  ``(I − B)⁻¹ α_g``.
- **Per-respondent shifts** (``latent_shift``): added to the latent scores after the structural model
  (or, with ``propagate_shift=True``, to the intercepts so they propagate like the group effect).
- **Measurement**: ``y* = λ η + √(1 − λ²) ε`` (``−λ`` for reverse-keyed items), cut at ordinal
  thresholds into the instrument's scale points.
- **Careless responders** (rate ``careless_rate``): half straight-line one scale point, half answer
  uniformly at random; both rush (about a quarter of the median completion time). Attentive
  respondents answer attention checks as instructed; ``missing_rate`` of their scored answers are
  missing completely at random.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from dancerec.survey.instrument import Instrument, load_instrument
from dancerec.survey.simulate_truth import PlantedTruth, truth_path  # noqa: F401  (truth_path re-exported)
from scipy import special

from dancerec.errors import UserError

#: (outcome, predictor, coefficient) — standardised paths of the planted structural model
STRUCTURAL_PATHS: tuple[tuple[str, str, float], ...] = (
    ("ease_of_use", "functionality", 0.40),
    ("ease_of_use", "page_design", 0.30),
    ("usefulness", "ease_of_use", 0.35),
    ("usefulness", "content", 0.35),
    ("usefulness", "functionality", 0.15),
    ("risk", "ease_of_use", -0.25),
    ("risk", "content", -0.35),
    ("confidence", "usefulness", 0.40),
    ("confidence", "content", 0.20),
    ("confidence", "risk", -0.20),
    ("experience", "usefulness", 0.30),
    ("experience", "confidence", 0.30),
    ("experience", "ease_of_use", 0.15),
    ("experience", "risk", -0.15),
)
#: correlations among the exogenous dimensions of the planted model
EXOGENOUS_CORRELATIONS: dict[tuple[str, str], float] = {
    ("content", "functionality"): 0.35,
    ("content", "page_design"): 0.30,
    ("functionality", "page_design"): 0.40,
}
DEFAULT_EXOGENOUS_R = 0.3
BASE_DATE = datetime(2026, 3, 2, 9, 0, 0)


@dataclass
class SimulatedSurvey:
    """Simulated responses (in the layout of ``store.load_responses``) and the planted truth."""

    responses: pd.DataFrame
    truth: PlantedTruth
    instrument: Instrument = field(repr=False, default=None)  # type: ignore[assignment]


def _topological(dims: list[str], paths: list[tuple[str, str, float]]) -> list[str]:
    preds = {d: {rhs for lhs, rhs, _ in paths if lhs == d} for d in dims}
    order: list[str] = []
    remaining = list(dims)
    while remaining:
        ready = [d for d in remaining if preds[d] <= set(order)]
        if not ready:
            raise UserError(f"the structural model has a cycle among {remaining}")
        order += ready
        remaining = [d for d in remaining if d not in ready]
    return order


def planted_structure(
    dims: list[str],
    paths: list[tuple[str, str, float]],
    exogenous_r: dict[tuple[str, str], float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, Ψ, Σ): path matrix, disturbance covariance and the implied latent covariance (unit variances)."""
    pos = {d: k for k, d in enumerate(dims)}
    k = len(dims)
    b = np.zeros((k, k))
    for lhs, rhs, coef in paths:
        if lhs not in pos or rhs not in pos:
            raise UserError(f"structural path {lhs} ~ {rhs} names a dimension the instrument lacks")
        b[pos[lhs], pos[rhs]] = coef
    endogenous = {lhs for lhs, _, _ in paths}
    exo = [d for d in dims if d not in endogenous]
    psi = np.zeros((k, k))
    for d in exo:
        psi[pos[d], pos[d]] = 1.0
    for i, a in enumerate(exo):
        for c in exo[i + 1 :]:
            r = exogenous_r.get((a, c), exogenous_r.get((c, a), DEFAULT_EXOGENOUS_R))
            psi[pos[a], pos[c]] = psi[pos[c], pos[a]] = r
    sigma = np.zeros((k, k))
    for d in _topological(dims, paths):
        i = pos[d]
        if d in exo:
            for e in exo:
                sigma[i, pos[e]] = psi[i, pos[e]]
            continue
        coef = b[i]
        # covariances with the dimensions already placed, then the residual that makes var = 1
        cov_row = coef @ sigma
        explained = float(coef @ sigma @ coef)
        if explained >= 0.95:
            raise UserError(
                f"structural paths into {d} explain {explained:.2f} of its variance (must be < 0.95)"
            )
        psi[i, i] = 1.0 - explained
        sigma[i, :] = cov_row
        sigma[:, i] = cov_row
        sigma[i, i] = 1.0
    a_inv = np.linalg.inv(np.eye(k) - b)
    implied = a_inv @ psi @ a_inv.T
    return b, psi, implied


def _default_quality(groups: list[str]) -> dict[str, float]:
    if len(groups) == 1:
        return {groups[0]: 0.0}
    return {g: float(q) for g, q in zip(groups, np.linspace(-0.3, 0.3, len(groups)), strict=True)}


def _thresholds(rng: np.random.Generator, n_items: int, n_points: int) -> np.ndarray:
    """Ordinal cut points on y*: normal quantiles of equal steps, shifted toward agreement, jittered."""
    base = special.ndtri(np.arange(1, n_points) / n_points) - 0.25  # normal quantiles
    jitter = rng.uniform(-0.15, 0.15, size=(n_items, 1))
    return base[None, :] + jitter


@dataclass
class _Sample:
    """Who answers: respondent ids, their groups and linked users (phase 1 of the simulation)."""

    ids: pd.Index
    group_of: np.ndarray
    user_of: Any
    groups: list[str]

    @property
    def n(self) -> int:
        return len(self.ids)


def _sample_from_respondents(respondents: pd.DataFrame) -> _Sample:
    if "group" not in respondents.columns:
        raise UserError("respondents needs a 'group' column (index = respondent_id)")
    if respondents.index.has_duplicates:
        raise UserError("respondents has duplicate respondent ids")
    ids = pd.Index(respondents.index.astype(str), dtype="string", name="respondent_id")
    group_of = respondents["group"].astype("string").to_numpy()
    user_of = (
        respondents["user_id"].astype("string").to_numpy()
        if "user_id" in respondents.columns
        else pd.array([pd.NA] * len(ids), dtype="string")
    )
    return _Sample(ids, group_of, user_of, list(dict.fromkeys(str(g) for g in group_of)))


def _sample_groups(
    n: int | None, groups: list[str] | tuple[str, ...] | str, id_prefix: str, rng: np.random.Generator
) -> _Sample:
    if n is None or n < 1:
        raise UserError("n must be a positive number of respondents")
    names = [g.strip() for g in groups.split(",")] if isinstance(groups, str) else [str(g) for g in groups]
    names = [g for g in names if g]
    if not names:
        raise UserError("at least one group is needed")
    ids = pd.Index([f"{id_prefix}{i + 1:04d}" for i in range(n)], dtype="string", name="respondent_id")
    group_of = rng.permutation(np.resize(np.array(names, dtype=object), n))
    return _Sample(ids, group_of, pd.array([pd.NA] * n, dtype="string"), names)


def _aligned_shift(latent_shift: pd.DataFrame | None, ids: pd.Index, dims: list[str]) -> np.ndarray:
    """``latent_shift`` as an (n, dimensions) array in the respondents' order (zeros where absent)."""
    if latent_shift is None:
        return np.zeros((len(ids), len(dims)))
    unknown = [c for c in latent_shift.columns if c not in dims]
    if unknown:
        raise UserError(f"latent_shift has columns that are not dimensions: {unknown} (dimensions: {dims})")
    extra = latent_shift.index.astype(str).difference(ids.astype(str))
    if len(extra):
        raise UserError(f"latent_shift has {len(extra)} respondent(s) not simulated, e.g. {extra[0]!r}")
    aligned = latent_shift.copy()
    aligned.index = aligned.index.astype(str)
    return aligned.reindex(index=ids.astype(str), columns=dims).fillna(0.0).to_numpy(dtype=float)


@dataclass
class _Latent:
    """The structural part (phase 2): path matrix, residual covariance, group means, latent scores."""

    structure: list[tuple[str, str, float]]
    b: np.ndarray
    psi: np.ndarray
    implied: np.ndarray
    a_inv: np.ndarray
    alpha_g: dict[str, np.ndarray]
    eta: np.ndarray


@dataclass(frozen=True)
class _LatentSpec:
    """What phase 2 draws from, besides who answers: group effects, structural model, per-respondent shifts."""

    quality: dict[str, float]  # group -> recommender-quality parameter q_g
    qpaths: dict[str, float]  # dimension -> how much q_g shifts its intercept
    structure: list[tuple[str, str, float]] | None  # None = STRUCTURAL_PATHS when the dimensions fit
    exogenous_correlations: dict[tuple[str, str], float] | None  # None = EXOGENOUS_CORRELATIONS
    shift: np.ndarray  # (n, dimensions) per-respondent latent shifts
    propagate_shift: bool  # shift the intercepts (propagating) instead of the latent scores


def _latent_scores(dims: list[str], sample: _Sample, spec: _LatentSpec, rng: np.random.Generator) -> _Latent:
    """Phase 2: latent scores η = (I − B)⁻¹ (α_g + ζ) with the per-respondent shifts added."""
    structure = spec.structure
    if structure is None:
        planted_dims = {d for p in STRUCTURAL_PATHS for d in p[:2]}
        structure = list(STRUCTURAL_PATHS) if set(dims) >= planted_dims else []
    exo_r = EXOGENOUS_CORRELATIONS if spec.exogenous_correlations is None else spec.exogenous_correlations
    b, psi, implied = planted_structure(dims, list(structure), exo_r)
    k = len(dims)
    a_inv = np.linalg.inv(np.eye(k) - b)
    alpha_g = {g: np.array([spec.quality[g] * spec.qpaths.get(d, 0.0) for d in dims]) for g in sample.groups}
    zeta = rng.multivariate_normal(np.zeros(k), psi, size=sample.n, method="cholesky")
    alpha = np.vstack([alpha_g[str(g)] for g in sample.group_of])
    if spec.propagate_shift:
        eta = (alpha + zeta + spec.shift) @ a_inv.T
    else:
        eta = (alpha + zeta) @ a_inv.T + spec.shift
    return _Latent(list(structure), b, psi, implied, a_inv, alpha_g, eta)


def _measure(
    inst: Instrument, eta: np.ndarray, loading_range: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase 3: Likert answers by thresholding y* = λ·η + noise; returns (values, loadings, thresholds)."""
    items = list(inst.items)
    scored = [it for it in items if not it.attention_check]
    n = eta.shape[0]
    lam = rng.uniform(*loading_range, size=len(scored))
    tau = _thresholds(rng, len(scored), inst.n_points)
    values = np.full((n, len(items)), np.nan)
    col_of = {it.id: j for j, it in enumerate(items)}
    dim_pos = {d: j for j, d in enumerate(inst.dimensions)}
    noise = rng.standard_normal((n, len(scored)))
    for j, it in enumerate(scored):
        sign = -1.0 if it.reverse else 1.0
        ystar = sign * lam[j] * eta[:, dim_pos[it.dimension]] + np.sqrt(1 - lam[j] ** 2) * noise[:, j]
        values[:, col_of[it.id]] = inst.scale_min + (ystar[:, None] > tau[j][None, :]).sum(axis=1)
    for it in inst.attention_items:
        values[:, col_of[it.id]] = float(it.expected)
    return values, lam, tau


def _careless_and_missing(
    inst: Instrument, values: np.ndarray, careless_rate: float, missing_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Phase 4 (in place on ``values``): random and straight-lining responders, missing answers."""
    n, n_items = values.shape
    lo, hi = inst.scale_min, inst.scale_max
    kind = np.full(n, "", dtype=object)
    careless = rng.random(n) < careless_rate
    straight = careless & (rng.random(n) < 0.5)
    kind[careless] = "random"
    kind[straight] = "straightliner"
    if straight.any():
        values[straight] = rng.integers(lo, hi + 1, size=straight.sum())[:, None] * np.ones((1, n_items))
    rand = careless & ~straight
    if rand.any():
        values[rand] = rng.integers(lo, hi + 1, size=(rand.sum(), n_items))
    scored_cols = np.array([not it.attention_check for it in inst.items])
    drop = (rng.random((n, n_items)) < missing_rate) & scored_cols[None, :] & ~careless[:, None]
    values[drop] = np.nan
    return kind, careless


def _times(
    n: int, careless: np.ndarray, median_duration_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Phase 5: completion times (careless responders four times faster) and submission dates."""
    log_median = np.log(median_duration_s)
    durations = np.exp(rng.normal(log_median, 0.35, size=n))
    durations[careless] = np.exp(rng.normal(log_median + np.log(0.25), 0.3, size=careless.sum()))
    durations = np.maximum(np.round(durations), 20.0)
    offsets = np.sort(rng.uniform(0, 14 * 86400, size=n)).round()
    submitted = pd.to_datetime(BASE_DATE) + pd.to_timedelta(rng.permutation(offsets), unit="s")
    return durations, submitted


def _responses_frame(
    inst: Instrument, sample: _Sample, values: np.ndarray, durations: np.ndarray, submitted: pd.DatetimeIndex
) -> pd.DataFrame:
    """The simulated responses in the layout of ``store.load_responses``."""
    answers = pd.DataFrame(values, index=sample.ids, columns=inst.item_ids)
    meta = pd.DataFrame(
        {
            "group": pd.array([str(g) for g in sample.group_of], dtype="string"),
            "user_id": pd.array(sample.user_of, dtype="string"),
            "duration_s": durations.astype(float),
            "submitted_at": submitted.as_unit("us"),
        },
        index=sample.ids,
    )
    responses = pd.concat([meta, answers], axis=1)
    responses.index.name = "respondent_id"
    return responses


def _truth_tables(
    inst: Instrument, lam: np.ndarray, tau: np.ndarray, latent: _Latent
) -> dict[str, pd.DataFrame | pd.Series]:
    """Phase 6: the planted loadings, thresholds and structural parameters as tables."""
    dims = inst.dimensions
    scored = [it for it in inst.items if not it.attention_check]
    dim_pos = {d: j for j, d in enumerate(dims)}
    endogenous = [d for d in dims if latent.b[dim_pos[d]].any()]
    exo = [d for d in dims if d not in endogenous]
    psi = latent.psi
    return {
        "loadings": pd.DataFrame(
            {
                "item": [it.id for it in scored],
                "dimension": [it.dimension for it in scored],
                "loading": [
                    (-1.0 if it.reverse else 1.0) * float(v) for it, v in zip(scored, lam, strict=True)
                ],
                "reverse": [it.reverse for it in scored],
            }
        ),
        "thresholds": pd.DataFrame(
            tau,
            index=pd.Index([it.id for it in scored], name="item"),
            columns=[f"t{i}" for i in range(1, inst.n_points)],
        ),
        "structural_paths": pd.DataFrame(
            [(lhs, "~", rhs, float(c)) for lhs, rhs, c in latent.structure],
            columns=["lhs", "op", "rhs", "estimate"],
        ),
        "exogenous_correlations": pd.DataFrame(
            [
                (a, "~~", c, float(psi[dim_pos[a], dim_pos[c]]))
                for i, a in enumerate(exo)
                for c in exo[i + 1 :]
            ],
            columns=["lhs", "op", "rhs", "estimate"],
        ),
        "residual_variances": pd.Series(np.diag(psi), index=dims, dtype=float),
        "factor_correlations": pd.DataFrame(latent.implied, index=dims, columns=dims),
    }


def simulate_responses(
    instrument: Instrument | str = "dance-music-30",
    n: int | None = 600,
    groups: list[str] | tuple[str, ...] | str = ("A", "B", "C"),
    seed: int = 0,
    *,
    group_quality: dict[str, float] | None = None,
    quality_paths: dict[str, float] | None = None,
    careless_rate: float = 0.05,
    missing_rate: float = 0.02,
    respondents: pd.DataFrame | None = None,
    latent_shift: pd.DataFrame | None = None,
    propagate_shift: bool = False,
    structure: list[tuple[str, str, float]] | None = None,
    exogenous_correlations: dict[tuple[str, str], float] | None = None,
    loading_range: tuple[float, float] = (0.65, 0.85),
    median_duration_s: float = 300.0,
    id_prefix: str = "R",
) -> SimulatedSurvey:
    """Draw Likert responses from the planted model (see the module docstring). Same seed → same data.

    ``respondents`` (index respondent_id; columns ``group`` and optionally ``user_id``) fixes who
    answers; ``n`` and ``groups`` are then taken from it. ``latent_shift`` (same index, columns =
    dimension names) is added to each respondent's latent scores. The phases draw from one generator
    in a fixed order (who answers, latent scores, measurement, careless/missing, times), so a seed
    reproduces the whole survey.
    """
    inst = load_instrument(instrument)
    dims = inst.dimensions
    if not 0 <= careless_rate <= 1 or not 0 <= missing_rate < 1:
        raise UserError("careless_rate must be in [0, 1] and missing_rate in [0, 1)")
    rng = np.random.default_rng(seed)
    sample = (
        _sample_from_respondents(respondents)
        if respondents is not None
        else _sample_groups(n, groups, id_prefix, rng)
    )
    quality = dict(_default_quality(sample.groups) if group_quality is None else group_quality)
    missing_q = [g for g in sample.groups if g not in quality]
    if missing_q:
        raise UserError(f"group_quality lacks group(s) {missing_q}")
    qpaths = dict({"content": 1.0} if quality_paths is None else quality_paths)
    for d in qpaths:
        if d not in dims:
            raise UserError(f"quality_paths names unknown dimension {d!r}")
    shift = _aligned_shift(latent_shift, sample.ids, dims)
    spec = _LatentSpec(quality, qpaths, structure, exogenous_correlations, shift, propagate_shift)
    latent = _latent_scores(dims, sample, spec, rng)
    values, lam, tau = _measure(inst, latent.eta, loading_range, rng)
    kind, careless = _careless_and_missing(inst, values, careless_rate, missing_rate, rng)
    durations, submitted = _times(sample.n, careless, median_duration_s, rng)
    truth = PlantedTruth(
        instrument=inst.name,
        seed=seed,
        n=int(sample.n),
        groups=sample.groups,
        group_quality={g: float(quality[g]) for g in sample.groups},
        quality_paths={d: float(v) for d, v in qpaths.items()},
        careless_rate=careless_rate,
        missing_rate=missing_rate,
        latent_shift_mode="propagated" if propagate_shift else "added",
        **_truth_tables(inst, lam, tau, latent),
        group_latent_means=pd.DataFrame(
            [latent.a_inv @ latent.alpha_g[g] for g in sample.groups],
            index=pd.Index(sample.groups, name="group"),
            columns=dims,
        ),
        latent_scores=pd.DataFrame(latent.eta, index=sample.ids, columns=dims),
        careless=pd.Series(kind, index=sample.ids, dtype="string"),
    )
    return SimulatedSurvey(
        responses=_responses_frame(inst, sample, values, durations, submitted), truth=truth, instrument=inst
    )
