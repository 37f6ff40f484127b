"""Mapping the columns of an export to instrument items and respondent metadata.

A column maps to an item when any of its labels (field id, question text, matrix sub-question,
Qualtrics ImportId, LimeSurvey ``[SQ]`` code…) equals, after :func:`normalise_text`, the item id or
its English or Chinese wording. Metadata columns (respondent id, study group, user id, completion
time, submission time) are recognised by the names the platforms use. A mapping file (CSV
``column,target``, TOML ``[columns]`` or JSON) overrides both; ``target`` is an item id, a metadata
role or ``ignore``. Columns that map to nothing are reported, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dancerec.survey.instrument import Instrument, normalise_text
from dancerec.survey.readers import SourceTable

from dancerec.errors import InputError

META_ROLES = ("respondent_id", "group", "user_id", "duration_s", "submitted_at")

#: normalised column names recognised for each metadata role, in order of preference
META_ALIASES: dict[str, tuple[str, ...]] = {
    "respondent_id": (
        "respondentid",
        "responseid",
        "respondent",
        "id",
        "序号",
        "答卷编号",
        "答卷序号",
        "participantid",
        "participant",
        "rid",
    ),
    "group": ("group", "studygroup", "condition", "variant", "arm", "组别", "分组", "实验组"),
    "user_id": ("userid", "user", "uid", "用户id", "用户编号", "自定义字段"),
    "duration_s": (
        "durations",
        "durationinseconds",
        "duration",
        "所用时间",
        "答题时间",
        "用时",
        "interviewtime",
        "completiontime",
    ),
    "submitted_at": (
        "submittedat",
        "recordeddate",
        "提交答卷时间",
        "submitdate",
        "timestamp",
        "时间戳记",
        "时间戳",
        "enddate",
        "提交时间",
        "submitted",
    ),
}
IGNORE = "ignore"


@dataclass
class ColumnMapping:
    """Which column feeds which item / metadata role, and what was left over."""

    items: dict[str, str] = field(default_factory=dict)  # item id -> column
    meta: dict[str, str] = field(default_factory=dict)  # role -> column
    how: dict[str, str] = field(default_factory=dict)  # column -> "id" | "text" | "mapping file" | "option"
    unmapped: list[str] = field(default_factory=list)
    platform: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    missing_items: list[str] = field(default_factory=list)


def read_mapping_file(path: str | Path) -> dict[str, str]:
    """``{column: target}`` from a CSV/TSV (two columns), TOML (``[columns]``) or JSON mapping file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "mapping file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = path.read_bytes().decode("gb18030")
        except UnicodeDecodeError as exc:
            raise InputError(path, "mapping file is neither UTF-8 nor GB18030 text") from exc
    if not text.strip():
        raise InputError(
            path, "the mapping file is empty", expected="lines COLUMN,TARGET (or a TOML/JSON [columns] table)"
        )
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(path, f"not valid TOML: {exc}") from None
        table = raw.get("columns", raw)
    elif suffix == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON: {exc.msg}", row=exc.lineno) from None
        table = raw.get("columns", raw) if isinstance(raw, dict) else None
    else:
        delim = "\t" if "\t" in text.splitlines()[0] else ","
        rows = list(csv.reader(io.StringIO(text), delimiter=delim))
        table = {}
        for n, row in enumerate(rows, start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if n == 1 and [normalise_text(c) for c in row[:2]] in (["column", "target"], ["column", "item"]):
                continue
            if len(row) < 2:
                raise InputError(path, "a mapping row needs two fields", row=n, expected="column,target")
            table[row[0].strip()] = row[1].strip()
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise InputError(
            path, "mapping must be a table of column = target strings", expected='"Q5_1" = "CON1"'
        )
    return {str(k): v for k, v in table.items()}


def _resolve_target(target: str, instrument: Instrument, where: str | Path) -> str:
    t = target.strip()
    if normalise_text(t) in {"", IGNORE, "skip", "none"}:
        return IGNORE
    if t in META_ROLES:
        return t
    by_id = {it.id.casefold(): it.id for it in instrument.items}
    if t.casefold() in by_id:
        return by_id[t.casefold()]
    raise InputError(
        where,
        f"unknown mapping target {target!r}",
        expected=f"an item id of {instrument.name}, one of {', '.join(META_ROLES)} or 'ignore'",
    )


def item_lookup(instrument: Instrument) -> dict[str, str]:
    """Normalised id / English / Chinese wording → item id."""
    out: dict[str, str] = {}
    for it in instrument.items:
        for key in (it.id, it.text_en, it.text_zh):
            norm = normalise_text(key)
            if norm:
                out.setdefault(norm, it.id)
    return out


@dataclass
class _Assignments:
    """The column → target choices made so far, with the labels each column is known by."""

    table: SourceTable
    result: ColumnMapping
    norm_cols: dict[str, list[str]]
    assigned: dict[str, str] = field(default_factory=dict)  # column -> target

    def find_column(self, name: str, what: str) -> str:
        """The one column called ``name`` (exactly, or by any normalised label); else a clear error."""
        table = self.table
        if name in table.columns:
            return name
        key = normalise_text(name)
        hits = [c for c in table.columns if key and key in self.norm_cols[c]]
        if len(hits) == 1:
            return hits[0]
        raise InputError(
            table.path,
            f"{what} names column {name!r}, which is not in the file"
            if not hits
            else f"{what} column {name!r} matches several columns: {hits}",
            row=1,
            expected="a column header of the file",
        )

    def assign(self, column: str, target: str, how: str) -> None:
        """Record that ``column`` feeds ``target``, refusing a column that would feed two targets."""
        if column in self.assigned and self.assigned[column] != target:
            raise InputError(
                self.table.path,
                f"column maps to both {self.assigned[column]!r} and {target!r}",
                row=1,
                column=column,
                expected="one target per column",
            )
        self.assigned[column] = target
        self.result.how[column] = how


def _assign_explicit(
    state: _Assignments,
    instrument: Instrument,
    mapping: dict[str, str] | None,
    mapping_source: str | Path,
    roles: dict[str, str | None] | None,
) -> None:
    """Step 1: command-line role options first, then the mapping file (an option wins over the file)."""
    for role, col in (roles or {}).items():
        if col:
            state.assign(state.find_column(col, f"--{role.replace('_', '-')}"), role, "option")
    for col, target in (mapping or {}).items():
        resolved = _resolve_target(target, instrument, mapping_source)
        column = state.find_column(col, "the mapping file")
        if column in state.assigned and state.result.how[column] == "option":
            continue
        state.assign(column, resolved, "mapping file")


def _assign_items(state: _Assignments, instrument: Instrument) -> None:
    """Step 2: the columns still free whose labels name an item by id or wording."""
    lookup = item_lookup(instrument)
    for c in state.table.columns:
        if c in state.assigned:
            continue
        for key in state.norm_cols[c]:
            if key in lookup:
                state.assign(c, lookup[key], "id" if key == normalise_text(lookup[key]) else "text")
                break


def _assign_meta_by_name(state: _Assignments, group_column: str | None) -> None:
    """Step 3: metadata roles not yet taken, from the column names the platforms use."""
    taken_roles = set(state.assigned.values())
    aliases = dict(META_ALIASES)
    if group_column:
        aliases["group"] = (normalise_text(group_column), *aliases["group"])
    for role, names in aliases.items():
        if role in taken_roles:
            continue
        for name in names:
            hit = next(
                (c for c in state.table.columns if c not in state.assigned and normalise_text(c) == name),
                None,
            )
            if hit is not None:
                state.assign(hit, role, "name")
                break


def _collect(state: _Assignments, instrument: Instrument) -> ColumnMapping:
    """Step 4: sort columns into items / meta / leftovers, refusing two columns feeding one target."""
    table, result = state.table, state.result
    by_target: dict[str, list[str]] = {}
    for c in table.columns:
        t = state.assigned.get(c)
        if t is None:
            (result.platform if c in table.platform_columns else result.unmapped).append(c)
        elif t == IGNORE:
            result.ignored.append(c)
        else:
            by_target.setdefault(t, []).append(c)
    for target, cols in by_target.items():
        if len(cols) > 1:
            raise InputError(
                table.path,
                f"columns {cols} all map to {target!r}",
                row=1,
                column=cols[1],
                expected="one column per item (use a mapping file to say which)",
            )
        if target in META_ROLES:
            result.meta[target] = cols[0]
        else:
            result.items[target] = cols[0]
    order = {it.id: k for k, it in enumerate(instrument.items)}
    result.items = dict(sorted(result.items.items(), key=lambda kv: order[kv[0]]))
    result.missing_items = [it.id for it in instrument.items if it.id not in result.items]
    return result


def map_columns(
    table: SourceTable,
    instrument: Instrument,
    *,
    mapping: dict[str, str] | None = None,
    mapping_source: str | Path = "mapping",
    roles: dict[str, str | None] | None = None,
    group_column: str | None = None,
) -> ColumnMapping:
    """Map the table's columns (see the module docstring). Conflicts raise :class:`InputError`."""
    norm_cols = {c: [normalise_text(x) for x in table.candidates.get(c, [c])] for c in table.columns}
    state = _Assignments(table, ColumnMapping(), norm_cols)
    _assign_explicit(state, instrument, mapping, mapping_source, roles)
    _assign_items(state, instrument)
    _assign_meta_by_name(state, group_column)
    return _collect(state, instrument)
