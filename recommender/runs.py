"""Evaluation runs and trained models kept in the study.

A run is a row of ``rec_run`` (model, parameters, split, seed, K list, protocol, timings, coverage), its
summary in ``rec_run_metric`` (metric, K, mean, bootstrap CI) and two Parquet files under
``artifacts/recommender/runs/<run_id>/``: ``per_user.parquet`` (one row per evaluated user, ``user_id``
as the log's raw id string) and ``curves.parquet`` (K = 1..50). The linkage analysis reads them back
with :func:`load_run`.

Trained models are saved as ``params.json`` + ``state.npz`` (numpy arrays only, loaded with
``allow_pickle=False``: no arbitrary code runs when a model is loaded).
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from dancerec.recommender.base import Recommender
from dancerec.recommender.evaluate import Evaluation
from dancerec.recommender.registry import MODELS, make_model

from dancerec.errors import UserError


@dataclass
class EvaluationRun:
    """One stored evaluation run (the contract the linkage and report subsystems read)."""

    run_id: str
    model: str
    params: dict
    split: str
    seed: int
    k_list: list[int]
    summary: pd.DataFrame  # metric, k, mean, ci_low, ci_high
    curves: pd.DataFrame  # model, k = 1..50, precision, recall, ndcg, map, mrr, hit_rate
    per_user: pd.DataFrame  # user_id, n_test_items, n_train_items, <metric>@<k>
    protocol: str = "full"
    coverage: dict[int, float] = field(default_factory=dict)
    train_s: float | None = None
    eval_s: float | None = None
    created_at: datetime | None = None


def runs_dir(study) -> Path:
    return study.artifacts / "recommender" / "runs"


def models_dir(study) -> Path:
    return study.artifacts / "recommender" / "models"


def _new_id(prefix: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{prefix}-{stamp}-{secrets.token_hex(3)}"


def _jsonable_params(params: dict) -> str:
    def conv(v):
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        if v is None or isinstance(v, bool | int | float | str):
            return v
        return str(v)

    return json.dumps(conv(params), sort_keys=True)


def record_run(study, evaluation: Evaluation, *, split: str, seed: int, run_id: str | None = None) -> str:
    """Store an :class:`Evaluation` as a run of the study; returns the run id."""
    run_id = run_id or _new_id(evaluation.model)
    final = runs_dir(study) / run_id
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".run-", dir=final.parent))
    try:
        evaluation.per_user.to_parquet(staging / "per_user.parquet", index=False)
        evaluation.curves.to_parquet(staging / "curves.parquet", index=False)
        with study.transaction() as con:
            if con.execute("SELECT 1 FROM rec_run WHERE run_id = ?", [run_id]).fetchone():
                raise UserError(f"run {run_id!r} already exists")
            con.execute(
                "INSERT INTO rec_run VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    evaluation.model,
                    _jsonable_params(evaluation.params),
                    split,
                    int(seed),
                    json.dumps(list(evaluation.k_list)),
                    evaluation.protocol,
                    evaluation.n_users,
                    evaluation.train_s,
                    evaluation.eval_s,
                    json.dumps({str(k): v for k, v in evaluation.coverage.items()}),
                    str(final.relative_to(study.root)),
                    datetime.now(UTC).replace(tzinfo=None),
                ],
            )
            summary = evaluation.summary[["metric", "k", "mean", "ci_low", "ci_high"]].copy()
            summary.insert(0, "run_id", run_id)
            con.register("_summary", summary)
            con.execute("INSERT INTO rec_run_metric SELECT * FROM _summary")
            con.unregister("_summary")
            shutil.move(str(staging), str(final))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run_id


def list_runs(study) -> pd.DataFrame:
    """All runs: run_id, model, params, split, seed, k_list, protocol, n_users, train_s, eval_s, created_at."""
    with study.read() as con:
        return con.execute(
            "SELECT run_id, model, params, split, seed, k_list, protocol, n_users, train_s, eval_s, created_at "
            "FROM rec_run ORDER BY created_at, run_id"
        ).df()


def latest_runs(study, *, split: str | None = None) -> list[str]:
    """The latest run id of every model (on ``split`` when given), in order of first appearance."""
    table = list_runs(study)
    if split is not None:
        table = table[table["split"] == split]
    return table.groupby("model", sort=False)["run_id"].last().tolist()


def resolve_run(study, ref: str, split: str | None = None) -> str:
    """A run id from a run id or a model name (that model's latest run, on ``split`` when given).

    The one grammar for naming runs (``compare``, ``link --map``, ...): ``ease`` and
    ``ease-20261129-101500-a1b2c3`` both work; a run id wins when a model has the same name.
    """
    ref = ref.strip()
    with study.read() as con:
        if con.execute("SELECT 1 FROM rec_run WHERE run_id = ?", [ref]).fetchone():
            return ref
        query, args = "SELECT run_id FROM rec_run WHERE model = ?", [ref]
        if split is not None:
            query += " AND split = ?"
            args.append(split)
        row = con.execute(query + " ORDER BY created_at DESC, run_id DESC LIMIT 1", args).fetchone()
        if row is not None:
            return row[0]
        models = [r[0] for r in con.execute("SELECT DISTINCT model FROM rec_run ORDER BY model").fetchall()]
    where = f" on split {split!r}" if split is not None else ""
    raise UserError(
        f"no evaluation run {ref!r}{where}: expected a run id or a model name with runs "
        f"({', '.join(models) or 'none yet; run `dancerec recommender evaluate`'})"
    )


def load_run(study, run_id: str) -> EvaluationRun:
    """A stored run with its summary, curves and per-user metrics."""
    with study.read() as con:
        row = con.execute(
            "SELECT run_id, model, params, split, seed, k_list, protocol, coverage, train_s, eval_s, path, created_at "
            "FROM rec_run WHERE run_id = ?",
            [run_id],
        ).fetchone()
        if row is None:
            known = [r[0] for r in con.execute("SELECT run_id FROM rec_run ORDER BY created_at").fetchall()]
            raise UserError(f"no run {run_id!r} in the study (have: {', '.join(known[-10:]) or 'none'})")
        summary = con.execute(
            "SELECT metric, k, mean, ci_low, ci_high FROM rec_run_metric WHERE run_id = ? ORDER BY metric, k",
            [run_id],
        ).df()
    path = study.root / row[10]
    return EvaluationRun(
        run_id=row[0],
        model=row[1],
        params=json.loads(row[2]),
        split=row[3],
        seed=int(row[4]),
        k_list=json.loads(row[5]),
        summary=summary,
        curves=pd.read_parquet(path / "curves.parquet"),
        per_user=pd.read_parquet(path / "per_user.parquet"),
        protocol=row[6],
        coverage={int(k): v for k, v in json.loads(row[7]).items()},
        train_s=row[8],
        eval_s=row[9],
        created_at=row[11],
    )


# --------------------------------------------------------------------------------------------
# trained models
# --------------------------------------------------------------------------------------------
def save_model(model: Recommender, directory: Path, *, name: str) -> None:
    """``params.json`` + ``state.npz`` (sparse matrices as their CSR arrays)."""
    directory.mkdir(parents=True, exist_ok=True)
    if _native(model):  # the model has its own safe checkpoint format (e.g. the relation model)
        model.save(directory / "checkpoint")
        (directory / "params.json").write_text(json.dumps({"model": name, "format": "native"}, indent=2))
        return
    arrays: dict[str, np.ndarray] = {}
    for key, value in model.get_state().items():
        if sp.issparse(value):
            csr = value.tocsr()
            arrays[f"{key}@csr.data"] = csr.data
            arrays[f"{key}@csr.indices"] = csr.indices
            arrays[f"{key}@csr.indptr"] = csr.indptr
            arrays[f"{key}@csr.shape"] = np.asarray(csr.shape)
        else:
            arr = np.asarray(value)
            if arr.dtype == object:
                raise TypeError(f"cannot save attribute {key!r} of {name}: not a numeric array")
            arrays[key] = arr
    np.savez(directory / "state.npz", **arrays)
    (directory / "params.json").write_text(
        json.dumps({"model": name, "params": json.loads(_jsonable_params(model.get_params()))}, indent=2)
    )


def _native(model: Recommender) -> bool:
    return callable(getattr(model, "save", None)) and callable(getattr(type(model), "load", None))


def load_model(directory: Path) -> Recommender:
    meta = json.loads((directory / "params.json").read_text())
    if meta.get("format") == "native":
        return MODELS[meta["model"]].load(directory / "checkpoint")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
    model = make_model(meta["model"], **params)
    state: dict = {}
    with np.load(directory / "state.npz", allow_pickle=False) as npz:
        for key in npz.files:
            if "@csr." in key:
                base, part = key.split("@csr.")
                state.setdefault(base, {})[part] = npz[key]
            else:
                value = npz[key]
                state[key] = value.item() if value.ndim == 0 else value
    for key, value in list(state.items()):
        if isinstance(value, dict):
            state[key] = sp.csr_matrix(
                (value["data"], value["indices"], value["indptr"]), shape=tuple(value["shape"])
            )
    return model.set_state(state)


def record_model(study, model: Recommender, *, name: str, split: str, seed: int, train_s: float) -> str:
    """Save a trained model in the study; returns its model id."""
    model_id = _new_id(name)
    final = models_dir(study) / model_id
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model-", dir=final.parent))
    try:
        save_model(model, staging, name=name)
        with study.transaction() as con:
            con.execute(
                "INSERT INTO rec_model VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    model_id,
                    name,
                    _jsonable_params(model.get_params()),
                    split,
                    int(seed),
                    str(final.relative_to(study.root)),
                    float(train_s),
                    datetime.now(UTC).replace(tzinfo=None),
                ],
            )
            shutil.move(str(staging), str(final))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model_id


def list_models(study) -> pd.DataFrame:
    with study.read() as con:
        return con.execute("SELECT * FROM rec_model ORDER BY created_at, model_id").df()


def find_model(study, ref: str, split: str | None = None) -> tuple[str, Recommender, dict]:
    """A saved model by id, or the latest saved model of that name (on ``split`` when given)."""
    with study.read() as con:
        row = con.execute(
            "SELECT model_id, path, split, train_s, model FROM rec_model WHERE model_id = ?", [ref]
        ).fetchone()
        if row is None:
            query = "SELECT model_id, path, split, train_s, model FROM rec_model WHERE model = ?"
            args = [ref]
            if split is not None:
                query += " AND split = ?"
                args.append(split)
            row = con.execute(query + " ORDER BY created_at DESC, model_id DESC LIMIT 1", args).fetchone()
    if row is None:
        where = f" on split {split!r}" if split else ""
        raise UserError(
            f"no trained model {ref!r}{where} in the study; train one with `dancerec recommender train`"
        )
    return row[0], load_model(study.root / row[1]), {"split": row[2], "train_s": row[3], "model": row[4]}
