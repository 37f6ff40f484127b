"""One schema for interaction logs, the loaders of each source, behaviour scores and labels.

Every source (HetRec Last.fm, Echo Nest Taste Profile triplets, MovieLens ``u.data``, any CSV/TSV/
Parquet with a column mapping, the simulator) becomes an :class:`InteractionLog`: a long table of
interactions with the columns of :data:`INTERACTION_COLUMNS` plus user and item feature tables keyed by
the raw ids. Large files never pass through pandas: :func:`import_file` reads them with DuckDB and
writes the study's Parquet directly; the in-memory :class:`InteractionLog` is for small data, tests and
library use.

Behaviour scores (the source paper's rule, made explicit):

* **play points** 1–5: the per-user quintile of the play count,
  ``ceil(5 · cume_dist)`` over the user's own play counts (cume_dist = share of the user's items with
  at most this many plays; ties share a value). Per-user rather than global because heavy and light
  listeners differ by orders of magnitude; a user's top fifth is worth 5 points either way.
  A rating (MovieLens) is used directly as points (clipped to 1–5); an interaction with neither plays
  nor rating (a bare event) gets 3 points, the neutral middle.
* **dance points** 1–5: ``ceil(dance_score / 20)`` for a dance score on 0–100; the listening part is
  ``max(play points, dance points)`` so dancing to an item counts like listening to it a lot.
* **comprehensive score** = listening part + 4 · praise + 6 · collect (range 1–15): praise and
  collect are explicit signals worth the paper's 4 and 6 points on top of the listening evidence.

Labels (:func:`label_interactions`): positive when score ≥ 4 (the user's top two play quintiles, or
any praise/collect), negative when score < 2 (bottom play quintile, no praise/collect); the negatives are
sampled (seeded) down — or topped up from items the user never touched — to one per positive.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from dancerec.recommender.interactions import (
    COLLECT_POINTS,
    INTERACTION_COLUMNS,
    ITEM_KINDS,
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    PRAISE_POINTS,
    SOURCES,
    InteractionLog,
    Subset,
    _full_frame,
    _sql_str,
    _tidy,
)
from dancerec.recommender.readers import (
    ColumnSpec,
    CsvFormat,
    _check_timestamps,
    _interaction_specs,
    _normalise_view,
    _read_rows,
    read_lastfm,
    read_movielens,
    read_table,
    read_taste_profile,
)
from dancerec.recommender.scores import (
    activity_filter,
    activity_filter_sql,
    behaviour_scores,
    label_interactions,
    score_sql,
)

from dancerec.errors import UserError

__all__ = [
    "COLLECT_POINTS",
    "INTERACTION_COLUMNS",
    "ITEM_KINDS",
    "NEGATIVE_THRESHOLD",
    "POSITIVE_THRESHOLD",
    "PRAISE_POINTS",
    "SOURCES",
    "ColumnSpec",
    "DatasetInfo",
    "InteractionLog",
    "Subset",
    "activity_filter",
    "activity_filter_sql",
    "behaviour_scores",
    "dataset_info",
    "datasets_dir",
    "density",
    "import_file",
    "import_log",
    "label_interactions",
    "list_datasets",
    "load_log",
    "log_to_dir",
    "read_dataset_dir",
    "read_lastfm",
    "read_movielens",
    "read_table",
    "read_taste_profile",
    "score_sql",
    "stored_row",
    "write_dataset_dir",
]


# --------------------------------------------------------------------------------------------
# datasets in a folder of Parquet files (the study store and the in-memory path share this)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str
    path: Path
    n_users: int
    n_items: int
    n_interactions: int
    n_bad_rows: int = 0

    @property
    def density(self) -> float:
        cells = self.n_users * self.n_items
        return self.n_interactions / cells if cells else 0.0


def write_dataset_dir(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    directory: Path,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
) -> tuple[int, int, int]:
    """Write ``relation`` (full interaction schema, raw ids) as a dataset folder.

    ``users.parquet`` / ``items.parquet`` give each raw id a dense index (``user_idx``, ``item_idx``,
    sorted by raw id) plus its features; ``interactions.parquet`` holds the indices, the schema columns
    and ``score``. Everything runs inside DuckDB, so a log of tens of millions of rows streams.
    """
    directory.mkdir(parents=True, exist_ok=True)
    # one row per (user, item): repeated events are merged (plays add up, first time, any praise/collect)
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _src AS
        SELECT user_id, item_id, any_value(kind) AS kind, min(timestamp) AS timestamp, sum(plays) AS plays,
               avg(rating) AS rating, max(praise) AS praise, max("collect") AS "collect",
               max(dance_score) AS dance_score
        FROM {relation} GROUP BY user_id, item_id"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _users AS SELECT user_id, (row_number() OVER (ORDER BY user_id) - 1)::INTEGER "
        "AS user_idx FROM (SELECT DISTINCT user_id FROM _src)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _items AS SELECT item_id, (row_number() OVER (ORDER BY item_id) - 1)::INTEGER "
        "AS item_idx, any_value(kind) AS kind FROM (SELECT item_id, any_value(kind) AS kind FROM _src GROUP BY item_id) "
        "GROUP BY item_id"
    )
    cols = ", ".join(f's."{c}"' for c in INTERACTION_COLUMNS if c not in ("user_id", "item_id"))
    scored = score_sql("_src")
    con.execute(
        f"""COPY (
            SELECT u.user_idx, i.item_idx, {cols}, s.score
            FROM ({scored}) s JOIN _users u USING (user_id) JOIN _items i USING (item_id)
            ORDER BY u.user_idx, s.timestamp NULLS FIRST, i.item_idx
        ) TO {_sql_str(directory / "interactions.parquet")} (FORMAT parquet)"""
    )
    for key, table, frame in (("user_id", "_users", users), ("item_id", "_items", items)):
        out = directory / f"{table[1:]}.parquet"
        base = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        select = [f"t.{c}" for c in base]
        source = table + " t"
        if frame is not None and len(frame.columns):
            feats = frame.copy()
            feats.index = feats.index.astype(str)
            feats.index.name = key
            feats = feats.reset_index()
            con.register("_feats", pa.Table.from_pandas(feats, preserve_index=False))
            source += f" LEFT JOIN _feats f USING ({key})"
            for col in feats.columns:
                if col == key:
                    continue
                if col in base:  # e.g. an item's kind given as a feature wins over the log's
                    select[base.index(col)] = f"COALESCE(f.{col}, t.{col}) AS {col}"
                else:
                    select.append(f'f."{col}"')
        con.execute(
            f"COPY (SELECT {', '.join(select)} FROM {source} ORDER BY 2) TO {_sql_str(out)} (FORMAT parquet)"
        )
        if frame is not None and len(frame.columns):
            con.unregister("_feats")
    n_users = con.execute("SELECT count(*) FROM _users").fetchone()[0]
    n_items = con.execute("SELECT count(*) FROM _items").fetchone()[0]
    n_rows = con.execute(
        f"SELECT count(*) FROM read_parquet({_sql_str(directory / 'interactions.parquet')})"
    ).fetchone()[0]
    return int(n_users), int(n_items), int(n_rows)


def log_to_dir(log: InteractionLog, directory: Path) -> DatasetInfo:
    """Write an in-memory log as a dataset folder."""
    con = duckdb.connect()
    try:
        con.register("_log_df", _full_frame(log.interactions))
        n_users, n_items, n_rows = write_dataset_dir(con, "_log_df", directory, log.users, log.items)
    finally:
        con.close()
    return DatasetInfo("", log.source, directory, n_users, n_items, n_rows, log.n_bad_rows)


# --------------------------------------------------------------------------------------------
# the study store
# --------------------------------------------------------------------------------------------
def datasets_dir(study) -> Path:
    return study.artifacts / "recommender" / "datasets"


def _check_name(name: str, what: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise UserError(f"bad {what} name {name!r} (expected letters, digits, '-', '_' or '.')")


def _register_dataset(study, info: DatasetInfo, name: str, params: dict, staging: Path) -> DatasetInfo:
    final = datasets_dir(study) / name
    with study.transaction() as con:
        exists = con.execute("SELECT 1 FROM rec_dataset WHERE name = ?", [name]).fetchone()
        if exists:
            raise UserError(f"a dataset named {name!r} already exists in the study; choose another --name")
        if final.exists():
            shutil.rmtree(final)  # leftover of an interrupted import (never registered)
        final.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            "INSERT INTO rec_dataset VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                info.source,
                str(final.relative_to(study.root)),
                info.n_users,
                info.n_items,
                info.n_interactions,
                info.density,
                info.n_bad_rows,
                json.dumps(params),
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
        shutil.move(str(staging), str(final))  # last step: a failure above leaves no folder
    return DatasetInfo(
        name, info.source, final, info.n_users, info.n_items, info.n_interactions, info.n_bad_rows
    )


def import_log(study, log: InteractionLog, name: str, *, params: dict | None = None) -> DatasetInfo:
    """Store an in-memory log in the study as dataset ``name``."""
    _check_name(name, "dataset")
    if len(log.interactions) == 0:
        raise UserError(f"dataset {name!r}: no interactions to import")
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=_ensure(datasets_dir(study))))
    try:
        info = log_to_dir(log, staging)
        return _register_dataset(study, info, name, params or {}, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class _ImportPlan:
    """Which file of a source is read, and how: column mapping, CSV options, feature tables."""

    file: Path
    mapping: Mapping[str, str] | None
    fmt: CsvFormat
    users: pd.DataFrame | None
    items: pd.DataFrame | None


def _resolve_source(source: str, given: _ImportPlan, skip_bad_rows: bool) -> _ImportPlan:
    """The plan of a named source (``given.file`` is the path the user named; its options apply to ``table``)."""
    path = given.file
    if source == "lastfm":
        log = read_lastfm(path, skip_bad_rows=skip_bad_rows)
        return replace(
            given,
            file=path / "user_artists.dat",
            mapping={"user_id": "userID", "item_id": "artistID", "plays": "weight"},
            fmt=replace(given.fmt, delimiter="\t"),
            users=log.users,
            items=log.items,
        )
    if source == "taste-profile":
        return replace(
            given,
            mapping={"user_id": "user", "item_id": "song", "plays": "count"},
            fmt=CsvFormat("\t", False, ["user", "song", "count"]),
        )
    if source == "movielens":
        return replace(
            given,
            mapping={"user_id": "user", "item_id": "item", "rating": "rating", "timestamp": "ts"},
            fmt=CsvFormat("\t", False, ["user", "item", "rating", "ts"]),
        )
    if source == "simulated":
        users, items = given.users, given.items
        if users is None and (path / "users.parquet").exists():
            users = pd.read_parquet(path / "users.parquet").set_index("user_id")
        if items is None and (path / "items.parquet").exists():
            items = pd.read_parquet(path / "items.parquet").set_index("item_id")
        mapping = {c: c for c in INTERACTION_COLUMNS}
        return replace(given, file=path / "interactions.parquet", mapping=mapping, users=users, items=items)
    if source == "table":
        if not given.mapping:
            raise UserError("importing a generic table needs a column mapping (e.g. --map user_id=user)")
        return given
    raise UserError(f"unknown source {source!r} (expected one of {', '.join(SOURCES)})")


def _load_log_view(
    con: duckdb.DuckDBPyConnection, source: str, plan: _ImportPlan, skip_bad_rows: bool
) -> int:
    """Create view ``_log`` (full interaction schema) of the planned file; returns the bad rows skipped."""
    if source == "simulated":
        con.execute(f"CREATE TEMP VIEW _log AS SELECT * FROM read_parquet({_sql_str(plan.file)})")
        return 0
    n_bad = _read_rows(
        con,
        plan.file,
        _interaction_specs(plan.mapping),
        plan.fmt,
        skip_bad_rows=skip_bad_rows,
        view="_typed",
    )
    _check_timestamps(con, plan.file, "_typed", plan.mapping)
    _normalise_view(con, "_typed", plan.mapping, "_log")
    return n_bad


def _filtered_view(
    con: duckdb.DuckDBPyConnection, min_user_plays: float, min_user_items: int, min_item_users: int
) -> str:
    """Name of the relation to store: ``_log``, or view ``_filtered`` of it when an activity filter is set."""
    if not (min_user_plays or min_user_items or min_item_users):
        return "_log"
    con.execute(
        "CREATE TEMP VIEW _filtered AS "
        + activity_filter_sql(
            "_log",
            min_user_plays=min_user_plays,
            min_user_items=min_user_items,
            min_item_users=min_item_users,
        )
    )
    return "_filtered"


def import_file(
    study,
    path: str | Path,
    name: str,
    *,
    source: str = "table",
    mapping: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    header: bool = True,
    skip_bad_rows: bool = False,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    min_user_plays: float = 0,
    min_user_items: int = 0,
    min_item_users: int = 0,
) -> DatasetInfo:
    """Import an interaction file (or a Last.fm folder) into the study without loading it into pandas.

    ``source``: ``lastfm`` (a folder), ``taste-profile``, ``movielens``, ``table`` (needs ``mapping``)
    or ``simulated`` (a folder written by :func:`dancerec.recommender.simulate.simulate_world`).
    """
    _check_name(name, "dataset")
    path = Path(path)
    params: dict = {
        "source_path": str(path),
        "min_user_plays": min_user_plays,
        "min_user_items": min_user_items,
        "min_item_users": min_item_users,
    }
    given = _ImportPlan(path, mapping, CsvFormat(delimiter, header), users, items)
    plan = _resolve_source(source, given, skip_bad_rows)
    con = duckdb.connect()
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=_ensure(datasets_dir(study))))
    try:
        con.execute("SET preserve_insertion_order = false")
        n_bad = _load_log_view(con, source, plan, skip_bad_rows)
        rel = _filtered_view(con, min_user_plays, min_user_items, min_item_users)
        n_users, n_items, n_rows = write_dataset_dir(con, rel, staging, plan.users, plan.items)
        if n_rows == 0:
            raise UserError(f"{plan.file}: no interactions left to import")
        con.close()
        with study.transaction() as tcon:
            study.record_file(tcon, Path(plan.file), f"interactions:{source}")
        info = DatasetInfo(name, source, staging, n_users, n_items, n_rows, n_bad)
        return _register_dataset(study, info, name, params, staging)
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)


def list_datasets(study) -> pd.DataFrame:
    with study.read() as con:
        return con.execute("SELECT * FROM rec_dataset ORDER BY created_at").df()


def stored_row(con, table: str, columns: str, name: str, *, what: str, hint: str) -> tuple:
    """The row of ``table`` whose ``name`` is ``name``, else a UserError listing the stored names.

    ``table`` and ``columns`` come from code (never from input); ``hint`` says how to create one."""
    row = con.execute(f"SELECT {columns} FROM {table} WHERE name = ?", [name]).fetchone()
    if row is None:
        known = [r[0] for r in con.execute(f"SELECT name FROM {table} ORDER BY name").fetchall()]
        raise UserError(f"no {what} {name!r} in the study (have: {', '.join(known) or 'none'}; {hint})")
    return row


def dataset_info(study, name: str, *, con=None) -> DatasetInfo:
    """The stored dataset ``name`` (``con``: an open connection to read through, else a new one)."""
    if con is None:
        with study.read() as own:
            return dataset_info(study, name, con=own)
    row = stored_row(
        con,
        "rec_dataset",
        "name, source, path, n_users, n_items, n_interactions, n_bad_rows",
        name,
        what="dataset",
        hint="create one with `dancerec recommender import` or `simulate`",
    )
    return DatasetInfo(
        row[0], row[1], study.root / row[2], int(row[3]), int(row[4]), int(row[5]), int(row[6])
    )


def read_dataset_dir(directory: Path, *, source: str = "table") -> InteractionLog:
    """A dataset folder back as an :class:`InteractionLog` (raw ids; for small data)."""
    con = duckdb.connect()
    try:
        d = _sql_str(directory)
        inter = con.execute(
            f"SELECT u.user_id, i.item_id, x.* EXCLUDE (user_idx, item_idx, score) "
            f"FROM read_parquet({d} || '/interactions.parquet') x "
            f"JOIN read_parquet({d} || '/users.parquet') u USING (user_idx) "
            f"JOIN read_parquet({d} || '/items.parquet') i USING (item_idx) ORDER BY x.user_idx, x.item_idx"
        ).df()
    finally:
        con.close()
    users = pd.read_parquet(directory / "users.parquet").drop(columns="user_idx").set_index("user_id")
    items = pd.read_parquet(directory / "items.parquet").drop(columns="item_idx").set_index("item_id")
    return InteractionLog(_tidy(inter), users, items, source=source)


def load_log(study, name: str) -> InteractionLog:
    """Dataset ``name`` of the study as an :class:`InteractionLog`."""
    info = dataset_info(study, name)
    return read_dataset_dir(info.path, source=info.source)


def density(n_interactions: int, n_users: int, n_items: int) -> float:
    return n_interactions / (n_users * n_items) if n_users and n_items else math.nan
