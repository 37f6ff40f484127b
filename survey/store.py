"""Reading and writing survey data in the study database (tables in :mod:`dancerec.survey.schema`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from dancerec.survey.instrument import Instrument, load_instrument
from dancerec.survey.quality import (
    FLAGS,
    FlagThresholds,
    SampleStats,
    compute_flags,
    flags_wide,
    resolve_flags,
)
from dancerec.survey.scoring import DEFAULT_MIN_SHARE, score_dimensions

from dancerec.workspace import Study

META_COLUMNS = ("group", "user_id", "duration_s", "submitted_at")
_THRESHOLDS_KEY = "flag_thresholds"


def study_instrument(study: Study) -> Instrument:
    """The study's instrument (``study.toml`` names a built-in one or a path relative to the study)."""
    name = study.config.instrument
    candidate = Path(name)
    if not candidate.is_absolute() and (study.root / candidate).is_file():
        return load_instrument(study.root / candidate)
    return load_instrument(name)


_ORDER = "ORDER BY import_id, source_row, respondent_id"


def _read_responses(con: duckdb.DuckDBPyConnection, instrument: Instrument) -> pd.DataFrame:
    meta = con.execute(
        f'SELECT respondent_id, grp AS "group", user_id, duration_s, submitted_at FROM survey_respondent {_ORDER}'
    ).df()
    # the wide matrix is built in SQL (one conditional aggregate per item), in the same row order as
    # ``meta``: only respondents × items doubles cross into Python, never the long answer table
    ids = instrument.item_ids
    aggs = ", ".join(f"max(value) FILTER (WHERE item_id = ${k + 1}) AS c{k}" for k in range(len(ids)))
    picks = ", ".join(f"a.c{k}" for k in range(len(ids)))
    cols = con.execute(
        f"""
        SELECT {picks}
        FROM survey_respondent r
        LEFT JOIN (SELECT respondent_id, {aggs} FROM survey_answer GROUP BY respondent_id) a
        USING (respondent_id)
        ORDER BY r.import_id, r.source_row, r.respondent_id
        """,
        list(ids),
    ).fetchnumpy()
    matrix = np.full((len(meta), len(ids)), np.nan)
    for k in range(len(ids)):
        col = cols[f"c{k}"]
        matrix[:, k] = np.ma.filled(col.astype(float), np.nan) if isinstance(col, np.ma.MaskedArray) else col
    return _with_meta(meta, matrix, instrument)


def _with_meta(meta: pd.DataFrame, matrix: np.ndarray, instrument: Instrument) -> pd.DataFrame:
    """The wide respondent × item frame from the respondent rows and an aligned answer matrix."""
    meta = meta.copy()
    meta["respondent_id"] = meta["respondent_id"].astype("string")
    meta = meta.set_index("respondent_id")
    meta["group"] = meta["group"].astype("string")
    meta["user_id"] = meta["user_id"].astype("string")
    meta["duration_s"] = pd.to_numeric(meta["duration_s"], errors="coerce").astype(float)
    meta["submitted_at"] = pd.to_datetime(meta["submitted_at"])
    wide = pd.DataFrame(matrix, index=meta.index, columns=instrument.item_ids)
    out = pd.concat([meta[list(META_COLUMNS)], wide], axis=1)
    out.index.name = "respondent_id"
    out.columns.name = None
    return out


