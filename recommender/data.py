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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from dancerec.errors import InputError, UserError

# column -> DuckDB type of the one interaction schema. Only user_id and item_id are required.
INTERACTION_COLUMNS: dict[str, str] = {
    "user_id": "VARCHAR",
    "item_id": "VARCHAR",
    "kind": "VARCHAR",  # 'music' or 'dance'
    "timestamp": "TIMESTAMP",
    "plays": "DOUBLE",
    "rating": "DOUBLE",
    "praise": "TINYINT",
    "collect": "TINYINT",
    "dance_score": "DOUBLE",
}
ITEM_KINDS = ("music", "dance")
PRAISE_POINTS = 4
COLLECT_POINTS = 6
POSITIVE_THRESHOLD = 4.0
NEGATIVE_THRESHOLD = 2.0
SOURCES = ("lastfm", "taste-profile", "movielens", "table", "simulated")


@dataclass
class InteractionLog:
    """Interactions (long table, raw string ids) plus user and item feature tables indexed by raw id.

    ``interactions`` has ``user_id``, ``item_id`` and any of the other :data:`INTERACTION_COLUMNS`;
    ``users`` (index ``user_id``: gender, age, …) and ``items`` (index ``item_id``: ``kind``, audio
    descriptors, ``genre``, ``tags`` as a list of strings, dance style, difficulty) may be empty.
    """

    interactions: pd.DataFrame
    users: pd.DataFrame = field(default_factory=pd.DataFrame)
    items: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str = "table"
    n_bad_rows: int = 0

    @property
    def n_users(self) -> int:
        return int(self.interactions["user_id"].nunique())

    @property
    def n_items(self) -> int:
        return int(self.interactions["item_id"].nunique())


@dataclass(frozen=True)
class Subset:
    """Size of an (activity-filtered) interaction set."""

    n_users: int
    n_items: int
    n_interactions: int

    @property
    def density(self) -> float:
        cells = self.n_users * self.n_items
        return self.n_interactions / cells if cells else 0.0


