"""Loaders of each interaction source (CSV/TSV/Parquet table, Taste Profile, MovieLens, Last.fm).

Files are read with DuckDB: bad rows are located (file, line, column) or skipped and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from dancerec.recommender.interactions import INTERACTION_COLUMNS, InteractionLog, _sql_str, _tidy

from dancerec.errors import InputError, UserError


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


@dataclass(frozen=True)
class CsvFormat:
    """How a delimited file is laid out: delimiter (None: sniffed), header line, column names to use."""

    delimiter: str | None = None
    header: bool = True
    names: list[str] | None = None


def _csv_source(path: Path, fmt: CsvFormat) -> str:
    """DuckDB ``read_csv`` call reading every field as text, logging malformed lines as rejects."""
    opts = [
        "all_varchar=true",
        "ignore_errors=true",
        "store_rejects=true",
        f"header={str(fmt.header).lower()}",
    ]
    if fmt.delimiter is not None:
        opts.append(f"delim={_sql_str(fmt.delimiter)}")
    if fmt.names:
        opts.append("names=[" + ", ".join(_sql_str(n) for n in fmt.names) + "]")
    opts.append("quote=''" if fmt.delimiter == "\t" else "quote='\"'")
    return f"read_csv({_sql_str(path)}, {', '.join(opts)})"


def _load_raw(con: duckdb.DuckDBPyConnection, path: Path, fmt: CsvFormat) -> list[tuple]:
    """Load ``path`` into temp table ``_raw`` with a row number; returns the rejected (malformed) lines."""
    parquet = path.suffix.lower() == ".parquet"
    if parquet:
        source = f"read_parquet({_sql_str(path)})"
    else:
        source = _csv_source(path, fmt)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT row_number() OVER () AS _row, * FROM {source}")
    if parquet:
        return []
    rejects = con.execute(
        "SELECT line, column_name, error_message FROM reject_errors ORDER BY line"
    ).fetchall()
    con.execute("DELETE FROM reject_errors")
    con.execute("DELETE FROM reject_scans")
    return rejects


def _check_columns(con: duckdb.DuckDBPyConnection, path: Path, specs: list[ColumnSpec]) -> None:
    """Every source column the specs name exists in ``_raw``, else a clear error listing those that do."""
    available = [r[0] for r in con.execute("DESCRIBE _raw").fetchall()]
    for spec in specs:
        if spec.source not in available:
            raise InputError(
                path,
                f"column {spec.source!r} not found",
                expected="one of " + ", ".join(a for a in available if a != "_row"),
            )


def _cast_terms(specs: list[ColumnSpec]) -> tuple[list[str], list[tuple[ColumnSpec, str]]]:
    """SQL of each typed column (``value AS target``) and of each column's bad-value condition."""
    casts = []
    bad_terms = []
    for spec in specs:
        raw = f'"{spec.source}"'
        if spec.cast == "VARCHAR":
            value = f"trim(CAST({raw} AS VARCHAR))"
        else:
            value = f"TRY_CAST(trim(CAST({raw} AS VARCHAR)) AS {spec.cast})"
        casts.append(f"{value} AS {spec.target}")
        cond = f"({value} IS NULL AND {raw} IS NOT NULL AND trim(CAST({raw} AS VARCHAR)) <> '')"
        if spec.target in ("user_id", "item_id"):
            cond = f"({raw} IS NULL OR trim(CAST({raw} AS VARCHAR)) = '')"
        if spec.check:
            cond = f"({cond} OR ({value} IS NOT NULL AND NOT ({spec.check.format(v=value)})))"
        bad_terms.append((spec, cond))
    return casts, bad_terms


def _file_line(row: int, offset: int, rejects: list[tuple]) -> int:
    """Line in the file of data row ``row``: header offset plus the rejected lines before it."""
    line = row + offset
    for reject_line, *_ in rejects:  # rejected lines come before this row in the file
        if reject_line <= line:
            line += 1
    return line


def _raise_first_bad(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    rejects: list[tuple],
    bad_terms: list[tuple[ColumnSpec, str]],
    offset: int,
) -> None:
    """Raise :class:`InputError` at the first malformed line or bad value (file, line, column)."""
    if rejects:
        line, column, message = rejects[0]
        raise InputError(path, f"malformed line: {message}", row=int(line), column=column)
    any_bad = " OR ".join(c for _, c in bad_terms) or "false"
    first = con.execute(f"SELECT min(_row) FROM _raw WHERE {any_bad}").fetchone()[0]
    if first is None:
        return
    for spec, cond in bad_terms:
        hit = con.execute(f"SELECT {spec.source!r} FROM _raw WHERE _row = ? AND {cond}", [first]).fetchone()
        if hit:
            value = con.execute(f'SELECT "{spec.source}" FROM _raw WHERE _row = ?', [first]).fetchone()[0]
            raise InputError(
                path,
                f"bad value {value!r} (use --skip-bad-rows to skip and count such rows)",
                row=_file_line(int(first), offset, rejects),
                column=spec.source,
                expected=spec.expected,
            )


def _read_rows(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    specs: list[ColumnSpec],
    fmt: CsvFormat,
    *,
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
    rejects = _load_raw(con, path, fmt)
    _check_columns(con, path, specs)
    casts, bad_terms = _cast_terms(specs)
    any_bad = " OR ".join(c for _, c in bad_terms) or "false"
    if not skip_bad_rows:
        offset = 0 if path.suffix.lower() == ".parquet" else int(fmt.header)
        _raise_first_bad(con, path, rejects, bad_terms, offset)
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
            CsvFormat(delimiter, header, names),
            skip_bad_rows=skip_bad_rows,
            view="_typed",
        )
        _check_timestamps(con, path, "_typed", mapping)
        _normalise_view(con, "_typed", mapping, "_log")
        frame = con.execute("SELECT * FROM _log").df()
    finally:
        con.close()
    return InteractionLog(_tidy(frame), source=source, n_bad_rows=n_bad)


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