def assemble_responses(meta: pd.DataFrame, answers: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """The wide respondent × item frame from the respondent and long answer tables."""
    meta = meta.copy()
    meta["respondent_id"] = meta["respondent_id"].astype("string")
    meta = meta.set_index("respondent_id")
    meta["group"] = meta["group"].astype("string")
    meta["user_id"] = meta["user_id"].astype("string")
    meta["duration_s"] = pd.to_numeric(meta["duration_s"], errors="coerce").astype(float)
    meta["submitted_at"] = pd.to_datetime(meta["submitted_at"])
    # place each answer by position (a pivot without pandas' sort-and-unstack cost); ``answers`` holds
    # either (respondent_id, item_id, value) or precomputed (row, col, value) positions
    matrix = np.full((len(meta), len(instrument.item_ids)), np.nan)
    if len(answers):
        if "row" in answers.columns:
            rows = answers["row"].to_numpy(dtype=np.int64)
            cols = answers["col"].to_numpy(dtype=np.int64)
        else:
            ids = pd.Index(meta.index.to_numpy(dtype=object))
            rows = ids.get_indexer(answers["respondent_id"].to_numpy(dtype=object))
            cols = pd.Index(instrument.item_ids).get_indexer(answers["item_id"].to_numpy(dtype=object))
        keep = (rows >= 0) & (cols >= 0)
        matrix[rows[keep], cols[keep]] = answers["value"].to_numpy(dtype=float)[keep]
    wide = pd.DataFrame(matrix, index=meta.index, columns=instrument.item_ids)
    out = pd.concat([meta[list(META_COLUMNS)], wide], axis=1)
    out.index.name = "respondent_id"
    out.columns.name = None
    return out


def load_responses(
    study: Study, *, exclude_flagged: Iterable[str] | str = (), instrument: Instrument | None = None
) -> pd.DataFrame:
    """Stored responses: index ``respondent_id``; ``group``, ``user_id``, ``duration_s``,
    ``submitted_at``, then one float column per item id with the raw answers (NaN = missing).

    ``exclude_flagged`` drops respondents carrying any of the named quality flags (``"all"`` = any).
    """
    inst = instrument or study_instrument(study)
    with study.read() as con:
        responses = _read_responses(con, inst)
        flags = resolve_flags(
            list(exclude_flagged) if not isinstance(exclude_flagged, str) else exclude_flagged
        )
        if flags and len(responses):
            wide = flags_wide(_read_flag_rows(con))
            bad = wide.index[wide.reindex(columns=flags).fillna(False).any(axis=1)]
            responses = responses.drop(index=responses.index.intersection(bad.astype("string")))
    return responses


def _read_flag_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        "SELECT respondent_id, flag, flagged, value, threshold FROM survey_flag ORDER BY respondent_id, flag"
    ).df()


def load_flags(study: Study) -> pd.DataFrame:
    """Quality flags: index ``respondent_id``, one bool column per flag (:data:`FLAGS`)."""
    with study.read() as con:
        order = con.execute(
            "SELECT respondent_id FROM survey_respondent ORDER BY import_id, source_row, respondent_id"
        ).df()
        wide = flags_wide(_read_flag_rows(con))
    wide.index = wide.index.astype("string")
    ids = pd.Index(order["respondent_id"].astype("string"), name="respondent_id")
    return wide.reindex(ids).fillna(False).astype(bool)


def load_flag_details(study: Study) -> pd.DataFrame:
    """Long flag table: respondent_id, flag, flagged, value (the statistic), threshold."""
    with study.read() as con:
        return _read_flag_rows(con)


def load_scores(
    study: Study,
    *,
    exclude_flagged: Iterable[str] | str = (),
    min_share: float = DEFAULT_MIN_SHARE,
) -> pd.DataFrame:
    """Dimension scores of the stored responses with ``group`` and ``user_id`` in front."""
    inst = study_instrument(study)
    responses = load_responses(study, exclude_flagged=exclude_flagged, instrument=inst)
    scores = score_dimensions(responses, inst, min_share=min_share)
    return pd.concat([responses[["group", "user_id"]], scores], axis=1)


def load_quarantine(study: Study) -> pd.DataFrame:
    """Rows set aside by ``--on-invalid quarantine``: file, row, respondent, column, reason, raw cells."""
    with study.read() as con:
        return con.execute(
            "SELECT q.import_id, i.path AS file, q.source_row AS row, q.respondent_id, q.column_name AS column, "
            "q.reason, q.raw FROM survey_quarantine q JOIN survey_import i USING (import_id) "
            "ORDER BY q.import_id, q.source_row"
        ).df()


def list_imports(study: Study) -> pd.DataFrame:
    with study.read() as con:
        return con.execute("SELECT * FROM survey_import ORDER BY import_id").df()


def get_thresholds(con: duckdb.DuckDBPyConnection) -> FlagThresholds:
    """The flag thresholds last used in this study (defaults if never set)."""
    row = con.execute("SELECT value FROM survey_setting WHERE key = ?", [_THRESHOLDS_KEY]).fetchone()
    return FlagThresholds(**json.loads(row[0])) if row else FlagThresholds()


#: respondents whose flags are computed at a time (the flags of a large study in bounded memory)
FLAG_BLOCK = 50_000
_STAGE_WIDE = "survey_flag_stage_wide"
_STAGE_FLAGS = "survey_flag_stage"