# --------------------------------------------------------------------------------------------
# reading delimited files with DuckDB: bad rows are located (file, line, column) or skipped
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnSpec:
    """How one schema column is read from a source column: source name and DuckDB cast."""

    source: str
    target: str
    cast: str
    expected: str
    check: str | None = None  # extra SQL condition the cast value must meet (``{v}`` = value)


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _read_rows(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    specs: list[ColumnSpec],
    *,
    delimiter: str | None,
    header: bool,
    names: list[str] | None,
    skip_bad_rows: bool,
    view: str,
    extra_select: str = "",
) -> int:
    """Create view ``view`` of typed, validated rows of ``path``; returns the number of bad rows skipped.

    Without ``skip_bad_rows`` the first bad row raises :class:`InputError` naming file, line and column.
    Parse errors (wrong number of fields) come from DuckDB's reject log, which records the line;
    conversion errors (a play count that is not a number, a negative count) are found with TRY_CAST.
    """
    if not path.exists():
        raise UserError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        source = f"read_parquet({_sql_str(path)})"
        rejects: list[tuple] = []
    else:
        opts = [
            "all_varchar=true",
            "ignore_errors=true",
            "store_rejects=true",
            f"header={str(header).lower()}",
        ]
        if delimiter is not None:
            opts.append(f"delim={_sql_str(delimiter)}")
        if names:
            opts.append("names=[" + ", ".join(_sql_str(n) for n in names) + "]")
        opts.append("quote=''" if delimiter == "\t" else "quote='\"'")
        source = f"read_csv({_sql_str(path)}, {', '.join(opts)})"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT row_number() OVER () AS _row, * FROM {source}"
        )
        rejects = con.execute(
            "SELECT line, column_name, error_message FROM reject_errors ORDER BY line"
        ).fetchall()
        con.execute("DELETE FROM reject_errors")
        con.execute("DELETE FROM reject_scans")
        source = "_raw"
    if suffix == ".parquet":
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT row_number() OVER () AS _row, * FROM {source}"
        )
    available = [r[0] for r in con.execute("DESCRIBE _raw").fetchall()]
    for spec in specs:
        if spec.source not in available:
            raise InputError(
                path,
                f"column {spec.source!r} not found",
                expected="one of " + ", ".join(a for a in available if a != "_row"),
            )
    casts = []
    bad_terms = []
    for spec in specs:
        raw = f'"{spec.source}"'
        value = f"TRY_CAST(trim(CAST({raw} AS VARCHAR)) AS {spec.cast})" if spec.cast != "VARCHAR" else raw
        if spec.cast == "VARCHAR":
            value = f"trim(CAST({raw} AS VARCHAR))"
        casts.append(f"{value} AS {spec.target}")
        cond = f"({value} IS NULL AND {raw} IS NOT NULL AND trim(CAST({raw} AS VARCHAR)) <> '')"
        if spec.target in ("user_id", "item_id"):
            cond = f"({raw} IS NULL OR trim(CAST({raw} AS VARCHAR)) = '')"
        if spec.check:
            cond = f"({cond} OR ({value} IS NOT NULL AND NOT ({spec.check.format(v=value)})))"
        bad_terms.append((spec, cond))
    any_bad = " OR ".join(c for _, c in bad_terms) or "false"
    offset = 0 if suffix == ".parquet" else int(header)

    def _line(row: int) -> int:
        line = row + offset
        for reject_line, *_ in rejects:  # rejected lines come before this row in the file
            if reject_line <= line:
                line += 1
        return line

    if not skip_bad_rows:
        if rejects:
            line, column, message = rejects[0]
            raise InputError(path, f"malformed line: {message}", row=int(line), column=column)
        first = con.execute(f"SELECT min(_row) FROM _raw WHERE {any_bad}").fetchone()[0]
        if first is not None:
            for spec, cond in bad_terms:
                hit = con.execute(
                    f"SELECT {spec.source!r} FROM _raw WHERE _row = ? AND {cond}", [first]
                ).fetchone()
                if hit:
                    value = con.execute(
                        f'SELECT "{spec.source}" FROM _raw WHERE _row = ?', [first]
                    ).fetchone()[0]
                    raise InputError(
                        path,
                        f"bad value {value!r} (use --skip-bad-rows to skip and count such rows)",
                        row=_line(int(first)),
                        column=spec.source,
                        expected=spec.expected,
                    )
    n_bad = con.execute(f"SELECT count(*) FROM _raw WHERE {any_bad}").fetchone()[0] + len(rejects)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {', '.join(casts)}{extra_select} FROM _raw "
        f"WHERE NOT ({any_bad})"
    )
    return int(n_bad)


def _interaction_specs(mapping: Mapping[str, str]) -> list[ColumnSpec]:
    unknown = set(mapping) - set(INTERACTION_COLUMNS)
    if unknown:
        raise UserError(
            f"unknown schema column(s) in the mapping: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(INTERACTION_COLUMNS)})"
        )
    for required in ("user_id", "item_id"):
        if required not in mapping:
            raise UserError(f"the column mapping must name the source column for {required!r}")
    expected = {
        "timestamp": "a date/time (ISO 8601) or Unix seconds",
        "plays": "a non-negative number",
        "rating": "a number",
        "praise": "0 or 1",
        "collect": "0 or 1",
        "dance_score": "a number from 0 to 100",
        "kind": "music or dance",
        "user_id": "a non-empty id",
        "item_id": "a non-empty id",
    }
    checks = {
        "plays": "{v} >= 0",
        "praise": "{v} IN (0, 1)",
        "collect": "{v} IN (0, 1)",
        "dance_score": "{v} BETWEEN 0 AND 100",
        "kind": "{v} IN ('music', 'dance')",
    }
    specs = []
    for target, source in mapping.items():
        cast = INTERACTION_COLUMNS[target]
        if target == "timestamp":
            cast = "VARCHAR"  # parsed below: ISO text or Unix seconds
        specs.append(ColumnSpec(source, target, cast, expected[target], checks.get(target)))
    return specs


