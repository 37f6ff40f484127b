"""Report section: offline metrics linked to perceived quality.

Families of tests with raw and adjusted p, within-group user level, the linkage SEM, missing links."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dancerec.reports import apa, figures
from dancerec.reports.sections.base import (
    I_BETA,
    I_N,
    I_P,
    I_RHO,
    Builder,
    Section,
    _ci_cells,
    _fit_line,
    frame_table,
)
from markupsafe import Markup

P_ADJ_HEAD = Markup("<i>p</i><sub>adj</sub>")


def _starred(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a ``sig`` column: "*" only where the adjusted p is below alpha."""
    return frame.assign(sig=["*" if bool(v) else "" for v in frame["significant"].fillna(False)])


def _correlation_columns() -> list[tuple[str, object, str]]:
    """Columns of a user-level correlation table (pre-registered or exploratory)."""
    return [
        ("metric", "Offline metric", "text"),
        ("dimension", "Dimension", "text"),
        ("n", I_N, "int"),
        ("rho", I_RHO, "bounded"),
        ("ci", "95% CI", "text"),
        ("p", I_P, "p"),
        ("p_adj", P_ADJ_HEAD, "p"),
        ("sig", "", "text"),
    ]


def _linkage(b: Builder) -> None:
    """The linkage section: confirmatory tests, group level, user level, SEM, missing links, methods."""
    link = b.data.linkage
    if link is None:
        return
    sec = b.section("linkage", "Offline metrics and perceived quality")
    _primary(b, sec, link)
    sec.para(
        Markup(
            "Each study group was shown one recommender run; each respondent linked to a user of the "
            "interaction log receives that user's offline metrics at <i>K</i> = {} under the run their group "
            "saw (Knijnenburg et al., 2012: objective system aspects → subjective system aspects → "
            "experience)."
        ).format(link.k)
    )
    x_col, y_dim = _group_level(b, sec, link)
    _user_level(b, sec, link, x_col, y_dim)
    _missing_links(b, sec, link)
    _design_sensitivity(b, sec, link)
    sec.sub("How the linkage was tested")
    sec.para(link.methods_text())


def _primary(b: Builder, sec: Section, link: Any) -> None:
    """The pre-registered hypotheses as their own family, when the study declared any."""
    from dancerec.indices.linkage.multiplicity import family_note

    if link.primary is None or link.primary.empty:
        return
    sec.sub("Confirmatory (pre-registered) hypotheses")
    b.table(
        sec,
        frame_table(
            _starred(link.primary).assign(ci=lambda f: _ci_cells(f)),
            _correlation_columns(),
            "Pre-registered hypotheses: within-group Spearman correlations, their own family",
            note=family_note(link.primary, link.alpha) + " Every other test in this section is exploratory.",
        ),
    )


def _group_level(b: Builder, sec: Section, link: Any) -> tuple[str | None, str | None]:
    """Group means of metrics and dimensions, their rank correlations and the group scatter.

    Returns the metric and dimension the scatter plots use (the user level reuses them)."""
    gl = link.group
    sec.sub("Group level")
    table = gl.table.copy()
    metric_cols = [c for c in table.columns if "@" in c and not c.endswith(("_ci_low", "_ci_high"))]
    for col in metric_cols:
        table[col + "_fmt"] = [
            f"{apa.num(m, 3)} {apa.ci(lo, hi, 3, leading_zero=True)}" if pd.notna(m) else apa.MISSING
            for m, lo, hi in zip(
                table[col], table.get(col + "_ci_low"), table.get(col + "_ci_high"), strict=True
            )
        ]
    b.table(
        sec,
        frame_table(
            table,
            [
                ("group", "Group", "text"),
                ("model", "Model", "text"),
                ("n", I_N, "int"),
                *[(c + "_fmt", c, "text") for c in metric_cols],
            ],
            "Offline metrics of the run each group saw, mean [95% CI]",
        ),
    )
    dims = [x for x in link.dimensions if x in table.columns]
    for dim in dims:
        table[dim + "_fmt"] = [
            f"{apa.num(m)} {apa.ci(lo, hi, leading_zero=True)}"
            for m, lo, hi in zip(table[dim], table[dim + "_ci_low"], table[dim + "_ci_high"], strict=True)
        ]
    b.table(
        sec,
        frame_table(
            table,
            [("group", "Group", "text"), *[(x + "_fmt", x, "text") for x in dims]],
            "Perceived quality per group, mean [95% CI]",
        ),
    )
    sec.para(gl.caveat)
    _group_correlations(b, sec, link)
    recall = f"recall@{link.k}"
    x_col = recall if recall in gl.table.columns else (metric_cols[0] if metric_cols else None)
    y_dim = "usefulness" if "usefulness" in dims else (dims[0] if dims else None)
    _group_scatter(b, sec, gl.table, x_col, y_dim)
    return x_col, y_dim


