"""How a linkage result is reported: JSON payload, significant findings and the methods text.

Only adjusted p < α is ever called significant; every family names its correction.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from dancerec.indices.linkage._common import WITHIN_GROUP
from dancerec.indices.linkage.multiplicity import ADJUST_METHODS

from dancerec.display import DisplayMixin


def _families(result: Any) -> dict[str, pd.DataFrame]:
    """Every tested family's table (the frames carrying p, p_adj, family)."""
    out = {
        "group tests": result.group.tests,
        "group-level rank correlations": result.group.correlations,
        "user-level correlations": result.correlations,
        "regression terms": result.regressions,
    }
    if result.sem is not None:
        out["SEM paths"] = result.sem.paths
    if result.primary is not None:
        out["primary"] = result.primary
    return {k: v for k, v in out.items() if v is not None}


def _count(frame: pd.DataFrame) -> int:
    return int(frame["p"].notna().sum()) if "p" in frame else 0


class LinkageReportMixin(DisplayMixin):
    """Reporting methods of :class:`~dancerec.indices.linkage.study.LinkageResult` (and its notebook view)."""

    def summary_header(self) -> list[str]:
        return [self.n_statement(), *self.significant_findings()]

    def summary_frames(self) -> dict[str, pd.DataFrame]:
        """The group table, then every tested family (raw p, adjusted p, family), primary hypotheses first."""
        frames = {"Groups: offline metrics and perceived quality": self.group.table}
        families = _families(self)
        if "primary" in families:
            frames["Primary (pre-registered) hypotheses"] = families.pop("primary")
        frames.update({name[0].upper() + name[1:]: frame for name, frame in families.items()})
        frames["Missing links"] = self.missing.table()
        return frames

    def families(self) -> pd.DataFrame:
        """One row per family: name, tests, significant after adjustment, smallest raw and adjusted p."""
        rows = []
        for name, frame in _families(self).items():
            if frame.empty or "p_adj" not in frame:
                continue
            for fam, part in frame.groupby("family", sort=False):
                rows.append(
                    {
                        "table": name,
                        "family": fam,
                        "tests": _count(part),
                        "significant": int(part["significant"].fillna(False).astype(bool).sum()),
                        "min_p": float(part["p"].min()),
                        "min_p_adj": float(part["p_adj"].min()),
                    }
                )
        return pd.DataFrame(rows, columns=["table", "family", "tests", "significant", "min_p", "min_p_adj"])

    def significant_findings(self) -> list[str]:
        """One line per test whose adjusted p < α (nothing else is ever called significant)."""
        lines = []
        for name, frame in _families(self).items():
            if frame.empty or "significant" not in frame:
                continue
            for row in frame[frame["significant"].fillna(False).astype(bool)].to_dict("records"):
                what = " ~ ".join(
                    str(row[c]) for c in ("dimension", "metric", "term") if c in row and pd.notna(row[c])
                )
                lines.append(f"{name}: {what} (p = {row['p']:.3g}, adjusted p = {row['p_adj']:.3g})")
        return lines

    def n_statement(self) -> str:
        """N used / N total at user level, with the reasons the rest were not linked."""
        m = self.missing
        reasons = [
            (r, n)
            for r, n in m.table().itertuples(index=False)
            if n and r not in ("respondents", "linked to a user with metrics")
        ]
        text = f"user level: N used = {m.n_linked} of {m.n_respondents} respondents"
        if reasons:
            text += " (not linked: " + "; ".join(f"{r}: {n}" for r, n in reasons) + ")"
        return text

    def methods_text(self) -> str:
        """What was tested and corrected, for the report's methods appendix."""
        words = ADJUST_METHODS[self.adjust][1]
        fams = self.families()
        listing = "; ".join(f"{r.family} ({r.tests} tests)" for r in fams.itertuples()) or "none"
        text = (
            f"Multiplicity: raw p-values were adjusted by {words} within each family of tests, and a result "
            f"is called significant only when its adjusted p < {self.alpha:g}. Families: {listing}. "
            f"User-level correlations, regressions and the SEM measure the {WITHIN_GROUP}. "
            f"{self.n_statement()}."
        )
        if self.primary is not None and len(self.primary):
            text += (
                f" Pre-registered hypotheses ({len(self.primary)}) formed their own family at α = {self.alpha:g}; "
                "every other test is exploratory."
            )
        return text

    def sensitivity(self) -> dict[str, Any]:
        """:func:`~dancerec.indices.linkage.planning.design_sensitivity` as JSON-ready table + sentence."""
        from dancerec.indices.linkage.planning import design_sensitivity

        table, sentence = design_sensitivity(self)
        return {"table": table, "text": sentence}

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "group_map": self.group_map,
            "adjust": self.adjust,
            "alpha": self.alpha,
            "user_level": WITHIN_GROUP,
            "n": self.n_statement(),
            "primary": self.primary,
            "groups": self.group.table,
            "group_tests": self.group.tests,
            "correlations": {
                "group_level": self.group.correlations,
                "group_level_caveat": self.group.caveat,
                "user_level": self.correlations,
            },
            "regressions": self.regressions,
            "sem": None
            if self.sem is None
            else {
                "n": self.sem.n,
                "n_total": self.sem.n_total,
                "backend": self.sem.backend,
                "fit": self.sem.fit,
                "paths": self.sem.paths,
                "syntax": self.sem.syntax,
                "notes": self.sem.notes,
            },
            "families": self.families(),
            "design_sensitivity": self.sensitivity(),
            "significant": self.significant_findings(),
            "methods": self.methods_text(),
            "missing": {**self.missing.__dict__, "table": self.missing.table()},
            "settings": self.settings,
        }
