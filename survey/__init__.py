"""Survey subsystem: instruments, import of survey-platform exports, cleaning, scoring, simulation.

What a notebook needs, importable from here (each name imported on first use)::

    from dancerec.survey import load_instrument, import_file, load_scores, simulate_responses

    inst = load_instrument("dance-music-30")
    sim = simulate_responses(inst, n=300, groups=("A", "B"), seed=1)
"""

from __future__ import annotations

from dancerec._lazy import lazy_exports

_EXPORTS = {
    "Instrument": "instrument",
    "load_instrument": "instrument",
    "validate_instrument": "instrument",
    "builtin_instruments": "instrument",
    "ImportOptions": "importer",
    "ImportReport": "importer",
    "import_file": "importer",
    "validate_file": "importer",
    "study_instrument": "store",
    "load_responses": "store",
    "load_scores": "store",
    "load_flags": "store",
    "load_quarantine": "store",
    "flag_counts": "store",
    "recode_reverse": "scoring",
    "score_dimensions": "scoring",
    "group_means_table": "scoring",
    "simulate_responses": "simulate",
    "SimulatedSurvey": "simulate",
    "write_responses": "writers",
    "load_survey": "loader",
    "SurveyData": "loader",
    "NoSurveyData": "loader",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