def _group_correlations(b: Builder, sec: Section, link: Any) -> None:
    """Spearman's rho over group means (descriptive), focused on the accuracy-type metrics."""
    from dancerec.indices.linkage.multiplicity import family_note

    corr = link.group.correlations.dropna(subset=["rho"])
    if corr.empty:
        return
    focus = corr[corr["metric"].str.startswith(("recall", "serendipity", "ndcg", "precision"))]
    b.table(
        sec,
        frame_table(
            focus if not focus.empty else corr,
            [
                ("metric", "Offline metric", "text"),
                ("dimension", "Dimension", "text"),
                ("n_groups", "Groups", "int"),
                ("rho", I_RHO, "bounded"),
                ("p", Markup("<i>p</i><sub>exact</sub>"), "p"),
                ("p_adj", P_ADJ_HEAD, "p"),
            ],
            "Rank correlations across groups (descriptive)",
            note=Markup(
                "Spearman's <i>ρ</i> over group means; exact permutation <i>p</i> for ≤ 8 groups. {}"
            ).format(family_note(corr, link.alpha)),
        ),
    )


def _group_scatter(
    b: Builder, sec: Section, table: pd.DataFrame, x_col: str | None, y_dim: str | None
) -> None:
    """Group means of one dimension against one metric, with CIs, when there are two groups to plot."""
    if not (x_col and y_dim and table[[x_col, y_dim]].dropna().shape[0] >= 2):
        return
    fig = figures.scatter_fit(
        table,
        x_col,
        y_dim,
        label="group",
        xerr=(f"{x_col}_ci_low", f"{x_col}_ci_high"),
        yerr=(f"{y_dim}_ci_low", f"{y_dim}_ci_high"),
        xlabel=f"{x_col} of the group's run",
        ylabel=f"mean {y_dim}",
    )
    b.figure(
        sec,
        fig,
        "group-scatter",
        f"Group means of perceived {y_dim} against the {x_col} of the "
        "recommender each group saw, with 95% CIs and the least-squares line.",
        f"Scatter plot with one labelled point per group: {x_col} on the x axis, mean {y_dim} on the y axis.",
    )