def _timestamp_sql(col: str) -> str:
    """ISO text or Unix seconds to TIMESTAMP (NULL when neither)."""
    return (
        f"COALESCE(TRY_CAST({col} AS TIMESTAMP), "
        f"TRY_CAST(to_timestamp(TRY_CAST({col} AS DOUBLE)) AS TIMESTAMP))"
    )


def _normalise_view(
    con: duckdb.DuckDBPyConnection, view: str, mapping: Mapping[str, str], out_view: str
) -> None:
    """Full schema (missing columns NULL/defaults) from a typed view."""
    cols = []
    for col, typ in INTERACTION_COLUMNS.items():
        if col in mapping:
            expr = _timestamp_sql(col) if col == "timestamp" else col
        elif col == "kind":
            expr = "'music'"
        elif col in ("praise", "collect"):
            expr = "0"
        else:
            expr = "NULL"
        cols.append(f"CAST({expr} AS {typ}) AS {col}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {out_view} AS SELECT {', '.join(cols)} FROM {view}")


def _check_timestamps(
    con: duckdb.DuckDBPyConnection, path: Path, view: str, mapping: Mapping[str, str]
) -> None:
    if "timestamp" not in mapping:
        return
    bad = con.execute(
        f"SELECT timestamp FROM {view} WHERE timestamp IS NOT NULL AND trim(timestamp) <> '' "
        f"AND {_timestamp_sql('timestamp')} IS NULL LIMIT 1"
    ).fetchone()
    if bad:
        raise InputError(
            path,
            f"bad timestamp {bad[0]!r}",
            column=mapping["timestamp"],
            expected="ISO 8601 or Unix seconds",
        )


def read_table(
    path: str | Path,
    mapping: Mapping[str, str],
    *,
    delimiter: str | None = None,
    header: bool = True,
    names: list[str] | None = None,
    skip_bad_rows: bool = False,
    source: str = "table",
) -> InteractionLog:
    """Read a CSV/TSV/Parquet interaction file; ``mapping`` maps schema columns to the file's columns."""
    path = Path(path)
    con = duckdb.connect()
    try:
        n_bad = _read_rows(
            con,
            path,
            _interaction_specs(mapping),
            delimiter=delimiter,
            header=header,
            names=names,
            skip_bad_rows=skip_bad_rows,
            view="_typed",
        )
        _check_timestamps(con, path, "_typed", mapping)
        _normalise_view(con, "_typed", mapping, "_log")
        frame = con.execute("SELECT * FROM _log").df()
    finally:
        con.close()
    return InteractionLog(_tidy(frame), source=source, n_bad_rows=n_bad)


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in ("user_id", "item_id", "kind"):
        frame[col] = frame[col].astype("str")
    return frame


def read_taste_profile(path: str | Path, *, skip_bad_rows: bool = False) -> InteractionLog:
    """Echo Nest Taste Profile triplets: ``user<TAB>song<TAB>play count``, no header."""
    return read_table(
        path,
        {"user_id": "user", "item_id": "song", "plays": "count"},
        delimiter="\t",
        header=False,
        names=["user", "song", "count"],
        skip_bad_rows=skip_bad_rows,
        source="taste-profile",
    )


def read_movielens(path: str | Path, *, skip_bad_rows: bool = False) -> InteractionLog:
    """MovieLens ``u.data``: ``user<TAB>item<TAB>rating<TAB>unix time``, no header."""
    return read_table(
        path,
        {"user_id": "user", "item_id": "item", "rating": "rating", "timestamp": "ts"},
        delimiter="\t",
        header=False,
        names=["user", "item", "rating", "ts"],
        skip_bad_rows=skip_bad_rows,
        source="movielens",
    )


