"""What a report shows, as plain data: every section is optional and appears only when its data exist.

:func:`dancerec.reports.collect.collect_report_data` fills a :class:`ReportData` from a study through the
other subsystems' public functions; tests and other tools can fill one by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dancerec.display import DisplayMixin


@dataclass
class FitSummary:
    """A CFA/SEM: fit indices (n, chi2, df, pvalue, cfi, tli, rmsea, rmsea_ci, srmr, aic, bic), estimates.

    ``loadings``: factor, item, estimate, std, se, p. ``paths``: lhs (outcome), rhs (predictor),
    estimate, std, se, p. ``r2``: outcome → R². ``notes``: convergence/Heywood warnings, estimator.
    """

    fit: dict[str, Any] = field(default_factory=dict)
    loadings: pd.DataFrame | None = None
    paths: pd.DataFrame | None = None
    r2: dict[str, float] = field(default_factory=dict)
    indirect: pd.DataFrame | None = None  # name, estimate, ci_low, ci_high
    factor_correlations: pd.DataFrame | None = None  # factors × factors (standardised latent correlations)
    indirect_ci: str = "95% CI"  # column heading naming how the indirect-effect CIs were made
    notes: list[str] = field(default_factory=list)


@dataclass
class EfaSummary:
    """EFA: loadings (items × factors), variance explained per factor, how many factors and why."""

    loadings: pd.DataFrame
    variance: pd.DataFrame | None = None  # factor, ss_loadings, proportion, cumulative
    communalities: pd.Series | None = None
    n_factors: int | None = None
    method: str = ""
    rotation: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Methods:
    """The methods appendix: seeds, software versions, data files and their checksums, settings."""

    seeds: dict[str, Any] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)
    data_files: pd.DataFrame | None = None  # path, kind, sha256, n_bytes, recorded_at
    settings: dict[str, Any] = field(default_factory=dict)
    #: which estimator the CFA/SEM used and why (what the item distributions call for), one paragraph
    estimation: str = ""


@dataclass
class ReportData(DisplayMixin):
    """Everything the report can show. ``None`` means the section has no data and is left out."""

    title: str
    study_name: str
    generated: str
    instrument_name: str | None = None
    scale: tuple[int, int] | None = None
    anchors: list[str] | None = None
    #: id, dimension, text_en, text_zh, reverse, source (user data: always escaped)
    items: pd.DataFrame | None = None
    dimensions: list[str] = field(default_factory=list)
    #: raw answers (index respondent_id, item columns, plus ``group``) after exclusions
    responses: pd.DataFrame | None = None
    respondents: pd.DataFrame | None = None  # group, n_total, n_excluded, n_analysed
    exclusions: pd.DataFrame | None = None  # flag, n, percent, excluded (bool)
    excluded_flags: list[str] = field(default_factory=list)
    scores: pd.DataFrame | None = None  # index respondent_id; group + one column per dimension
    #: as indices.items.item_analysis: item, dimension, n, mean, sd, skewness, kurtosis, floor_pct,
    #: ceiling_pct, item_total_r, alpha_if_deleted (column names are never changed by the report)
    item_analysis: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None  # dimension, n_items, alpha, alpha_ci_low/high, omega, cr, ave
    factorability: dict[str, Any] | None = None  # kmo, bartlett_chi2, bartlett_df, bartlett_p
    efa: EfaSummary | None = None
    cfa: FitSummary | None = None
    htmt: pd.DataFrame | None = None
    fornell_larcker: pd.DataFrame | None = None
    sem: FitSummary | None = None
    group_descriptives: pd.DataFrame | None = None  # group, dimension, n, mean, sd
    group_tests: pd.DataFrame | None = None  # dimension, test, statistic, df1, df2, p, effect sizes
    posthoc: pd.DataFrame | None = None  # dimension, group_a, group_b, mean_diff, p_adj, cohens_d, method
    invariance: pd.DataFrame | None = None  # level, chi2, df, cfi, rmsea, delta_cfi, delta_rmsea, holds
    runs: pd.DataFrame | None = None  # run_id, model, split, seed, groups, shown, ndcg@K, recall@K
    curves: pd.DataFrame | None = None  # model, k, precision, recall
    #: model, metric ("ndcg@10"; or metric + k), mean, ci_low, ci_high, p_t_holm (recommender.stats.compare)
    metric_table: pd.DataFrame | None = None
    baseline: str | None = None
    linkage: Any | None = None  # dancerec.indices.linkage.LinkageResult
    methods: Methods = field(default_factory=Methods)
    #: where each analysis came from: part, kind, status (stored / computed: missing / computed: stale /
    #: computed: not stored), key
    provenance: list[dict[str, str]] = field(default_factory=list)
    #: sections left out and why (e.g. "CFA: no result — indices not run")
    skipped: list[str] = field(default_factory=list)

    #: table shown by summary() / in Jupyter → the field holding it
    SUMMARY_TABLES = (
        ("Respondents", "respondents"),
        ("Reliability", "reliability"),
        ("Group tests", "group_tests"),
        ("Offline metrics", "metric_table"),
        ("Evaluation runs", "runs"),
    )

    def summary_header(self) -> list[str]:
        head = [f"{self.title} (study {self.study_name}, {self.generated})"]
        if self.instrument_name:
            head.append(f"instrument {self.instrument_name}: {len(self.dimensions)} dimensions")
        if self.skipped:
            head.append(f"{len(self.skipped)} section(s) left out (see .skipped)")
        return head

    def summary_frames(self) -> dict[str, pd.DataFrame]:
        """The report's key tables that have data (respondents, reliability, tests, metrics, runs)."""
        frames = {title: getattr(self, name) for title, name in self.SUMMARY_TABLES}
        if self.provenance:
            frames["Where each analysis came from"] = pd.DataFrame(self.provenance)
        return {t: f for t, f in frames.items() if f is not None and not f.empty}
