"""Platform layouts of survey exports: detecting them from the first rows and parsing their headers.

``qualtrics`` (row 3 holds ``{"ImportId": …}``), ``surveymonkey`` (row 2 holds "Response"), ``wjx``
(问卷星 metadata columns 提交答卷时间 / 所用时间 / 来自IP), ``googleforms`` (first column Timestamp),
``limesurvey`` (``submitdate``/``lastpage`` or ``Q1[SQ001]`` codes), ``long`` (respondent, item, value
columns) and plain ``csv`` (one header row). A layout's header parser sees only the first rows; its
data rows arrive later, chunk by chunk, through :func:`split_rows` and the layout's filter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dancerec.survey.instrument import normalise_text
from dancerec.survey.source import _FALSE, _QUALTRICS_KEEP, _TRUE, RowProblem, SourceTable

from dancerec.errors import InputError


# -- layouts -----------------------------------------------------------------------------------
def _norm_cells(row: list[str]) -> list[str]:
    return [normalise_text(c) for c in row]


_LS_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\[[A-Za-z0-9_]+\]$")


def detect_layout(grid: list[list[str]]) -> str:
    """The platform layout of a grid of cells (see the module docstring)."""
    if not grid:
        return "csv"
    header = [c.strip() for c in grid[0]]
    norm = set(_norm_cells(header))
    if len(grid) >= 3 and _has_import_ids(grid[2]):
        return "qualtrics"
    if len(grid) >= 2 and "responseid" in norm and {"finished", "status", "recordeddate"} & norm:
        return "qualtrics"  # legacy export: field ids and question text, no ImportId row
    if {"提交答卷时间", "来自ip"} & norm or {"序号", "所用时间"} <= norm:
        return "wjx"
    if len(grid) >= 2 and grid[1] and not grid[1][0].strip():
        # SurveyMonkey's second header row: blank under the metadata, option labels / "Response" after
        second = set(_norm_cells(grid[1]))
        if second & {"response", "openendedresponse"} or {"respondentid", "collectorid"} <= norm:
            return "surveymonkey"
    if header and normalise_text(header[0]) in {
        "timestamp",
        "时间戳记",
        "时间戳",
        "marcatemporal",
        "horodateur",
    }:
        return "googleforms"
    if {"submitdate", "lastpage"} <= norm or {"submitdate", "startlanguage"} <= norm:
        return "limesurvey"
    if sum(bool(_LS_CODE.match(c)) for c in header) >= 3:
        return "limesurvey"
    if len(header) <= 10 and any(
        pair <= norm for pair in ({"item", "value"}, {"itemid", "value"}, {"item", "answer"})
    ):
        return "long"
    return "csv"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for j, n in enumerate(names):
        base = n.strip() or f"column {j + 1}"
        k = seen.get(base, 0)
        seen[base] = k + 1
        out.append(base if k == 0 else f"{base} ({k + 1})")
    return out


def split_rows(table: SourceTable, records: Iterable[tuple[int, list[str]]], width: int) -> None:
    """Data rows from (file row number, cells) pairs; ragged rows become row problems, blank rows are
    skipped."""
    for rowno, row in records:
        if all(not str(c).strip() for c in row):
            continue
        if len(row) != width:
            # trailing empty cells are harmless (spreadsheets pad rows)
            if len(row) > width and all(not c.strip() for c in row[width:]):
                row = row[:width]
            elif len(row) < width:
                table.problems.append(
                    RowProblem(
                        rowno,
                        None,
                        f"ragged row: {len(row)} fields but the header has {width}",
                        expected=f"{width} fields",
                    )
                )
                continue
            else:
                table.problems.append(
                    RowProblem(
                        rowno,
                        None,
                        f"ragged row: {len(row)} fields but the header has {width}",
                        expected=f"{width} fields (quote fields that contain the delimiter)",
                    )
                )
                continue
        table.data.append(row)  # the record itself: no second copy
        table.rows.append(rowno)


_BRACKET = re.compile(r"^(.*?)\s*[\[［](.+?)[\]］]\s*$")
_PAREN_SUB = re.compile(r"^(?:第\s*)?(\d+)\s*(?:题)?\s*[、.:：]?\s*[(（](.+)[)）]\s*$")
_WJX_Q = re.compile(r"^\s*(\d+)\s*[、.:：]\s*(.+)$")


def _generic_candidates(name: str) -> list[str]:
    out = [name]
    m = _BRACKET.match(name)
    if m:
        out += [m.group(2), m.group(1)]
    m = _PAREN_SUB.match(name)
    if m:
        out.append(m.group(2))
    m = _WJX_Q.match(name)
    if m:
        out.append(m.group(2))
    if " - " in name:
        out.append(name.rsplit(" - ", 1)[1])
    return out


def _parse_plain(table: SourceTable, grid: list[list[str]]) -> int:
    header = grid[0]
    table.columns = _unique(header)
    table.candidates = {c: _generic_candidates(h) for c, h in zip(table.columns, header, strict=True)}
    table.width = len(header)
    return 1


def _has_import_ids(row: list[str]) -> bool:
    return any(c.strip().startswith('{"ImportId"') for c in row)


_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_NUMBER_LIKE = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
_QUALTRICS_STATUS = _QUALTRICS_KEEP | {"1", "2", "8", "9", "12", "17", "spam", "surveypreview", "surveytest"}


def _data_like_reason(header: list[str], row: list[str]) -> str | None:
    """Why ``row`` (read as Qualtrics' question-text row) looks like a response, or None.

    Qualtrics' second row holds labels such as "Start Date" and "Finished"; a row holding dates,
    True/False, status codes or mostly numbers is a respondent whose header rows were deleted.
    """
    for name, cell in zip(header, row, strict=False):
        key, value = normalise_text(name), cell.strip()
        if not value:
            continue
        if key in {"startdate", "enddate", "recordeddate"} and _DATE_LIKE.match(value):
            return f"{name} holds the date {value!r}"
        if key == "finished" and normalise_text(value) in _TRUE | _FALSE:
            return f"{name} holds {value!r}"
        if key == "status" and normalise_text(value) in _QUALTRICS_STATUS - {""}:
            return f"{name} holds the status {value!r}"
        if key in {"progress", "durationinseconds"} and _NUMBER_LIKE.match(value):
            return f"{name} holds the number {value!r}"
        if key == "responseid" and value.startswith("R_"):
            return f"{name} holds the response id {value!r}"
    cells = [c.strip() for c in row if c.strip()]
    numeric = sum(bool(_NUMBER_LIKE.match(c)) for c in cells)
    if cells and numeric / len(cells) >= 0.5:
        return f"{numeric} of its {len(cells)} non-empty cells are numbers"
    return None


def _parse_qualtrics(table: SourceTable, grid: list[list[str]]) -> int:
    n_header = 3 if len(grid) >= 3 and _has_import_ids(grid[2]) else 2
    reason = _data_like_reason(grid[0], grid[1]) if n_header == 2 and len(grid) >= 2 else None
    if reason is not None:
        if table.forced:
            raise InputError(
                table.path,
                f"--format qualtrics reads row 2 as Qualtrics' question-text row, but it looks like "
                f"a response ({reason}); it would be lost",
                row=2,
                expected="a Qualtrics export with its header rows, or --format csv for one header row",
            )
        n_header = 1
        table.notes.append(
            f"Qualtrics field names but no question-text row (row 2 is a response: {reason}); "
            "read with one header row"
        )
    width = len(grid[0])
    rows = [*grid[:n_header], *([[]] * (3 - n_header))]
    fields, texts, imports = (r + [""] * (width - len(r)) for r in rows)
    table.columns = _unique(fields)
    for c, f, t, imp in zip(table.columns, fields, texts, imports, strict=False):
        cands = [f, t]
        if " - " in t:
            cands.append(t.rsplit(" - ", 1)[1])
        try:
            import_id = json.loads(imp).get("ImportId", "") if imp.strip().startswith("{") else ""
        except (json.JSONDecodeError, AttributeError):
            import_id = ""
        if import_id:
            cands.append(str(import_id))
        table.candidates[c] = cands
    table.platform_columns |= {
        c
        for c in table.columns
        if normalise_text(c)
        in {
            "startdate",
            "enddate",
            "status",
            "ipaddress",
            "progress",
            "finished",
            "recipientlastname",
            "recipientfirstname",
            "recipientemail",
            "externalreference",
            "locationlatitude",
            "locationlongitude",
            "distributionchannel",
            "userlanguage",
            "externaldatareference",
        }
    }
    table.width = width
    return n_header


def _filter_qualtrics(table: SourceTable) -> None:
    """Set previews/spam and unfinished responses aside (reported, not silently dropped)."""
    norm_cols = {normalise_text(c): c for c in table.columns}
    status_j = table.columns.index(norm_cols["status"]) if "status" in norm_cols else None
    finished_j = table.columns.index(norm_cols["finished"]) if "finished" in norm_cols else None
    keep_data, keep_rows = [], []
    for row, rowno in zip(table.data, table.rows, strict=True):
        if status_j is not None and normalise_text(row[status_j]) not in _QUALTRICS_KEEP:
            table.filtered.append(
                RowProblem(rowno, "Status", f"Qualtrics status {row[status_j]!r} (not a real response)")
            )
            continue
        if finished_j is not None and normalise_text(row[finished_j]) in _FALSE:
            table.filtered.append(RowProblem(rowno, "Finished", "unfinished response (Finished = False)"))
            continue
        keep_data.append(row)
        keep_rows.append(rowno)
    table.data, table.rows = keep_data, keep_rows


def _parse_surveymonkey(table: SourceTable, grid: list[list[str]]) -> int:
    width = len(grid[0])
    if len(grid) >= 2 and grid[1] and grid[1][0].strip():
        raise InputError(
            table.path,
            f"row 2 starts with {grid[1][0]!r}, but SurveyMonkey's second header row is blank under "
            "the respondent columns; it looks like a response and would be lost",
            row=2,
            expected="a SurveyMonkey export with both header rows, or --format csv for one header row",
        )
    top = grid[0] + [""] * (width - len(grid[0]))
    sub = grid[1] + [""] * (width - len(grid[1]))
    names, cands = [], []
    current = ""
    for t, s in zip(top, sub, strict=False):
        t, s = t.strip(), s.strip()
        if t:
            current = t
        q = t or current
        generic = normalise_text(s) in {"response", "openendedresponse", ""}
        if generic:
            names.append(q)
            cands.append([q])
        else:
            names.append(f"{q} - {s}")
            cands.append([s, q, f"{q} {s}"])
    table.columns = _unique(names)
    table.date_order = "monthfirst"  # SurveyMonkey writes dates as MM/DD/YYYY hh:mm:ss AM/PM
    table.candidates = dict(zip(table.columns, cands, strict=True))
    table.platform_columns |= {
        c
        for c in table.columns
        if normalise_text(c)
        in {"collectorid", "startdate", "ipaddress", "emailaddress", "firstname", "lastname", "customdata1"}
    }
    table.width = width
    return 2


def _parse_wjx(table: SourceTable, grid: list[list[str]]) -> int:
    _parse_plain(table, grid)
    table.missing_tokens = frozenset({"-2", "-3", "(跳过)", "跳过", "(空)", "空"})
    table.platform_columns |= {
        c for c in table.columns if normalise_text(c) in {"来源", "来源详情", "来自ip", "总分"}
    }
    return 1


def _parse_limesurvey(table: SourceTable, grid: list[list[str]]) -> int:
    _parse_plain(table, grid)
    table.answer_code = re.compile(r"^(?:A|AO|O)0*(\d+)$", re.IGNORECASE)
    table.platform_columns |= {
        c
        for c in table.columns
        if normalise_text(c)
        in {"lastpage", "startlanguage", "seed", "startdate", "datestamp", "ipaddr", "refurl", "token"}
    }
    return 1


def _filter_limesurvey(table: SourceTable) -> None:
    """Set incomplete responses (no submitdate) aside."""
    norm_cols = {normalise_text(c): c for c in table.columns}
    if "submitdate" in norm_cols:
        j = table.columns.index(norm_cols["submitdate"])
        keep = [(r, n) for r, n in zip(table.data, table.rows, strict=True) if str(r[j]).strip()]
        for r, n in zip(table.data, table.rows, strict=True):
            if not str(r[j]).strip():
                table.filtered.append(RowProblem(n, "submitdate", "incomplete response (no submitdate)"))
        table.data = [r for r, _ in keep]
        table.rows = [n for _, n in keep]


def _parse_googleforms(table: SourceTable, grid: list[list[str]]) -> int:
    _parse_plain(table, grid)
    table.platform_columns |= {
        c for c in table.columns if normalise_text(c) in {"emailaddress", "电子邮件地址", "score"}
    }
    return 1


LONG_RESPONDENT = (
    "respondentid",
    "respondent",
    "responseid",
    "id",
    "rid",
    "participant",
    "受访者",
    "答卷编号",
)
LONG_ITEM = ("itemid", "item", "question", "variable", "题目")
LONG_VALUE = ("value", "answer", "response", "score", "答案")


def _long_columns(table: SourceTable, header: list[str]) -> tuple[int, int, int]:
    """Positions of the respondent, item and value columns of a long export (first alias that matches)."""
    norm = [normalise_text(h) for h in header]

    def find(names: tuple[str, ...]) -> int | None:
        for n in names:
            if n in norm:
                return norm.index(n)
        return None

    jr, ji, jv = find(LONG_RESPONDENT), find(LONG_ITEM), find(LONG_VALUE)
    if jr is None or ji is None or jv is None:
        raise InputError(
            table.path,
            "long format needs a respondent, an item and a value column",
            row=1,
            expected="columns respondent_id, item, value (plus optional group, user_id, duration_s, submitted_at)",
        )
    return jr, ji, jv


@dataclass
class _LongPivot:
    """A long export gathered per respondent: respondents and items in first-seen order, their cells.

    Every row of a respondent must agree on the extra (metadata) columns; each (respondent, item) is
    answered once. Disagreements become row problems on ``table``; the first value is kept."""

    table: SourceTable
    header: list[str]
    jr: int
    ji: int
    jv: int
    extra: list[int]  # positions of the columns other than respondent, item and value
    by_resp: dict[str, int] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)
    cells: dict[tuple[int, str], object] = field(default_factory=dict)
    meta_seen: dict[tuple[int, str], tuple[str, int]] = field(default_factory=dict)

    def add(self, row: list[object], rowno: int) -> None:
        """One answer row: its respondent's position, the answer, and the respondent's metadata."""
        table, header = self.table, self.header
        rid = str(row[self.jr]).strip()
        item = str(row[self.ji]).strip()
        if not rid:
            table.problems.append(
                RowProblem(rowno, header[self.jr], "missing respondent id", expected="an id")
            )
            return
        if not item:
            table.problems.append(
                RowProblem(rowno, header[self.ji], "missing item name", expected="an item id")
            )
            return
        if rid not in self.by_resp:
            self.by_resp[rid] = len(self.by_resp)
            table.rows.append(rowno)
        i = self.by_resp[rid]
        if item not in self.items:
            self.items.append(item)
        if (i, item) in self.cells:
            table.problems.append(
                RowProblem(
                    rowno,
                    header[self.ji],
                    f"item {item!r} answered twice by respondent {rid!r} (first at row {table.cell_origin[(i, item)][0]})",
                    expected="one row per respondent and item",
                    respondent_id=rid,
                )
            )
            return
        self.cells[(i, item)] = row[self.jv]
        table.cell_origin[(i, item)] = (rowno, header[self.jv])
        self._add_meta(row, rowno, i, rid)

    def _add_meta(self, row: list[object], rowno: int, i: int, rid: str) -> None:
        """The extra columns of one row: kept from a respondent's first row, checked on the others."""
        for j in self.extra:
            name = self.header[j]
            value = str(row[j]).strip()
            prev = self.meta_seen.get((i, name))
            if prev is None:
                self.meta_seen[(i, name)] = (value, rowno)
                self.cells[(i, name)] = value
                self.table.cell_origin[(i, name)] = (rowno, name)
            elif prev[0] != value:
                self.table.problems.append(
                    RowProblem(
                        rowno,
                        name,
                        f"{name} is {value!r} here but {prev[0]!r} at row {prev[1]} for respondent {rid!r}",
                        expected="the same value on every row of a respondent",
                        respondent_id=rid,
                    )
                )

    def assemble(self) -> None:
        """The wide table: respondent column, extra columns, then the items in first-seen order."""
        table = self.table
        resp_col = self.header[self.jr]
        extra_names = [self.header[j] for j in self.extra]
        table.columns = _unique([resp_col, *extra_names, *self.items])
        table.candidates = {c: _generic_candidates(c) for c in table.columns}
        for rid, i in self.by_resp.items():
            row_cells: list[object] = [rid]
            row_cells += [self.cells.get((i, n), "") for n in extra_names]
            row_cells += [self.cells.get((i, it), "") for it in self.items]
            table.data.append(row_cells)
            table.cell_origin[(i, resp_col)] = (table.rows[i], resp_col)


def parse_long(table: SourceTable, grid: list[list[str]]) -> None:
    """Long format (one row per answer) pivoted to one row per respondent, remembering cell origins.

    The pivot needs every row of a respondent, so a long export is read whole (not in chunks)."""
    header = [h.strip() for h in grid[0]]
    jr, ji, jv = _long_columns(table, header)
    flat = SourceTable(table.path, "long", table.container)
    split_rows(flat, ((i + 1, r) for i, r in enumerate(grid) if i >= 1), len(header))
    table.problems.extend(flat.problems)
    extra = [j for j in range(len(header)) if j not in (jr, ji, jv)]
    pivot = _LongPivot(table, header, jr, ji, jv, extra)
    for row, rowno in zip(flat.data, flat.rows, strict=True):
        pivot.add(row, rowno)
    pivot.assemble()


#: each layout's header parser: fills the table's header fields from the first rows and returns
#: how many rows the header takes ("long" is read whole by :func:`parse_long` instead)
LAYOUT_HEADERS: dict[str, Callable[[SourceTable, list[list[str]]], int]] = {
    "csv": _parse_plain,
    "qualtrics": _parse_qualtrics,
    "surveymonkey": _parse_surveymonkey,
    "wjx": _parse_wjx,
    "limesurvey": _parse_limesurvey,
    "googleforms": _parse_googleforms,
}
#: rows a layout sets aside (previews, unfinished responses), applied to each chunk of data rows
LAYOUT_FILTERS: dict[str, Callable[[SourceTable], None]] = {
    "qualtrics": _filter_qualtrics,
    "limesurvey": _filter_limesurvey,
}
HEADER_ROWS = {"qualtrics": 2, "surveymonkey": 2}  # minimum header rows of each layout