def read_lastfm(directory: str | Path, *, skip_bad_rows: bool = False, max_tags: int = 30) -> InteractionLog:
    """HetRec 2011 Last.fm-2k: ``user_artists.dat`` (play weights) with artist names and tags.

    Items get ``name`` (artists.dat), ``kind`` = music and ``tags`` — the artist's tags
    (user_taggedartists.dat + tags.dat, Latin-1) ordered by how many users applied them, at most
    ``max_tags`` — as a multi-valued feature. The data carry no timestamps for listening, so only
    the random and leave-one-out splits make sense on it.
    """
    directory = Path(directory)
    ua = directory / "user_artists.dat"
    log = read_table(
        ua,
        {"user_id": "userID", "item_id": "artistID", "plays": "weight"},
        delimiter="\t",
        skip_bad_rows=skip_bad_rows,
        source="lastfm",
    )
    items = pd.DataFrame(index=pd.Index(sorted(log.interactions["item_id"].unique()), name="item_id"))
    items["kind"] = "music"
    artists_path = directory / "artists.dat"
    if artists_path.exists():
        artists = pd.read_csv(
            artists_path, sep="\t", usecols=["id", "name"], dtype=str, encoding="utf-8", quoting=3
        )
        items["name"] = artists.set_index("id")["name"].reindex(items.index)
    tags_path, tagged_path = directory / "tags.dat", directory / "user_taggedartists.dat"
    if tags_path.exists() and tagged_path.exists():
        tags = pd.read_csv(tags_path, sep="\t", dtype=str, encoding="latin-1", quoting=3)
        tagged = pd.read_csv(tagged_path, sep="\t", usecols=["artistID", "tagID"], dtype=str, quoting=3)
        tagged = tagged.merge(tags, on="tagID", how="inner")
        counts = tagged.groupby(["artistID", "tagValue"]).size().rename("n").reset_index()
        counts = counts.sort_values(["artistID", "n", "tagValue"], ascending=[True, False, True])
        top = counts.groupby("artistID").head(max_tags)
        tag_lists = top.groupby("artistID")["tagValue"].agg(list)
        items["tags"] = [tag_lists.get(i, []) for i in items.index]
    else:
        items["tags"] = [[] for _ in range(len(items))]
    log.items = items
    return log


# --------------------------------------------------------------------------------------------
# behaviour scores, labels, activity filters
# --------------------------------------------------------------------------------------------
def score_sql(rel: str = "log") -> str:
    """SQL selecting every column of ``rel`` plus ``score`` (the comprehensive behaviour score)."""
    return f"""
        SELECT *,
          greatest(
            CASE
              WHEN rating IS NOT NULL THEN least(greatest(round(rating), 1), 5)
              WHEN plays IS NOT NULL THEN
                ceil(5 * cume_dist() OVER (PARTITION BY user_id, plays IS NULL ORDER BY plays))
              ELSE 3
            END,
            COALESCE(least(greatest(ceil(dance_score / 20), 1), 5), 1)
          ) + {PRAISE_POINTS} * COALESCE(praise, 0) + {COLLECT_POINTS} * COALESCE("collect", 0) AS score
        FROM {rel}
    """


def behaviour_scores(interactions: pd.DataFrame) -> pd.Series:
    """Comprehensive behaviour score of each interaction (module docstring), aligned to the input rows."""
    frame = interactions.copy()
    for col in INTERACTION_COLUMNS:
        if col not in frame.columns:
            frame[col] = 0 if col in ("praise", "collect") else np.nan
    frame["_pos"] = np.arange(len(frame))
    con = duckdb.connect()
    try:
        con.register("log", frame)
        out = con.execute(f"SELECT _pos, score FROM ({score_sql('log')}) ORDER BY _pos").df()
    finally:
        con.close()
    return pd.Series(out["score"].to_numpy(dtype=float), index=interactions.index, name="score")


