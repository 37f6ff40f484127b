"""The one way a study's survey data is loaded: responses, instrument, reverse-keying, exclusions, scores.

Every consumer (the psychometric indices, the linkage, the report, the CLI) calls :func:`load_survey`,
so the instrument is found the same way everywhere (``study.toml``'s ``instrument`` is a path relative to
the study folder when such a file exists there, else a built-in name or an absolute path; see
:func:`dancerec.survey.store.study_instrument`), and every consumer states the same N used / N total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dancerec.survey.instrument import Instrument
from dancerec.survey.quality import resolve_flags
from dancerec.survey.scoring import recode_reverse, score_dimensions
from dancerec.survey.store import load_flags, load_responses, study_instrument

from dancerec.errors import UserError

__all__ = ["NoSurveyData", "SurveyData", "load_survey"]


class NoSurveyData(UserError):
    """The study has no survey responses yet (a section may be left out with a note, unlike a failure
    to analyse responses that exist)."""


@dataclass
class SurveyData:
    """A study's survey data ready for analysis.

    ``responses``: the kept respondents' stored rows (``group``, ``user_id``, raw answers);
    ``items``: their reverse-recoded answers to the scored (non-attention) items; ``scores``: their
    dimension scores (``overall`` included); ``excluded``: flag → respondents carrying it among those
    left out (one respondent may carry several flags).
    """

    responses: pd.DataFrame
    items: pd.DataFrame
    scores: pd.DataFrame
    instrument: Instrument
    structure: dict[str, list[str]]
    n_total: int
    n_used: int
    exclude_flagged: list[str] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def group(self) -> pd.Series | None:
        """Each kept respondent's study group (string), or None when the responses have no groups."""
        if "group" not in self.responses.columns:
            return None
        return self.responses["group"].astype("string")

    @property
    def dimensions(self) -> list[str]:
        return list(self.instrument.dimensions)

    def n_statement(self) -> str:
        """``N used = 420 of 450 respondents (30 excluded: 25 speeder, 8 longstring)``."""
        text = f"N used = {self.n_used} of {self.n_total} respondents"
        if self.n_used < self.n_total:
            reasons = ", ".join(f"{n} {flag}" for flag, n in self.excluded.items() if n)
            text += f" ({self.n_total - self.n_used} excluded by flag: {reasons})"
        return text


def _excluded_counts(study: Any, dropped: pd.Index, flags: list[str]) -> dict[str, int]:
    if not len(dropped) or not flags:
        return {}
    wide = load_flags(study)
    wide.index = wide.index.astype("string")
    rows = wide.reindex(dropped.astype("string")).reindex(columns=flags).fillna(False).astype(bool)
    return {flag: int(rows[flag].sum()) for flag in flags}


def load_survey(study: Any, *, exclude_flagged: Iterable[str] | str = ()) -> SurveyData:
    """Load, reverse-key, exclude and score a study's stored survey responses.

    Raises :class:`NoSurveyData` when the study has no responses (the caller may then leave its section out).
    """
    instrument = study_instrument(study)
    everyone = load_responses(study, instrument=instrument)
    if everyone.empty:
        raise NoSurveyData(
            f"the study has no survey responses yet (study {study.config.name!r}); import them with "
            "`dancerec survey import`"
        )
    flags = resolve_flags(exclude_flagged if isinstance(exclude_flagged, str) else list(exclude_flagged))
    responses = load_responses(study, exclude_flagged=flags, instrument=instrument) if flags else everyone
    structure = instrument.dimension_items(include_attention=False)
    item_ids = [i for its in structure.values() for i in its]
    return SurveyData(
        responses=responses,
        items=recode_reverse(responses[item_ids], instrument),
        scores=score_dimensions(responses, instrument),
        instrument=instrument,
        structure=structure,
        n_total=len(everyone),
        n_used=len(responses),
        exclude_flagged=flags,
        excluded=_excluded_counts(study, everyone.index.difference(responses.index), flags),
    )
