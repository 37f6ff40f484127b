"""Recommender subsystem: interaction data, offline evaluation harness, baselines and the relation model.

What a notebook needs, importable from here (resolved lazily, so ``import dancerec.recommender`` stays
cheap and never pulls in torch unless a neural model is used)::

    from dancerec.recommender import Experiment, EASE, MostPop, load_split, tune_model
"""

from __future__ import annotations

from dancerec._lazy import lazy_exports

_EXPORTS = {
    "TrainData": "base",
    "Recommender": "base",
    "FitProgress": "base",
    "MostPop": "baselines",
    "ItemKNN": "baselines",
    "UserKNN": "baselines",
    "PureSVD": "baselines",
    "EASE": "baselines",
    "ALS": "baselines",
    "ContentTFIDF": "baselines",
    "Evaluation": "evaluate",
    "Experiment": "experiment",
    "ExperimentResult": "experiment",
    "ModelEntry": "experiment",
    "compare_runs": "experiment",
    "fit_model": "experiment",
    "make_model": "registry",
    "model_names": "registry",
    "MODELS": "registry",
    "load_run": "runs",
    "list_runs": "runs",
    "resolve_run": "runs",
    "find_model": "runs",
    "load_split": "splits",
    "split_dataset": "splits",
    "split_log": "splits",
    "holdout": "splits",
    "import_file": "data",
    "load_log": "data",
    "tune_model": "tune",
    "tuned_params": "tune",
    "simulate_world": "simulate",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
