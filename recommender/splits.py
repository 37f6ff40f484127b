"""Train/test splits of a dataset, computed by DuckDB SQL over Parquet, and their loading into TrainData.

Methods (per user, on the user's distinct items):

* ``chronological`` — the paper's protocol: the last ``round(test_frac · n)`` items by time go to test;
* ``random`` — the same share chosen at random (seeded; the order key is ``md5(seed:user:item)``, which
  is stable across DuckDB versions and machines, unlike ``hash()``);
* ``loo`` — leave-one-out: the user's last item (by time; random when there are no timestamps);
* ``external`` — train and test given as two files (:func:`split_external`), for comparisons with other tools.

Users with fewer than ``min_user_items`` items stay wholly in train (they still shape the model but are
not evaluated). Every other user gets at least one test item.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from dancerec.recommender.base import TrainData
from dancerec.recommender.data import (
    DatasetInfo,
    InteractionLog,
    _check_name,
    _ensure,
    _sql_str,
    dataset_info,
    log_to_dir,
    stored_row,
)

from dancerec.errors import UserError

METHODS = ("chronological", "random", "loo")


@dataclass
class Split:
    """Train and test interactions on the same user/item indices (``TrainData`` both)."""

    train: TrainData
    test: TrainData
    name: str = ""
    method: str = ""
    params: dict | None = None

    @property
    def test_users(self) -> np.ndarray:
        """Users with at least one test item (the evaluated users)."""
        return np.flatnonzero(np.diff(self.test.matrix.indptr) > 0)


@dataclass(frozen=True)
class SplitInfo:
    name: str
    dataset: str
    method: str
    params: dict
    seed: int | None
    path: Path
    n_train: int
    n_test: int
    n_test_users: int
    note: str = ""  # e.g. why ``auto`` chose a random split


def split_sql(
    rel: str, method: str, *, test_frac: float = 0.2, min_user_items: int = 5, seed: int = 42
) -> str:
    """SQL adding ``part`` ('train' | 'test') to every row of ``rel`` (columns user_idx, item_idx, timestamp)."""
    if method not in METHODS:
        raise UserError(f"unknown split method {method!r} (expected one of {', '.join(METHODS)})")
    if not 0 < test_frac < 1:
        raise UserError(f"test share must be between 0 and 1, got {test_frac}")
    rand = f"md5_number('{int(seed)}:' || user_idx || ':' || item_idx)"
    if method == "random":
        order = rand
    else:  # chronological and leave-one-out use time; ties (and missing times) broken at random
        order = f"timestamp NULLS FIRST, {rand}"
    n_test = (
        "CASE WHEN n < {m} THEN 0 ELSE 1 END"
        if method == "loo"
        else "CASE WHEN n < {m} THEN 0 ELSE greatest(1, round({f} * n)) END"
    ).format(m=int(min_user_items), f=float(test_frac))
    return f"""
        SELECT * EXCLUDE (_pos, n), CASE WHEN _pos > n - ({n_test}) THEN 'test' ELSE 'train' END AS part
        FROM (
            SELECT *, row_number() OVER (PARTITION BY user_idx ORDER BY {order}) AS _pos,
                   count(*) OVER (PARTITION BY user_idx) AS n
            FROM {rel}
        )
    """


def split_dir(
    dataset_dir: Path,
    out_dir: Path,
    method: str,
    *,
    test_frac: float = 0.2,
    min_user_items: int = 5,
    seed: int = 42,
    memory_limit: str | None = None,
) -> tuple[int, int, int]:
    """Write ``train.parquet`` and ``test.parquet`` for a dataset folder; returns (n_train, n_test, n_test_users)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        if memory_limit:
            con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
        src = f"read_parquet({_sql_str(dataset_dir / 'interactions.parquet')})"
        if method == "chronological":
            has_time = con.execute(f"SELECT count(timestamp) FROM {src}").fetchone()[0]
            if not has_time:
                raise UserError(
                    f"{dataset_dir.name}: the chronological split needs timestamps and this dataset has none; "
                    "use --method random or loo"
                )
        con.execute(
            f"CREATE TEMP TABLE _split AS SELECT user_idx, item_idx, part = 'test' AS is_test FROM "
            f"({split_sql(src, method, test_frac=test_frac, min_user_items=min_user_items, seed=seed)})"
        )
        for part, flag in (("train", "false"), ("test", "true")):
            con.execute(
                f"COPY (SELECT s.* FROM {src} s JOIN _split USING (user_idx, item_idx) WHERE is_test = {flag} "
                f"ORDER BY user_idx, item_idx) TO {_sql_str(out_dir / (part + '.parquet'))} (FORMAT parquet)"
            )
        n_train, n_test, n_users = con.execute(
            "SELECT count(*) FILTER (NOT is_test), count(*) FILTER (is_test), "
            "count(DISTINCT user_idx) FILTER (is_test) FROM _split"
        ).fetchone()
    finally:
        con.close()
    return int(n_train), int(n_test), int(n_users)