def _user_level(b: Builder, sec: Section, link: Any, x_col: str | None, y_dim: str | None) -> None:
    """Within-group user-level analyses: scatter, correlations, regressions, the linkage SEM."""
    joined = link.joined
    sec.sub("User level (within groups, exploratory)")
    if joined is None or joined.empty or link.correlations.empty:
        sec.para(
            "No respondent could be linked to a user with per-user metrics, so there is no user-level "
            "analysis; see the missing links below."
        )
        return
    sec.para(
        Markup(
            "{} respondents linked to a user with metrics (ids matched {}); {}. Every user-level "
            "estimate is a within-group association: metrics are centred on their group's mean and "
            "the group enters as fixed effects, so the difference between groups (which saw different "
            "recommenders) is reported at group level above, not here."
        ).format(apa.integer(len(joined)), link.missing.id_matching, link.n_statement())
    )
    if x_col in joined.columns and y_dim:
        fig = figures.scatter_fit(
            joined, x_col, y_dim, xlabel=f"per-user {x_col}", ylabel=f"{y_dim} score", jitter=0.04
        )
        b.figure(
            sec,
            fig,
            "user-scatter",
            f"Per-user {x_col} against the respondent's {y_dim} score "
            "(scores jittered vertically for visibility) with the least-squares line.",
            f"Scatter plot of {len(joined)} respondents: per-user {x_col} against their {y_dim} score.",
        )
    _user_correlations(b, sec, link)
    _regressions(b, sec, link)
    _linkage_sem(b, sec, link)


def _user_correlations(b: Builder, sec: Section, link: Any) -> None:
    """Pooled within-group Spearman correlations with bootstrap CIs, one exploratory family."""
    from dancerec.indices.linkage.multiplicity import family_note

    cors = _starred(link.correlations)
    cors["ci"] = _ci_cells(cors)
    b.table(
        sec,
        frame_table(
            cors,
            _correlation_columns(),
            "Within-group Spearman correlations of per-user offline metrics with perceived quality",
            note=Markup(
                "Ranks within each group (pooled within-group <i>ρ</i>); percentile bootstrap CIs "
                "resampled within groups ({} resamples). {}"
            ).format(link.settings.get("n_boot", ""), family_note(cors, link.alpha)),
        ),
    )


def _regressions(b: Builder, sec: Section, link: Any) -> None:
    """Each dimension score regressed on the standardised within-group metrics."""
    from dancerec.indices.linkage.multiplicity import family_note

    regs = link.regressions
    if regs is None or regs.empty:
        return
    regs = _starred(regs)
    regs["ci"] = _ci_cells(regs, leading_zero=True)
    methods = ", ".join(sorted(set(regs["method"])))
    notes = sorted({n for n in regs["note"] if n})
    note = Markup(
        "Predictors centred on their group's mean and divided by the pooled within-group SD; "
        "<i>β</i> also divides by the score's SD. Method: {}; group as {}. {}"
    ).format(
        methods,
        "random intercept" if "mixedlm" in methods else "fixed effect",
        family_note(regs, link.alpha),
    )
    if notes:
        note = note + Markup(" Notes: {}.").format("; ".join(notes))
    b.table(
        sec,
        frame_table(
            regs,
            [
                ("dimension", "Dimension", "text"),
                ("term", "Predictor", "text"),
                ("estimate", Markup("<i>b</i>"), "num"),
                ("ci", "95% CI", "text"),
                ("beta", I_BETA, "bounded"),
                ("p", I_P, "p"),
                ("p_adj", P_ADJ_HEAD, "p"),
                ("sig", "", "text"),
                ("n", I_N, "int"),
            ],
            "Regression of each dimension score on per-user offline metrics, within groups",
            note=note,
        ),
    )


def _linkage_sem(b: Builder, sec: Section, link: Any) -> None:
    """The SEM from observed metrics to latent dimensions: fit line, path diagram, path table."""
    sem = link.sem
    if sem is None and link.settings.get("sem_note"):
        sec.para("Structural model: " + str(link.settings["sem_note"]) + ".")
    if sem is None or sem.paths.empty:
        return
    sec.sub("Structural model: offline metrics → perceived quality")
    sec.para(
        Markup(
            "Observed per-user metrics (centred on their group's mean) as exogenous predictors of "
            "the latent dimensions, with the group as dummy covariates (fixed effects); fit: {}. "
            "Estimated with {}; N used = {} of {} linked respondents."
        ).format(_fit_line(sem.fit), sem.backend, apa.integer(sem.n), apa.integer(sem.n_total))
    )
    _sem_diagram(b, sec, sem.paths)
    _sem_table(b, sec, link)