def refresh_flags(
    con: duckdb.DuckDBPyConnection,
    instrument: Instrument,
    thresholds: FlagThresholds | None = None,
    *,
    block: int = FLAG_BLOCK,
) -> tuple[int, int]:
    """Recompute every respondent's flags inside the caller's transaction; returns (flag rows
    deleted, inserted).

    The respondent × item matrix is built in DuckDB and read back ``block`` respondents at a time:
    one pass gathers the sample statistics the speeder and Mahalanobis flags compare with (median
    completion time; item means and pairwise covariances, summed block by block), a second computes
    the flags of each block against them. Working tables are dropped before the caller commits.
    """
    if thresholds is None:
        thresholds = get_thresholds(con)
    else:
        con.execute(
            "INSERT OR REPLACE INTO survey_setting VALUES (?, ?)",
            [_THRESHOLDS_KEY, json.dumps(thresholds.to_dict())],
        )
    n, n_blocks = _stage_wide(con, instrument, block)
    con.execute(
        f"CREATE TABLE {_STAGE_FLAGS} (respondent_id VARCHAR, flag VARCHAR, flagged BOOLEAN, "
        "value DOUBLE, threshold DOUBLE)"
    )
    # one BLAS thread: the products here are small, and a multithreaded BLAS on a busy machine
    # spent 15x longer waiting for its threads than computing (measured on 2 shared cores)
    from threadpoolctl import threadpool_limits

    blas = threadpool_limits(1, user_api="blas")
    try:
        sample = _sample_stats(con, instrument, n, n_blocks)
        for frame in _wide_blocks(con, instrument, n_blocks):
            long = compute_flags(frame, instrument, thresholds, sample)
            long["value"] = long["value"].astype(float).replace([np.inf, -np.inf], np.nan)
            # a replacement scan of the local frame: a registered frame stays alive until commit
            con.execute(f"INSERT INTO {_STAGE_FLAGS} SELECT * FROM long")
        return write_changed_flags(con, _STAGE_FLAGS)
    finally:
        blas.restore_original_limits()
        con.execute(f"DROP TABLE IF EXISTS {_STAGE_FLAGS}")
        con.execute(f"DROP TABLE IF EXISTS {_STAGE_WIDE}")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _stage_wide(con: duckdb.DuckDBPyConnection, instrument: Instrument, block: int) -> tuple[int, int]:
    """The respondent × item matrix as a working table, built ``block`` respondents at a time (ranges
    of respondent ids): one pivot of the whole answer table needs a hash table of every respondent,
    which ran out of memory under the import's DuckDB limit at 2 M respondents. Returns
    (respondents, blocks)."""
    n_items = len(instrument.item_ids)
    aggs = ", ".join(
        f"max(value) FILTER (WHERE item_id = {_sql_text(item)}) AS c{k}"
        for k, item in enumerate(instrument.item_ids)
    )
    picks = "".join(f", a.c{k}" for k in range(n_items))
    columns = "".join(f", c{k} DOUBLE" for k in range(n_items))
    con.execute(f"CREATE TABLE {_STAGE_WIDE} (b INTEGER, respondent_id VARCHAR, duration_s DOUBLE{columns})")
    bounds = [
        r[0]
        for r in con.execute(
            "SELECT respondent_id FROM (SELECT respondent_id, row_number() OVER (ORDER BY respondent_id) - 1 "
            "AS k FROM survey_respondent) WHERE k % ? = 0 ORDER BY respondent_id",
            [block],
        ).fetchall()
    ]
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] if i + 1 < len(bounds) else None
        where = "respondent_id >= ?" + (" AND respondent_id < ?" if hi is not None else "")
        params = [lo] if hi is None else [lo, hi]
        con.execute(
            f"""
            INSERT INTO {_STAGE_WIDE}
            SELECT {i}, r.respondent_id, r.duration_s{picks}
            FROM (SELECT respondent_id, duration_s FROM survey_respondent WHERE {where}) r
            LEFT JOIN (SELECT respondent_id, {aggs} FROM survey_answer WHERE {where} GROUP BY respondent_id) a
            USING (respondent_id)
            """,
            params + params,
        )
    n = int(con.execute("SELECT count(*) FROM survey_respondent").fetchall()[0][0])
    return n, len(bounds)