def label_interactions(
    interactions: pd.DataFrame,
    n_items: int,
    *,
    positive_threshold: float = POSITIVE_THRESHOLD,
    negative_threshold: float = NEGATIVE_THRESHOLD,
    fill_unobserved: bool = True,
    seed: int = 42,
) -> pd.DataFrame:
    """Binary training labels from behaviour scores, negatives balanced to positives per user.

    ``interactions`` needs ``user``, ``item`` (internal indices) and ``score``. Positives: score ≥
    ``positive_threshold``; negatives: interacted items with score < ``negative_threshold``, sampled
    down to the user's number of positives, and (``fill_unobserved``) topped up with items the user
    never interacted with when they are short. Returns ``user, item, label`` (1/0), sorted.
    """
    rng = np.random.default_rng(seed)
    users = interactions["user"].to_numpy()
    items = interactions["item"].to_numpy()
    scores = interactions["score"].to_numpy(dtype=float)
    order = np.lexsort((items, users))
    users, items, scores = users[order], items[order], scores[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    out_u, out_i, out_l = [], [], []
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(users)], strict=True):
        if start == stop:
            continue
        u = users[start]
        s, it = scores[start:stop], items[start:stop]
        pos = it[s >= positive_threshold]
        neg = it[s < negative_threshold]
        n_pos = len(pos)
        if n_pos == 0:
            continue
        if len(neg) > n_pos:
            neg = rng.choice(neg, size=n_pos, replace=False)
        elif len(neg) < n_pos and fill_unobserved:
            need = n_pos - len(neg)
            seen = np.zeros(n_items, dtype=bool)
            seen[it] = True
            pool = np.flatnonzero(~seen)
            if len(pool):
                neg = np.concatenate([neg, rng.choice(pool, size=min(need, len(pool)), replace=False)])
        out_u.append(np.full(n_pos + len(neg), u))
        out_i.append(np.concatenate([pos, neg]))
        out_l.append(np.r_[np.ones(n_pos, dtype=np.int8), np.zeros(len(neg), dtype=np.int8)])
    if not out_u:
        return pd.DataFrame({"user": [], "item": [], "label": []}, dtype=int)
    frame = pd.DataFrame(
        {"user": np.concatenate(out_u), "item": np.concatenate(out_i), "label": np.concatenate(out_l)}
    )
    return frame.sort_values(["user", "item"], kind="stable").reset_index(drop=True)


def activity_filter_sql(
    rel: str, *, min_user_plays: float = 0, min_user_items: int = 0, min_item_users: int = 0
) -> str:
    """SQL keeping users with ≥ ``min_user_plays`` total plays (interactions count when no plays are
    logged) and ≥ ``min_user_items`` items, then items with ≥ ``min_item_users`` users (one pass)."""
    return f"""
        WITH u AS (
            SELECT user_id FROM {rel} GROUP BY user_id
            HAVING COALESCE(sum(plays), count(*)) >= {float(min_user_plays)}
               AND count(*) >= {int(min_user_items)}
        ), kept AS (
            SELECT l.* FROM {rel} l SEMI JOIN u USING (user_id)
        ), i AS (
            SELECT item_id FROM kept GROUP BY item_id HAVING count(DISTINCT user_id) >= {int(min_item_users)}
        )
        SELECT kept.* FROM kept SEMI JOIN i USING (item_id)
    """


def activity_filter(
    log: InteractionLog, *, min_user_plays: float = 0, min_user_items: int = 0, min_item_users: int = 0
) -> tuple[InteractionLog, Subset]:
    """The paper's TP100/TP500-style subset: users with at least ``min_user_plays`` plays."""
    con = duckdb.connect()
    try:
        frame = _full_frame(log.interactions)
        con.register("log", frame)
        kept = con.execute(
            activity_filter_sql(
                "log",
                min_user_plays=min_user_plays,
                min_user_items=min_user_items,
                min_item_users=min_item_users,
            )
        ).df()
    finally:
        con.close()
    kept = _tidy(kept)
    users = log.users.loc[log.users.index.isin(kept["user_id"])] if len(log.users) else log.users
    items = log.items.loc[log.items.index.isin(kept["item_id"])] if len(log.items) else log.items
    sub = InteractionLog(kept, users, items, source=log.source, n_bad_rows=log.n_bad_rows)
    return sub, Subset(sub.n_users, sub.n_items, len(kept))


