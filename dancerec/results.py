"""Stored analysis results: each result lives in the study's DuckDB, keyed by its inputs and settings.

An analysis (``indices cfa``, ``recommender evaluate``, ``link`` …) stores what it computed under a *key*:
a hash of its ``kind``, a *fingerprint* of the data it read (:func:`table_fingerprint`: row counts and an
order-independent content hash of the tables, or run ids) and its settings. The report, or a second run of
the same command, asks for the key it would compute; when the data or the settings changed the key changes,
so a stale result is never returned — it is simply not found and is recomputed.

Results are stored as JSON, never pickle: a study folder may come from someone else, and unpickling runs
arbitrary code. DataFrames are encoded with ``orient="split"`` plus their dtypes; dataclasses by their
``module:qualname``. Decoding only rebuilds classes that are registered (:func:`register_result_class`)
or dataclasses defined inside the ``dancerec`` package: it imports no other module and calls no
``__init__``/``__post_init__`` (fields are set directly), so a crafted file can at worst fail to load.
Dataclass fields declared with ``compare=False`` (fitted-model handles and other transient objects) are
stored as ``None``.

Usage from a command (one line)::

    obj, cached = get_or_compute(study, "indices.cfa", fingerprint, settings, lambda: fit_cfa(...))
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from dancerec.errors import UserError
from dancerec.workspace import Migration, migrate

#: Bump when the encoding below changes incompatibly; older rows are then treated as missing.
FORMAT_VERSION = 1

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "analysis results stored as JSON, keyed by a hash of their inputs and settings",
        """
        CREATE TABLE analysis_result (
            kind VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            format INTEGER NOT NULL,
            fingerprint VARCHAR NOT NULL,
            settings VARCHAR NOT NULL,
            payload VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (kind, key, version)
        );
        """,
    ),
]

COMPONENT = {"results": "dancerec.results:MIGRATIONS"}

T = TypeVar("T")


class StaleResultError(Exception):
    """A stored result was written by code whose result classes had other fields: recompute it."""


_REGISTRY: dict[str, type] = {}


def register_result_class(cls: type[T]) -> type[T]:
    """Allow ``cls`` (a dataclass) to be decoded from a stored result; usable as a decorator."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    _REGISTRY[_class_name(cls)] = cls
    return cls


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve_class(name: str) -> type:
    """The class named ``module:qualname`` if it is allowed; never imports outside ``dancerec``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    module, _, qualname = name.partition(":")
    if not (module == "dancerec" or module.startswith("dancerec.")) or not qualname:
        raise UserError(f"stored result names class {name!r}, which is not an allowed result class")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"stored result names class {name!r}, which this dancerec does not have") from exc
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise UserError(f"stored result names {name!r}, which is not a result dataclass")
    return obj


# -- encoding ------------------------------------------------------------------------------------
def _column_values(values: pd.Series | pd.Index) -> list[Any]:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = values.astype(str)
    return [encode(v) for v in values.tolist()]


def _encode_frame(frame: pd.DataFrame) -> dict[str, Any]:
    # Written by hand rather than DataFrame.to_json: to_json turns inf into null and guesses types back.
    return {
        "__frame__": [_column_values(frame.iloc[:, i]) for i in range(frame.shape[1])],
        "columns": _column_values(frame.columns),
        "index": _column_values(frame.index),
        "dtypes": [str(t) for t in frame.dtypes],
        "index_dtype": str(frame.index.dtype),
        "columns_dtype": str(frame.columns.dtype),
        "index_names": [encode(n) for n in frame.index.names],
        "columns_names": [encode(n) for n in frame.columns.names],
    }


def _restore_dtype(values: pd.Series, dtype: str) -> pd.Series:
    try:
        return values.astype(dtype)
    except (TypeError, ValueError):
        return values  # a dtype this pandas cannot build: keep the decoded values


def _labels(values: list[Any], names: list[Any], dtype: str) -> pd.Index:
    decoded = [decode(v) for v in values]
    if len(names) > 1:
        return pd.MultiIndex.from_tuples(decoded, names=[decode(n) for n in names])
    index = pd.Index(decoded, name=decode(names[0]) if names else None)
    if str(index.dtype) != dtype:
        try:
            index = index.astype(dtype)
        except (TypeError, ValueError):
            pass
    return index


def _decode_frame(spec: dict[str, Any]) -> pd.DataFrame:
    index = _labels(spec["index"], spec["index_names"], spec["index_dtype"])
    columns = _labels(spec["columns"], spec["columns_names"], spec["columns_dtype"])
    data = {
        i: _restore_dtype(pd.Series([decode(v) for v in col], index=index, dtype=object), dtype)
        for i, (col, dtype) in enumerate(zip(spec["__frame__"], spec["dtypes"], strict=True))
    }
    frame = pd.DataFrame(data, index=index)
    frame.columns = columns
    return frame


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {"__float__": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def encode(obj: Any) -> Any:
    """``obj`` as JSON-ready data (see the module docstring for what is supported)."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return _float(float(obj))
    if isinstance(obj, pd.DataFrame):
        return _encode_frame(obj)
    if isinstance(obj, pd.Series):
        return {"__series__": _encode_frame(obj.to_frame(name="value" if obj.name is None else obj.name))}
    if isinstance(obj, np.ndarray):
        return {"__array__": [encode(v) for v in obj.tolist()], "dtype": str(obj.dtype)}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v) for v in obj]}
    if isinstance(obj, set | frozenset):
        kind = "__frozenset__" if isinstance(obj, frozenset) else "__set__"
        return {kind: [encode(v) for v in sorted(obj, key=repr)]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: encode(v) for k, v in obj.items()}}
        return {"__pairs__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {
            f.name: (encode(getattr(obj, f.name)) if f.compare else None) for f in dataclasses.fields(obj)
        }
        return {"__dataclass__": _class_name(type(obj)), "fields": fields}
    raise TypeError(f"cannot store a {type(obj).__name__} in a result (JSON encoding, no pickle)")