def _wide_blocks(
    con: duckdb.DuckDBPyConnection, instrument: Instrument, n_blocks: int
) -> Iterator[pd.DataFrame]:
    """The staged matrix one block at a time: index respondent_id, duration_s, then the items."""
    ids = instrument.item_ids
    for i in range(n_blocks):
        cols = con.execute(
            f"SELECT * EXCLUDE (b) FROM {_STAGE_WIDE} WHERE b = ? ORDER BY respondent_id", [i]
        ).fetchnumpy()
        data = {"duration_s": _floats(cols["duration_s"])}
        data.update({item: _floats(cols[f"c{k}"]) for k, item in enumerate(ids)})
        index = pd.Index(
            np.asarray(cols["respondent_id"], dtype=object), dtype="string", name="respondent_id"
        )
        yield pd.DataFrame(data, index=index)


def _floats(col: np.ndarray) -> np.ndarray:
    return (
        np.ma.filled(col.astype(float), np.nan) if isinstance(col, np.ma.MaskedArray) else col.astype(float)
    )


def _sample_stats(
    con: duckdb.DuckDBPyConnection, instrument: Instrument, n: int, n_blocks: int
) -> SampleStats:
    """Median completion time, and item means and pairwise-complete covariances of the scored items
    (as pandas' ``DataFrame.cov(min_periods=3)``), from sums over blocks of respondents. Answers are
    whole scale points, so the sums are exact in float64 and only the last step rounds."""
    dur = _floats(con.execute(f"SELECT duration_s FROM {_STAGE_WIDE}").fetchnumpy()["duration_s"])
    median = float(np.nanmedian(dur)) if np.any(~np.isnan(dur)) else np.nan
    del dur
    scored = [it.id for it in instrument.scored_items]
    k = len(scored)
    pairs, sums, products = np.zeros((k, k)), np.zeros((k, k)), np.zeros((k, k))
    for frame in _wide_blocks(con, instrument, n_blocks):
        x = (
            np.column_stack([frame[c].to_numpy(dtype=float) for c in scored])
            if k
            else np.empty((len(frame), 0))
        )
        seen = (~np.isnan(x)).astype(float)
        z = np.nan_to_num(x, nan=0.0)
        pairs += seen.T @ seen
        sums += z.T @ seen  # sums[i, j]: sum of item i over respondents who answered i and j
        products += z.T @ z
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.diag(sums) / np.diag(pairs)
        cov = (products - sums * sums.T / pairs) / (pairs - 1)
    cov[pairs < 3] = np.nan
    return SampleStats(median_duration=median, n=n, mean=mean, cov=cov)


def write_changed_flags(con: duckdb.DuckDBPyConnection, new: str) -> tuple[int, int]:
    """Make ``survey_flag`` equal to the registered table ``new``, touching only rows that differ;
    returns (rows deleted, rows inserted).

    Flags that depend on the whole sample (speeder ratio, Mahalanobis distance) can change for
    everyone when respondents are added; the per-respondent ones (long strings, response SD,
    attention checks, missing share) of respondents already stored do not, and are left alone.
    """
    same = (
        "n.respondent_id = f.respondent_id AND n.flag = f.flag AND n.flagged = f.flagged "
        "AND n.value IS NOT DISTINCT FROM f.value AND n.threshold IS NOT DISTINCT FROM f.threshold"
    )
    deleted = con.execute(
        f"DELETE FROM survey_flag f WHERE NOT EXISTS (SELECT 1 FROM {new} n WHERE {same})"
    ).fetchall()[0][0]
    inserted = con.execute(
        "INSERT INTO survey_flag SELECT n.respondent_id, n.flag, n.flagged, n.value, n.threshold "
        f"FROM {new} n ANTI JOIN survey_flag f ON n.respondent_id = f.respondent_id AND n.flag = f.flag"
    ).fetchall()[0][0]
    return int(deleted), int(inserted)


def flag_counts(study: Study) -> pd.DataFrame:
    """How many respondents carry each flag (and the threshold used)."""
    details = load_flag_details(study)
    if details.empty:
        return pd.DataFrame({"flag": list(FLAGS), "n_flagged": 0, "share": np.nan, "threshold": np.nan})
    out = details.groupby("flag", sort=False).agg(
        n_flagged=("flagged", "sum"), n=("flagged", "size"), threshold=("threshold", "first")
    )
    out["share"] = out["n_flagged"] / out["n"]
    out = out.reindex(list(FLAGS)).reset_index()
    return out[["flag", "n_flagged", "share", "threshold"]]