# --------------------------------------------------------------------------------------------
# loading into TrainData
# --------------------------------------------------------------------------------------------
def _features(path: Path, key: str, idx: str) -> tuple[np.ndarray, pd.DataFrame | None]:
    frame = pd.read_parquet(path).sort_values(idx)
    ids = frame[key].astype(str).to_numpy()
    feats = frame.drop(columns=[key, idx]).reset_index(drop=True)
    return ids, (feats if len(feats.columns) else None)


def _train_data(path: Path, shape: tuple[int, int], **fields) -> TrainData:
    """One side of a split folder as :class:`TrainData`; ``fields``: ids, features and seed of both sides."""
    frame = pd.read_parquet(path)
    frame = frame.rename(columns={"user_idx": "user", "item_idx": "item"})
    users = frame["user"].to_numpy(np.int64)
    items = frame["item"].to_numpy(np.int64)
    values = frame["score"].to_numpy(np.float32)
    matrix = sp.csr_matrix((values, (users, items)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    return TrainData(matrix=matrix, interactions=frame, **fields)


def load_split_dir(dataset_dir: Path, split_path: Path, *, seed: int = 42, features: bool = True) -> Split:
    """Train and test of a split folder as :class:`TrainData` on the dataset's indices."""
    user_ids, user_features = _features(dataset_dir / "users.parquet", "user_id", "user_idx")
    item_ids, item_features = _features(dataset_dir / "items.parquet", "item_id", "item_idx")
    if not features:
        user_features = item_features = None
    shape = (len(user_ids), len(item_ids))
    fields = dict(
        user_ids=user_ids,
        item_ids=item_ids,
        user_features=user_features,
        item_features=item_features,
        seed=seed,
    )
    train = _train_data(split_path / "train.parquet", shape, **fields)
    test = _train_data(split_path / "test.parquet", shape, **fields)
    return Split(train, test)


def split_log(
    log: InteractionLog,
    method: str = "random",
    *,
    test_frac: float = 0.2,
    min_user_items: int = 5,
    seed: int = 42,
    features: bool = True,
) -> Split:
    """Split an in-memory log (library and test use; the study path is :func:`split_dataset`)."""
    with tempfile.TemporaryDirectory(prefix="dancerec-split-") as tmp:
        data_dir, split_path = Path(tmp) / "data", Path(tmp) / "split"
        log_to_dir(log, data_dir)
        split_dir(data_dir, split_path, method, test_frac=test_frac, min_user_items=min_user_items, seed=seed)
        split = load_split_dir(data_dir, split_path, seed=seed, features=features)
    split.method = method
    split.params = {"test_frac": test_frac, "min_user_items": min_user_items, "seed": seed}
    return split


def holdout(
    data: TrainData,
    method: str = "random",
    *,
    test_frac: float = 0.2,
    min_user_items: int = 5,
    seed: int = 42,
) -> Split:
    """Carve a validation split out of training data (for tuning; never touch the test set)."""
    frame = data.interactions.rename(columns={"user": "user_idx", "item": "item_idx"})
    if "timestamp" not in frame.columns:
        frame = frame.assign(timestamp=pd.NaT)
    con = duckdb.connect()
    try:
        con.register("_d", frame[["user_idx", "item_idx", "timestamp"]])
        parts = con.execute(
            f"SELECT user_idx, item_idx, part FROM "
            f"({split_sql('_d', method, test_frac=test_frac, min_user_items=min_user_items, seed=seed)})"
        ).df()
    finally:
        con.close()
    test_keys = parts.loc[parts["part"] == "test", ["user_idx", "item_idx"]]
    key = data.interactions["user"].to_numpy(np.int64) * data.n_items + data.interactions["item"].to_numpy(
        np.int64
    )
    is_test = np.isin(
        key,
        test_keys["user_idx"].to_numpy(np.int64) * data.n_items + test_keys["item_idx"].to_numpy(np.int64),
    )
    out = []
    for mask in (~is_test, is_test):
        rows = data.interactions.loc[mask].reset_index(drop=True)
        matrix = sp.csr_matrix(
            (rows["score"].to_numpy(np.float32), (rows["user"].to_numpy(), rows["item"].to_numpy())),
            shape=data.matrix.shape,
        )
        out.append(
            TrainData(
                matrix, rows, data.user_ids, data.item_ids, data.user_features, data.item_features, data.seed
            )
        )
    return Split(
        out[0], out[1], method=method, params={"test_frac": test_frac, "seed": seed, "validation": True}
    )


# --------------------------------------------------------------------------------------------
# the study store
# --------------------------------------------------------------------------------------------
def splits_dir(study) -> Path:
    return study.artifacts / "recommender" / "splits"


def _register(study, info: SplitInfo, staging: Path) -> SplitInfo:
    final = splits_dir(study) / info.name
    with study.transaction() as con:
        if con.execute("SELECT 1 FROM rec_split WHERE name = ?", [info.name]).fetchone():
            raise UserError(f"a split named {info.name!r} already exists; choose another --name")
        if final.exists():
            shutil.rmtree(final)
        con.execute(
            "INSERT INTO rec_split VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                info.name,
                info.dataset,
                info.method,
                json.dumps(info.params),
                info.seed,
                str(final.relative_to(study.root)),
                info.n_train,
                info.n_test,
                info.n_test_users,
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
        shutil.move(str(staging), str(final))
    return SplitInfo(
        info.name,
        info.dataset,
        info.method,
        info.params,
        info.seed,
        final,
        info.n_train,
        info.n_test,
        info.n_test_users,
    )


def has_timestamps(dataset_dir: Path) -> bool:
    """Whether any interaction of a stored dataset has a timestamp (Last.fm-2k has none)."""
    con = duckdb.connect()
    try:
        src = f"read_parquet({_sql_str(dataset_dir / 'interactions.parquet')})"
        return bool(con.execute(f"SELECT count(timestamp) FROM {src}").fetchone()[0])
    finally:
        con.close()


def split_dataset(
    study,
    dataset: str,
    method: str = "chronological",
    *,
    name: str | None = None,
    test_frac: float = 0.2,
    min_user_items: int = 5,
    seed: int | None = None,
) -> SplitInfo:
    """Split a stored dataset (seed defaults to the study's) and record it in the study.

    ``method="auto"`` is chronological when the log has timestamps and otherwise a seeded random split;
    the returned info's ``note`` says which was chosen and why.
    """
    ds = dataset_info(study, dataset)
    seed = study.config.seed if seed is None else seed
    note = ""
    if method == "auto":
        method = "chronological" if has_timestamps(ds.path) else "random"
        if method == "random":
            note = f"{dataset} has no timestamps, so the split is a seeded random one (seed {seed})"
    name = name or f"{dataset}-{method}"
    _check_name(name, "split")
    staging = Path(tempfile.mkdtemp(prefix=".split-", dir=_ensure(splits_dir(study))))
    try:
        n_train, n_test, n_users = split_dir(
            ds.path, staging, method, test_frac=test_frac, min_user_items=min_user_items, seed=seed
        )
        params = {"test_frac": test_frac, "min_user_items": min_user_items}
        info = SplitInfo(name, dataset, method, params, seed, staging, n_train, n_test, n_users)
        return dataclasses.replace(_register(study, info, staging), note=note)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _load_parts(con: duckdb.DuckDBPyConnection, parts: dict[str, DatasetInfo]) -> None:
    """Table ``_both``: every row of each part with raw ids and its ``part``; no pair may be in both."""
    selects = []
    for part, info in parts.items():
        d = _sql_str(info.path)
        selects.append(
            f"SELECT u.user_id, i.item_id, x.* EXCLUDE (user_idx, item_idx, score), '{part}' AS part "
            f"FROM read_parquet({d} || '/interactions.parquet') x "
            f"JOIN read_parquet({d} || '/users.parquet') u USING (user_idx) "
            f"JOIN read_parquet({d} || '/items.parquet') i USING (item_idx)"
        )
    con.execute("CREATE TEMP TABLE _both AS " + " UNION ALL ".join(selects))
    overlap = con.execute(
        "SELECT count(*) FROM (SELECT user_id, item_id FROM _both GROUP BY ALL HAVING count(DISTINCT part) > 1)"
    ).fetchone()[0]
    if overlap:
        raise UserError(f"{overlap} (user, item) pairs are in both the train and the test file")


def _raw_features(dataset_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stored dataset's user and item feature tables, indexed by raw id."""
    users = pd.read_parquet(dataset_dir / "users.parquet").drop(columns="user_idx").set_index("user_id")
    items = pd.read_parquet(dataset_dir / "items.parquet").drop(columns="item_idx").set_index("item_id")
    return users, items


def _write_parts(con: duckdb.DuckDBPyConnection, dataset_dir: Path, staging: Path) -> tuple[int, int, int]:
    """``train``/``test.parquet`` of the union dataset's rows in each part; (n_train, n_test, n_test_users)."""
    d = _sql_str(dataset_dir)
    for part in ("train", "test"):
        con.execute(
            f"COPY (SELECT x.* FROM read_parquet({d} || '/interactions.parquet') x "
            f"JOIN read_parquet({d} || '/users.parquet') u USING (user_idx) "
            f"JOIN read_parquet({d} || '/items.parquet') i USING (item_idx) "
            f"SEMI JOIN (SELECT user_id, item_id FROM _both WHERE part = '{part}') b USING (user_id, item_id) "
            f"ORDER BY user_idx, item_idx) TO {_sql_str(staging / (part + '.parquet'))} (FORMAT parquet)"
        )
    n_train = con.execute(
        f"SELECT count(*) FROM read_parquet({_sql_str(staging / 'train.parquet')})"
    ).fetchone()[0]
    n_test, n_test_users = con.execute(
        f"SELECT count(*), count(DISTINCT user_idx) FROM read_parquet({_sql_str(staging / 'test.parquet')})"
    ).fetchone()
    return int(n_train), int(n_test), int(n_test_users)


def split_external(
    study, dataset: str, train_name: str, test_name: str, *, name: str | None = None
) -> SplitInfo:
    """A split given from outside: ``train_name`` and ``test_name`` are two stored datasets.

    Both are re-indexed onto one dataset ``dataset`` (their union) so indices are shared; the split keeps
    exactly the given rows on each side.
    """
    from dancerec.recommender.data import _register_dataset, datasets_dir, write_dataset_dir

    parts = {"train": dataset_info(study, train_name), "test": dataset_info(study, test_name)}
    name = name or f"{dataset}-external"
    _check_name(name, "split")
    staging_ds = Path(tempfile.mkdtemp(prefix=".import-", dir=_ensure(datasets_dir(study))))
    staging = Path(tempfile.mkdtemp(prefix=".split-", dir=_ensure(splits_dir(study))))
    try:
        con = duckdb.connect()
        try:
            _load_parts(con, parts)
            users, items = _raw_features(parts["train"].path)
            con.execute("CREATE TEMP VIEW _union AS SELECT * EXCLUDE (part) FROM _both")
            n_users, n_items, n_rows = write_dataset_dir(con, "_union", staging_ds, users, items)
            n_train, n_test, n_test_users = _write_parts(con, staging_ds, staging)
        finally:
            con.close()
        params = {"train": train_name, "test": test_name}
        ds = DatasetInfo(dataset, "external", staging_ds, n_users, n_items, n_rows)
        _register_dataset(study, ds, dataset, params, staging_ds)
        info = SplitInfo(name, dataset, "external", params, None, staging, n_train, n_test, n_test_users)
        return _register(study, info, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(staging_ds, ignore_errors=True)


def split_info(study, name: str, *, con=None) -> SplitInfo:
    """The stored split ``name`` (``con``: an open connection to read through, else a new one)."""
    if con is None:
        with study.read() as own:
            return split_info(study, name, con=own)
    row = stored_row(
        con,
        "rec_split",
        "name, dataset, method, params, seed, path, n_train, n_test, n_test_users",
        name,
        what="split",
        hint="create one with `dancerec recommender split`",
    )
    return SplitInfo(
        row[0], row[1], row[2], json.loads(row[3]), row[4], study.root / row[5], *map(int, row[6:])
    )


def list_splits(study) -> pd.DataFrame:
    with study.read() as con:
        return con.execute("SELECT * FROM rec_split ORDER BY created_at").df()


def load_split(study, name: str, *, features: bool = True) -> Split:
    """A stored split as train/test :class:`TrainData` with the dataset's user and item features."""
    with study.read() as con:  # one connection for both rows (each connect costs ~25 ms)
        info = split_info(study, name, con=con)
        ds: DatasetInfo = dataset_info(study, info.dataset, con=con)
    seed = info.seed if info.seed is not None else study.config.seed
    split = load_split_dir(ds.path, info.path, seed=seed, features=features)
    split.name, split.method, split.params = info.name, info.method, {**info.params, "seed": info.seed}
    return split
