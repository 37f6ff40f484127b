"""A Cornac-like experiment: models × metrics × split → stored runs, with paired comparisons.

One train–evaluate–record loop used by ``dancerec recommender evaluate``, ``compare``, ``tune`` and the
demo (and by notebooks)::

    from dancerec.recommender import Experiment, EASE, MostPop, load_split

    split = load_split(study, "lastfm-random")
    result = Experiment(split, {"mostpop": MostPop(), "ease": EASE(l2=100)}, k_list=(10, 20)).run(
        study=study, split_name="lastfm-random"
    )
    result.table()                           # one row per model: precision/recall/ndcg@K, timings
    result.compare("mostpop")                # paired t and Wilcoxon per user, Holm-corrected

Every model follows the ``fit(train, *, progress=None)`` contract of :mod:`dancerec.recommender.base`;
progress of fitting and scoring reaches one callback ``progress(model, phase, completed, total, status)``
(phase ``"fit"`` or ``"evaluate"``), which the CLI turns into progress bars.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dancerec.recommender.base import FitProgress, Recommender, TrainData
from dancerec.recommender.evaluate import DEFAULT_K, Evaluation, evaluate

from dancerec.errors import UserError

ExperimentProgress = Callable[[str, str, int, int, str], None]
"""``progress(model_label, phase, completed, total, status)``; phase is ``"fit"`` or ``"evaluate"``."""

DEFAULT_COMPARE_METRICS = ("precision@10", "recall@10", "ndcg@10")


def fit_model(model: Recommender, train: TrainData, progress: FitProgress | None = None) -> float:
    """Fit ``model`` under the ``fit(train, *, progress=None)`` contract; returns the seconds it took."""
    started = time.perf_counter()
    model.fit(train, progress=progress)
    return time.perf_counter() - started


@dataclass
class ModelEntry:
    """One model of an experiment: a label, the estimator, and whether it is already fitted."""

    label: str
    model: Recommender
    fitted: bool = False
    train_s: float | None = None
    name: str | None = None  # registry name (what a saved model is reloaded as); defaults to label

    @property
    def registry_name(self) -> str:
        return self.name or getattr(self.model, "name", None) or self.label


@dataclass
class ExperimentResult:
    """What :meth:`Experiment.run` returns: evaluations by label, and run / model ids when stored."""

    evaluations: dict[str, Evaluation]
    k_list: tuple[int, ...]
    protocol: str
    run_ids: dict[str, str] = field(default_factory=dict)
    model_ids: dict[str, str] = field(default_factory=dict)
    study: Any = None

    def table(self, metrics: Sequence[str] = ("precision", "recall", "ndcg")) -> pd.DataFrame:
        """One row per model: users evaluated, ``metric@K`` means, fit and evaluation seconds."""
        rows = []
        for label, ev in self.evaluations.items():
            row: dict[str, Any] = {"model": label, "users": ev.n_users}
            for k in self.k_list:
                for m in metrics:
                    row[f"{m}@{k}"] = ev.mean(m, k)
            row["train s"] = ev.train_s
            row["eval s"] = ev.eval_s
            rows.append(row)
        return pd.DataFrame(rows)

    def compare(self, baseline: str, metrics: Sequence[str] = DEFAULT_COMPARE_METRICS) -> pd.DataFrame:
        """Paired per-user tests of every model against ``baseline`` (see :func:`compare_per_user`)."""
        from dancerec.recommender.stats import compare as compare_per_user

        if baseline not in self.evaluations:
            raise UserError(f"baseline {baseline!r} is not among the models ({', '.join(self.evaluations)})")
        result = compare_per_user(
            {m: ev.per_user for m, ev in self.evaluations.items()}, baseline, list(metrics)
        )
        if self.run_ids:
            result.insert(1, "run_id", result["model"].map(self.run_ids))
        return result


class Experiment:
    """Models × metrics × one split: fit each model, evaluate by full (or sampled) ranking, store runs.

    ``models`` maps a label to an unfitted :class:`Recommender` (or is a list of :class:`ModelEntry`
    for models already fitted, e.g. loaded from the study). Evaluation settings are those of
    :func:`dancerec.recommender.evaluate.evaluate`.
    """

    def __init__(
        self,
        split,
        models: Mapping[str, Recommender] | Sequence[ModelEntry],
        k_list: Sequence[int] = DEFAULT_K,
        *,
        sampled_negatives: int | None = None,
        relevant_min_score: float | None = None,
        n_bootstrap: int = 1000,
    ) -> None:
        self.split = split
        if isinstance(models, Mapping):
            self.models = [ModelEntry(label, model) for label, model in models.items()]
        else:
            self.models = list(models)
        if not self.models:
            raise UserError("an experiment needs at least one model")
        labels = [m.label for m in self.models]
        if len(set(labels)) != len(labels):
            raise UserError(f"model labels must be unique, got {', '.join(labels)}")
        self.k_list = tuple(sorted({int(k) for k in k_list}))
        self.sampled_negatives = sampled_negatives
        self.relevant_min_score = relevant_min_score
        self.n_bootstrap = n_bootstrap

    @property
    def protocol(self) -> str:
        return "full" if self.sampled_negatives is None else f"sampled-{self.sampled_negatives}"

    def run(
        self,
        *,
        study=None,
        split_name: str | None = None,
        save_models: bool = False,
        progress: ExperimentProgress | None = None,
    ) -> ExperimentResult:
        """Fit (unless fitted) and evaluate every model; with ``study`` and ``split_name`` record the runs
        (and, with ``save_models``, the freshly fitted models, so ``recommend`` can use them)."""
        if study is not None and split_name is None:
            raise UserError("recording runs in a study needs the split's name")
        train = self.split.train
        result = ExperimentResult({}, self.k_list, self.protocol, study=study)
        for entry in self.models:
            label = entry.label
            fit_cb = None if progress is None else (lambda c, t, s, _l=label: progress(_l, "fit", c, t, s))
            if not entry.fitted:
                entry.train_s = fit_model(entry.model, train, fit_cb)
                entry.fitted = True
                if study is not None and save_models:
                    from dancerec.recommender.runs import record_model

                    result.model_ids[label] = record_model(
                        study,
                        entry.model,
                        name=entry.registry_name,
                        split=split_name,
                        seed=train.seed,
                        train_s=entry.train_s,
                    )
            ev = self._evaluate(entry, progress)
            result.evaluations[label] = ev
            if study is not None:
                from dancerec.recommender.runs import record_run

                result.run_ids[label] = record_run(study, ev, split=split_name, seed=train.seed)
        return result

    def _evaluate(self, entry: ModelEntry, progress: ExperimentProgress | None) -> Evaluation:
        n_users = len(self.split.test_users)
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            progress(entry.label, "evaluate", done[0], n_users, "")

        ev = evaluate(
            entry.model,
            self.split.train,
            self.split.test,
            self.k_list,
            model_name=entry.label,
            sampled_negatives=self.sampled_negatives,
            relevant_min_score=self.relevant_min_score,
            n_bootstrap=self.n_bootstrap,
            progress=None if progress is None else advance,
        )
        ev.train_s = entry.train_s
        return ev


# --------------------------------------------------------------------------------------------
# comparing stored runs
# --------------------------------------------------------------------------------------------
def compare_runs(
    study,
    *,
    runs: Sequence[str] | None = None,
    split: str | None = None,
    baseline: str = "mostpop",
    metrics: Sequence[str] = DEFAULT_COMPARE_METRICS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paired tests of stored runs against a baseline run; returns (comparison, curves over K).

    ``runs`` are run ids or model names (a name means that model's latest run on ``split``, see
    :func:`dancerec.recommender.runs.resolve_run`); by default the latest run of every model (on
    ``split`` when given). ``baseline`` is named the same way. Tests: paired t and Wilcoxon signed-rank
    per metric, Holm-corrected over all tests of one kind (see :func:`dancerec.recommender.stats.compare`).
    """
    from dancerec.recommender.runs import latest_runs, load_run, resolve_run
    from dancerec.recommender.stats import compare as compare_per_user

    if runs:
        ids = [resolve_run(study, ref, split=split) for ref in runs]
    else:
        ids = latest_runs(study, split=split)
        if not ids:
            raise UserError("no evaluation runs to compare; run `dancerec recommender evaluate` first")
    base_id = resolve_run(study, baseline, split=split)
    if base_id not in ids:
        ids = [base_id, *ids]
    by_model: dict[str, Any] = {}
    for run in (load_run(study, r) for r in dict.fromkeys(ids)):
        by_model[run.model if run.model not in by_model else run.run_id] = run
    base = next(m for m, r in by_model.items() if r.run_id == base_id)
    result = compare_per_user(
        {m: r.per_user for m, r in by_model.items()}, base, [m.strip() for m in metrics]
    )
    result.insert(1, "run_id", result["model"].map({m: r.run_id for m, r in by_model.items()}))
    curves = pd.concat([r.curves.assign(model=m) for m, r in by_model.items()], ignore_index=True)
    return result, curves