def decode(data: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__float__" in data:
        return float(data["__float__"])
    if "__frame__" in data:
        return _decode_frame(data)
    if "__series__" in data:
        frame = _decode_frame(data["__series__"])
        return frame.iloc[:, 0]
    if "__array__" in data:
        return np.array([decode(v) for v in data["__array__"]], dtype=data["dtype"])
    if "__tuple__" in data:
        return tuple(decode(v) for v in data["__tuple__"])
    if "__frozenset__" in data:
        return frozenset(_hashable(decode(v)) for v in data["__frozenset__"])
    if "__set__" in data:
        return {_hashable(decode(v)) for v in data["__set__"]}
    if "__dict__" in data:
        return {k: decode(v) for k, v in data["__dict__"].items()}
    if "__pairs__" in data:
        return {_hashable(decode(k)): decode(v) for k, v in data["__pairs__"]}
    if "__dataclass__" in data:
        cls = _resolve_class(data["__dataclass__"])
        names = {f.name for f in dataclasses.fields(cls)}
        if names != set(data["fields"]):
            raise StaleResultError(
                f"{data['__dataclass__']} has other fields in this dancerec than when stored"
            )
        obj = object.__new__(cls)
        for f in dataclasses.fields(cls):
            object.__setattr__(obj, f.name, decode(data["fields"][f.name]))
        return obj
    raise UserError(f"stored result has an unknown encoding: keys {sorted(data)}")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# -- keys and fingerprints -----------------------------------------------------------------------
def _canonical(value: Any) -> str:
    return json.dumps(encode(value), sort_keys=True, separators=(",", ":"), default=str)


def result_key(kind: str, fingerprint: Any, settings: dict[str, Any]) -> str:
    """SHA-256 (first 32 hex digits) of the kind, the input fingerprint and the settings."""
    text = _canonical({"kind": kind, "fingerprint": fingerprint, "settings": settings})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def table_fingerprint(study: Any, tables: Iterable[str]) -> dict[str, list[Any]]:
    """``{table: [rows, content hash]}``: the content hash is DuckDB's row hash summed (order-free).

    A table that does not exist fingerprints as ``[0, None]``. Any changed, added or removed row changes
    the sum (with probability 1 - 2^-64 per change), so a result keyed on it goes stale.
    """
    out: dict[str, list[Any]] = {}
    with study.read() as con:
        existing = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for table in sorted(set(tables)):
            if table not in existing:
                out[table] = [0, None]
                continue
            n, total = con.execute(
                f'SELECT count(*), CAST(sum(CAST(hash(t) AS HUGEINT)) AS VARCHAR) FROM "{table}" t'
            ).fetchone()
            out[table] = [int(n), total]
    return out


# -- store ---------------------------------------------------------------------------------------
def _ensure_schema(con: Any) -> None:
    migrate(con, COMPONENT)


def save_result(
    study: Any, kind: str, key: str, settings: dict[str, Any], obj: Any, *, fingerprint: Any = None
) -> int:
    """Store ``obj`` under (kind, key) as a new version; returns the version number (1, 2, …)."""
    payload = json.dumps(encode(obj), separators=(",", ":"), allow_nan=False)
    with study.transaction() as con:
        _ensure_schema(con)
        (last,) = con.execute(
            "SELECT coalesce(max(version), 0) FROM analysis_result WHERE kind = ? AND key = ?", [kind, key]
        ).fetchone()
        con.execute(
            "INSERT INTO analysis_result VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                kind,
                key,
                int(last) + 1,
                FORMAT_VERSION,
                _canonical(fingerprint),
                _canonical(settings),
                payload,
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
    return int(last) + 1


def _has_table(con: Any) -> bool:
    query = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'analysis_result'"
    return bool(con.execute(query).fetchone()[0])


def _fetch(study: Any, where: str, params: list[Any]) -> Any:
    with study.read() as con:
        if not _has_table(con):
            return None
        row = con.execute(
            f"SELECT payload FROM analysis_result WHERE format = ? AND {where} "
            "ORDER BY created_at DESC, version DESC LIMIT 1",
            [FORMAT_VERSION, *params],
        ).fetchone()
    if row is None:
        return None
    try:
        return decode(json.loads(row[0]))
    except StaleResultError:
        return None  # written by an older dancerec whose classes differ: treated as missing


def load_result(study: Any, kind: str, key: str) -> Any | None:
    """The newest stored version of (kind, key), or ``None`` when there is none."""
    return _fetch(study, "kind = ? AND key = ?", [kind, key])


def latest_result(study: Any, kind: str) -> Any | None:
    """The most recently stored result of ``kind`` whatever its key (may be stale), or ``None``."""
    return _fetch(study, "kind = ?", [kind])


def list_results(study: Any) -> pd.DataFrame:
    """kind, key, version, created_at, settings (JSON) of every stored result, newest first."""
    cols = ["kind", "key", "version", "created_at", "settings"]
    with study.read() as con:
        if not _has_table(con):
            return pd.DataFrame(columns=cols)
        return con.execute(
            f"SELECT {', '.join(cols)} FROM analysis_result ORDER BY created_at DESC, kind"
        ).df()


def get_or_compute(
    study: Any,
    kind: str,
    fingerprint: Any,
    settings: dict[str, Any],
    compute: Callable[[], T],
) -> tuple[T, bool]:
    """The stored result for these inputs and settings, else ``compute()`` stored; ``(obj, was_cached)``."""
    key = result_key(kind, fingerprint, settings)
    stored = load_result(study, kind, key)
    if stored is not None:
        return stored, True
    obj = compute()
    save_result(study, kind, key, settings, obj, fingerprint=fingerprint)
    return obj, False


# -- what the analyses read ----------------------------------------------------------------------
#: Tables whose content an analysis of the survey answers depends on.
SURVEY_TABLES = ("survey_respondent", "survey_answer", "survey_flag", "survey_setting")
#: Tables whose content an analysis of the recommender runs depends on.
RECOMMENDER_TABLES = ("rec_split", "rec_run", "rec_run_metric")


def study_fingerprint(study: Any, *, survey: bool = True, recommender: bool = False) -> dict[str, Any]:
    """The fingerprint of a study's inputs: the tables read plus the study settings they are read with.

    Commands storing a result use this so that the report finds it: e.g. in ``indices cfa``::

        fit, _ = get_or_compute(study, "indices.cfa", study_fingerprint(study), settings, compute)
    """
    tables = (SURVEY_TABLES if survey else ()) + (RECOMMENDER_TABLES if recommender else ())
    config = study.config
    return {
        "tables": table_fingerprint(study, tables),
        "instrument": config.instrument,
        "group_column": config.group_column,
        "groups": dict(sorted(config.groups.items())) if recommender else {},
    }


def lookup(study: Any, kind: str, fingerprint: Any, settings: dict[str, Any]) -> tuple[Any, str, str]:
    """``(obj or None, status, key)``; status is ``stored``, ``stale`` (only older inputs/settings) or
    ``missing`` (nothing of this kind stored)."""
    key = result_key(kind, fingerprint, settings)
    obj = load_result(study, kind, key)
    if obj is not None:
        return obj, "stored", key
    listed = list_results(study)
    return None, ("stale" if (listed["kind"] == kind).any() else "missing"), key
