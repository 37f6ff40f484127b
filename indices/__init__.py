"""Evaluation indices: reliability, validity, EFA, CFA, SEM and group comparisons (lavaan-compatible).

What a notebook needs, importable from here; each name is imported on first use, so ``import
dancerec.indices`` stays light (heavy libraries — factor_analyzer and scikit-learn, semopy — load only with
the functions that use them; the factor_analyzer shim in :mod:`dancerec.indices._compat` is applied when
factor_analyzer is first used)::

    from dancerec.indices import from_study, run_battery, fit_cfa, fit_sem
    from dancerec.indices.reliability import reliability   # (a submodule of the same name: import it)

    src = from_study(study)                          # items, structure, groups of a study's responses
    cfa = fit_cfa(src.items, src.structure)          # ML, FIML when answers are missing
    cfa.fit.cfi, cfa.loadings
"""

from __future__ import annotations

from dancerec._lazy import lazy_exports

_EXPORTS = {
    # data sources
    "ItemSource": "sources",
    "from_study": "sources",
    "from_data_file": "sources",
    # item analysis, reliability, factorability, EFA
    "item_analysis": "items",
    "cronbach_alpha": "reliability",
    "ReliabilityResult": "reliability",
    "parallel_analysis": "parallel",
    "fit_efa": "efa",
    "EFAResult": "efa",
    # CFA / SEM (ML, FIML, MLR), ordinal (WLSMV), diagnostics
    "Estimator": "estimation",
    "fit_cfa": "cfa",
    "CFAResult": "cfa",
    "fit_sem": "sem",
    "SEMResult": "sem",
    "fit_wlsmv": "ordinal",
    "OrdinalFit": "ordinal",
    "recommend_estimator": "recommend",
    "mardia": "normality",
    "modification_indices": "modindices",
    "parse_model": "syntax",
    # groups and invariance
    "compare_groups": "groups",
    "GroupComparison": "groups",
    "measurement_invariance": "invariance",
    "InvarianceResult": "invariance",
    # everything at once
    "run_battery": "battery",
    "IndicesReport": "battery",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