def _sem_diagram(b: Builder, sec: Section, paths: pd.DataFrame) -> None:
    """Path diagram of the linkage SEM; with more than 12 paths only the strongest per dimension."""
    paths = paths.rename(columns={"dimension": "lval", "metric": "rval"})
    strongest = (
        paths.loc[paths.groupby("lval")["std"].apply(lambda s: s.abs().idxmax())]
        if len(paths) > 12
        else paths
    )
    fig = figures.path_diagram(strongest, observed=list(paths["rval"].unique()))
    b.figure(
        sec,
        fig,
        "metrics-sem",
        "Offline metrics (boxes) predicting latent perceived-quality dimensions "
        "(ellipses), standardised coefficients"
        + (" (strongest path per dimension)" if len(paths) > 12 else "")
        + ".",
        f"Path diagram from {paths['rval'].nunique()} offline metrics to "
        f"{paths['lval'].nunique()} latent dimensions.",
    )


def _sem_table(b: Builder, sec: Section, link: Any) -> None:
    """The linkage SEM's paths with raw and adjusted p."""
    from dancerec.indices.linkage.multiplicity import family_note

    sem = link.sem
    b.table(
        sec,
        frame_table(
            _starred(sem.paths),
            [
                ("metric", "Offline metric", "text"),
                ("dimension", "Dimension", "text"),
                ("estimate", "Estimate", "num"),
                ("std", I_BETA, "bounded"),
                ("se", "SE", "num"),
                ("p", I_P, "p"),
                ("p_adj", P_ADJ_HEAD, "p"),
                ("sig", "", "text"),
            ],
            "SEM paths from offline metrics to latent dimensions (within groups)",
            note="; ".join(sem.notes) + ". " + family_note(sem.paths, link.alpha),
        ),
    )


def _missing_links(b: Builder, sec: Section, link: Any) -> None:
    """Every respondent or link that could not be made, with the reason (nothing dropped silently)."""
    sec.sub("Missing links")
    b.table(
        sec,
        frame_table(
            link.missing.table(),
            [("reason", "Respondents / links", "text"), ("n", I_N, "int")],
            "Links that could not be made (nothing is dropped silently)",
        ),
    )


def _design_sensitivity(b: Builder, sec: Section, link: Any) -> None:
    """The smallest effects this study's design could have detected at 80% power (closed forms).

    A non-significant linkage means little without this: it says which effects could have gone unseen."""
    sensitivity = link.sensitivity()
    table, sentence = sensitivity["table"], sensitivity["text"]
    # two significant digits without the leading zero (.0028): Bonferroni steps are often below .001
    table = table.assign(alpha_fmt=[f"{a:.2g}".removeprefix("0") for a in table["alpha_per_test"]])
    sec.sub("Design sensitivity")
    sec.para(sentence)
    b.table(
        sec,
        frame_table(
            table,
            [
                ("analysis", "Analysis", "text"),
                ("tests", "Tests in family", "int"),
                ("n", I_N, "int"),
                ("alpha_fmt", Markup("<i>α</i> per test"), "text"),
                ("effect", "Effect size", "text"),
                ("minimum_detectable", "Minimum detectable at 80% power", "num"),
            ],
            "Smallest effects the design could detect at 80% power",
            note=Markup(
                "Closed forms: Fisher <i>z</i> for Spearman's <i>ρ</i> with variance 1.06 / (<i>n</i> − 3 − "
                "(groups − 1)), the groups entering as fixed effects; Cohen's <i>f</i> from the "
                "noncentral <i>F</i> of a one-way ANOVA over all respondents. <i>α</i> per test is the "
                "Bonferroni step (<i>α</i> / tests), the first step of Holm; the <i>ρ</i> is between "
                "observed scores, so the latent correlation detectable is larger by 1 / √reliability."
            ),
        ),
    )