def _full_frame(interactions: pd.DataFrame) -> pd.DataFrame:
    frame = interactions.copy()
    for col, typ in INTERACTION_COLUMNS.items():
        if col not in frame.columns:
            if col == "kind":
                frame[col] = "music"
            elif col in ("praise", "collect"):
                frame[col] = np.int8(0)
            elif typ == "TIMESTAMP":
                frame[col] = pd.NaT
            else:
                frame[col] = np.nan
    return frame[list(INTERACTION_COLUMNS)]


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
    header_names: list[str] | None = None
    if source == "lastfm":
        log = read_lastfm(path, skip_bad_rows=skip_bad_rows)
        users, items = log.users, log.items
        file = path / "user_artists.dat"
        mapping, delimiter = {"user_id": "userID", "item_id": "artistID", "plays": "weight"}, "\t"
    elif source == "taste-profile":
        file, mapping, delimiter, header = (
            path,
            {"user_id": "user", "item_id": "song", "plays": "count"},
            "\t",
            False,
        )
        header_names = ["user", "song", "count"]
    elif source == "movielens":
        file, delimiter, header = path, "\t", False
        mapping = {"user_id": "user", "item_id": "item", "rating": "rating", "timestamp": "ts"}
        header_names = ["user", "item", "rating", "ts"]
    elif source == "simulated":
        file = path / "interactions.parquet"
        mapping = {c: c for c in INTERACTION_COLUMNS}
        if users is None and (path / "users.parquet").exists():
            users = pd.read_parquet(path / "users.parquet").set_index("user_id")
        if items is None and (path / "items.parquet").exists():
            items = pd.read_parquet(path / "items.parquet").set_index("item_id")
    elif source == "table":
        if not mapping:
            raise UserError("importing a generic table needs a column mapping (e.g. --map user_id=user)")
        file = path
    else:
        raise UserError(f"unknown source {source!r} (expected one of {', '.join(SOURCES)})")
    con = duckdb.connect()
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=_ensure(datasets_dir(study))))
    try:
        con.execute("SET preserve_insertion_order = false")
        if source == "simulated":
            con.execute(f"CREATE TEMP VIEW _log AS SELECT * FROM read_parquet({_sql_str(file)})")
            n_bad = 0
        else:
            n_bad = _read_rows(
                con,
                file,
                _interaction_specs(mapping),
                delimiter=delimiter,
                header=header,
                names=header_names,
                skip_bad_rows=skip_bad_rows,
                view="_typed",
            )
            _check_timestamps(con, file, "_typed", mapping)
            _normalise_view(con, "_typed", mapping, "_log")
        rel = "_log"
        if min_user_plays or min_user_items or min_item_users:
            con.execute(
                "CREATE TEMP VIEW _filtered AS "
                + activity_filter_sql(
                    "_log",
                    min_user_plays=min_user_plays,
                    min_user_items=min_user_items,
                    min_item_users=min_item_users,
                )
            )
            rel = "_filtered"
        n_users, n_items, n_rows = write_dataset_dir(con, rel, staging, users, items)
        if n_rows == 0:
            raise UserError(f"{file}: no interactions left to import")
        con.close()
        with study.transaction() as tcon:
            study.record_file(tcon, Path(file), f"interactions:{source}")
        info = DatasetInfo(name, source, staging, n_users, n_items, n_rows, n_bad)
        return _register_dataset(study, info, name, params, staging)
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)


def list_datasets(study) -> pd.DataFrame:
    with study.read() as con:
        return con.execute("SELECT * FROM rec_dataset ORDER BY created_at").df()


def dataset_info(study, name: str, *, con=None) -> DatasetInfo:
    """The stored dataset ``name`` (``con``: an open connection to read through, else a new one)."""
    if con is None:
        with study.read() as own:
            return dataset_info(study, name, con=own)
    row = con.execute(
        "SELECT name, source, path, n_users, n_items, n_interactions, n_bad_rows FROM rec_dataset WHERE name = ?",
        [name],
    ).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT name FROM rec_dataset ORDER BY name").fetchall()]
        raise UserError(
            f"no dataset {name!r} in the study (have: {', '.join(known) or 'none'}; "
            "create one with `dancerec recommender import` or `simulate`)"
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
