"""Writing responses in the layouts survey platforms export, so every importer can be round-tripped.

Each writer takes a responses frame laid out like :func:`dancerec.survey.store.load_responses`
(index respondent_id; group, user_id, duration_s, submitted_at; one column per item) and writes the
platform's header conventions: Qualtrics (3 header rows, UTF-8 with BOM, matrix export tags),
问卷星 (metadata columns, ``N、题干`` headers, GBK by default, −3 = skipped), SurveyMonkey (2 header
rows, answer text), LimeSurvey (``DM1[CON1]`` codes, ``A1``…``A5`` answer codes), Google Forms
(Timestamp, ``Question [Row]`` grids, answer text), SPSS ``.sav`` (value labels, user-defined missing
9), XLSX, plain CSV/TSV and long format.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from dancerec.survey.instrument import Instrument, load_instrument

from dancerec.errors import UserError

WRITE_FORMATS = (
    "csv",
    "tsv",
    "xlsx",
    "sav",
    "qualtrics",
    "wjx",
    "surveymonkey",
    "limesurvey",
    "googleforms",
    "long",
)
DEFAULT_SUFFIX = {
    "csv": ".csv",
    "tsv": ".tsv",
    "xlsx": ".xlsx",
    "sav": ".sav",
    "qualtrics": ".csv",
    "wjx": ".csv",
    "surveymonkey": ".csv",
    "limesurvey": ".csv",
    "googleforms": ".csv",
    "long": ".csv",
}
SAV_MISSING = 9


def _answer(value: float, inst: Instrument, answers: str, lang: str, missing: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return missing
    v = int(value)
    return inst.anchor_label(v, lang) if answers == "text" else str(v)


def _ts(value: object, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if value is None or pd.isna(value):
        return ""
    return pd.Timestamp(value).strftime(fmt)


def _num(value: object) -> str:
    if value is None or pd.isna(value):
        return ""
    f = float(value)
    return str(int(f)) if f.is_integer() else repr(f)


def _text(value: object) -> str:
    return (
        ""
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
        else str(value)
    )


def _started(r: pd.Series) -> object:
    """Start time = submission time minus the completion time (the submission time when either is missing)."""
    end = r["submitted_at"]
    if pd.notna(end) and pd.notna(r["duration_s"]):
        return end - pd.Timedelta(seconds=float(r["duration_s"]))
    return end


def _write_rows(path: Path, rows: list[list[str]], encoding: str, delimiter: str = ",") -> None:
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter, lineterminator="\r\n").writerows(rows)


def _blocks(inst: Instrument) -> list[tuple[str, list[str]]]:
    """Questionnaire blocks: consecutive items of one dimension (as a matrix question would show them)."""
    out: list[tuple[str, list[str]]] = []
    for it in inst.items:
        if out and out[-1][0] == it.dimension:
            out[-1][1].append(it.id)
        else:
            out.append((it.dimension, [it.id]))
    return out


def _plain(
    df: pd.DataFrame,
    inst: Instrument,
    path: Path,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    **_: object,
) -> None:
    header = ["respondent_id", "group", "user_id", "duration_s", "submitted_at", *inst.item_ids]
    rows = [header]
    for rid, r in df.iterrows():
        rows.append(
            [str(rid), _text(r["group"]), _text(r["user_id"]), _num(r["duration_s"]), _ts(r["submitted_at"])]
            + [_num(r[i]) for i in inst.item_ids]
        )
    _write_rows(path, rows, encoding, delimiter)


#: Qualtrics' own columns: export tag (header row 1) and question text (row 2)
_QUALTRICS_META = (
    ("StartDate", "Start Date"),
    ("EndDate", "End Date"),
    ("Status", "Response Type"),
    ("IPAddress", "IP Address"),
    ("Progress", "Progress"),
    ("Duration (in seconds)", "Duration (in seconds)"),
    ("Finished", "Finished"),
    ("RecordedDate", "Recorded Date"),
    ("ResponseId", "Response ID"),
    ("RecipientLastName", "Recipient Last Name"),
    ("RecipientFirstName", "Recipient First Name"),
    ("RecipientEmail", "Recipient Email"),
    ("ExternalReference", "External Data Reference"),
    ("LocationLatitude", "Location Latitude"),
    ("LocationLongitude", "Location Longitude"),
    ("DistributionChannel", "Distribution Channel"),
    ("UserLanguage", "User Language"),
)


def _qualtrics_header(inst: Instrument) -> list[list[str]]:
    """Qualtrics' three header rows: export tags (``Q<block>_<k>`` per matrix row), texts, ImportIds."""
    fields = [m for m, _ in _QUALTRICS_META]
    texts = [t for _, t in _QUALTRICS_META]
    imports = [json.dumps({"ImportId": m.lower()}) for m, _ in _QUALTRICS_META]
    for b, (_dim, ids) in enumerate(_blocks(inst), start=1):
        for k, item_id in enumerate(ids, start=1):
            fields.append(f"Q{b}_{k}")
            texts.append(f"{inst.instructions_en or 'Please rate'} - {inst.item(item_id).text_en}")
            imports.append(json.dumps({"ImportId": f"QID{b}_{k}"}))
    for embedded in ("group", "user_id"):
        fields.append(embedded)
        texts.append(embedded)
        imports.append(json.dumps({"ImportId": embedded}))
    return [fields, texts, imports]


def _qualtrics_row(n: int, rid: object, r: pd.Series, inst: Instrument, answers: str) -> list[str]:
    """One response row: Qualtrics' metadata (a made-up IP per row), the answers, embedded data."""
    end = r["submitted_at"]
    return (
        [
            _ts(_started(r)),
            _ts(end),
            "IP Address",
            f"10.0.{n // 250}.{n % 250 + 1}",
            "100",
            _num(r["duration_s"]),
            "True",
            _ts(end),
            str(rid),
            "",
            "",
            "",
            "",
            "",
            "",
            "anonymous",
            "EN",
        ]
        + [_answer(r[i], inst, answers, "en") for i in inst.item_ids]
        + [_text(r["group"]), _text(r["user_id"])]
    )


def _qualtrics(
    df: pd.DataFrame,
    inst: Instrument,
    path: Path,
    *,
    answers: str = "codes",
    encoding: str = "utf-8-sig",
    **_: object,
) -> None:
    rows = _qualtrics_header(inst)
    for n, (rid, r) in enumerate(df.iterrows()):
        rows.append(_qualtrics_row(n, rid, r, inst, answers))
    _write_rows(path, rows, encoding)


def _wjx(
    df: pd.DataFrame,
    inst: Instrument,
    path: Path,
    *,
    answers: str = "codes",
    encoding: str = "gbk",
    **_: object,
) -> None:
    header = ["序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "1、组别", "2、用户ID"]
    header += [f"{q}、{inst.item(i).text_zh}" for q, i in enumerate(inst.item_ids, start=3)]
    rows = [header]
    skipped = "(跳过)" if answers == "text" else "-3"
    for n, (rid, r) in enumerate(df.iterrows()):
        rows.append(
            [
                str(rid),
                _ts(r["submitted_at"], "%Y/%m/%d %H:%M:%S"),
                f"{_num(r['duration_s'])}秒" if pd.notna(r["duration_s"]) else "",
                "手机提交",
                "直接访问",
                f"10.1.{n // 250}.{n % 250 + 1}(上海-上海)",
                _text(r["group"]),
                _text(r["user_id"]),
            ]
            + [_answer(r[i], inst, answers, "zh", missing=skipped) for i in inst.item_ids]
        )
    try:
        _write_rows(path, rows, encoding)
    except UnicodeEncodeError:
        _write_rows(path, rows, "gb18030")  # GBK lacks a character: GB18030 covers all of Unicode


def _surveymonkey(
    df: pd.DataFrame,
    inst: Instrument,
    path: Path,
    *,
    answers: str = "text",
    encoding: str = "utf-8",
    **_: object,
) -> None:
    meta = [
        "Respondent ID",
        "Collector ID",
        "Start Date",
        "End Date",
        "IP Address",
        "Email Address",
        "First Name",
        "Last Name",
        "Custom Data 1",
        "group",
        "user_id",
    ]
    top, sub = list(meta), [""] * len(meta)
    for _dim, ids in _blocks(inst):
        for k, item_id in enumerate(ids):
            top.append(inst.instructions_en or "Please rate" if k == 0 else "")
            sub.append(inst.item(item_id).text_en)
    rows = [top, sub]
    fmt = "%m/%d/%Y %I:%M:%S %p"
    for n, (rid, r) in enumerate(df.iterrows()):
        end = r["submitted_at"]
        rows.append(
            [
                str(rid),
                "401234567",
                _ts(_started(r), fmt),
                _ts(end, fmt),
                f"10.2.{n // 250}.{n % 250 + 1}",
                "",
                "",
                "",
                "",
                _text(r["group"]),
                _text(r["user_id"]),
            ]
            + [_answer(r[i], inst, answers, "en") for i in inst.item_ids]
        )
    _write_rows(path, rows, encoding)


def _limesurvey(
    df: pd.DataFrame,
    inst: Instrument,
    path: Path,
    *,
    answers: str = "codes",
    encoding: str = "utf-8",
    **_: object,
) -> None:
    header = [
        "id",
        "submitdate",
        "lastpage",
        "startlanguage",
        "seed",
        "startdate",
        "datestamp",
        "interviewtime",
        "studygroup",
        "userid",
    ]
    code: dict[str, str] = {}
    for b, (_dim, ids) in enumerate(_blocks(inst), start=1):
        for item_id in ids:
            code[item_id] = f"DM{b}[{item_id}]"
    header += [code[i] for i in inst.item_ids]
    rows = [header]
    for rid, r in df.iterrows():
        end = r["submitted_at"]
        cells = []
        for i in inst.item_ids:
            v = r[i]
            if pd.isna(v):
                cells.append("")
            elif answers == "text":
                cells.append(inst.anchor_label(int(v), "en"))
            else:
                cells.append(f"A{int(v)}")
        rows.append(
            [
                str(rid),
                _ts(end),
                "3",
                "en",
                "12345",
                _ts(_started(r)),
                _ts(end),
                _num(r["duration_s"]),
                _text(r["group"]),
                _text(r["user_id"]),
                *cells,
            ]
        )
    _write_rows(path, rows, encoding)


def _googleforms(
    df: pd.DataFrame,
    inst: Instrument,
    path: Path,
    *,
    answers: str = "text",
    encoding: str = "utf-8",
    **_: object,
) -> None:
    question = inst.instructions_en or "Please rate"
    header = [
        "Timestamp",
        "Group",
        "User ID",
        *[f"{question} [{inst.item(i).text_en}]" for i in inst.item_ids],
    ]
    rows = [header]
    for _rid, r in df.iterrows():
        rows.append(
            [_ts(r["submitted_at"], "%m/%d/%Y %H:%M:%S"), _text(r["group"]), _text(r["user_id"])]
            + [_answer(r[i], inst, answers, "en") for i in inst.item_ids]
        )
    _write_rows(path, rows, encoding)


def _long(df: pd.DataFrame, inst: Instrument, path: Path, *, encoding: str = "utf-8", **_: object) -> None:
    rows = [["respondent_id", "group", "user_id", "duration_s", "submitted_at", "item", "value"]]
    for rid, r in df.iterrows():
        meta = [
            str(rid),
            _text(r["group"]),
            _text(r["user_id"]),
            _num(r["duration_s"]),
            _ts(r["submitted_at"]),
        ]
        for i in inst.item_ids:
            rows.append([*meta, i, _num(r[i])])
    _write_rows(path, rows, encoding)


def _frame(df: pd.DataFrame, inst: Instrument) -> pd.DataFrame:
    out = df[["group", "user_id", "duration_s", "submitted_at", *inst.item_ids]].copy()
    out = out.reset_index().rename(columns={out.index.name or "index": "respondent_id"})
    out["respondent_id"] = out["respondent_id"].astype(str)
    for c in ("group", "user_id"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def _xlsx(df: pd.DataFrame, inst: Instrument, path: Path, **_: object) -> None:
    out = _frame(df, inst)
    out["submitted_at"] = pd.to_datetime(out["submitted_at"]).dt.tz_localize(None)
    out.to_excel(path, index=False, sheet_name="responses")


def _sav(df: pd.DataFrame, inst: Instrument, path: Path, **_: object) -> None:
    import pyreadstat

    out = _frame(df, inst)
    for c in ("group", "user_id"):
        out[c] = out[c].fillna("").astype(str)
    labels = {a.value: a.en for a in inst.anchors}
    labels[SAV_MISSING] = "No answer"
    for i in inst.item_ids:
        out[i] = out[i].fillna(SAV_MISSING).astype(float)
    pyreadstat.write_sav(
        out,
        str(path),
        column_labels=["Respondent ID", "Study group", "User ID", "Completion time (s)", "Submitted at"]
        + [inst.item(i).text_en for i in inst.item_ids],
        variable_value_labels={i: {float(k): v for k, v in labels.items()} for i in inst.item_ids},
        missing_ranges={i: [SAV_MISSING] for i in inst.item_ids},
    )


_WRITERS: dict[str, Callable[..., None]] = {
    "csv": _plain,
    "tsv": lambda df, inst, path, **kw: _plain(df, inst, path, delimiter="\t", **kw),
    "xlsx": _xlsx,
    "sav": _sav,
    "qualtrics": _qualtrics,
    "wjx": _wjx,
    "surveymonkey": _surveymonkey,
    "limesurvey": _limesurvey,
    "googleforms": _googleforms,
    "long": _long,
}


def write_responses(
    responses: pd.DataFrame,
    instrument: Instrument | str,
    path: str | Path,
    format: str = "csv",
    *,
    answers: str | None = None,
    encoding: str | None = None,
) -> Path:
    """Write responses in a platform's export layout (:data:`WRITE_FORMATS`).

    ``answers`` is ``"codes"`` (numbers) or ``"text"`` (anchor labels); each platform has its usual
    default. ``encoding`` overrides the platform's (e.g. ``utf-8-sig`` for a newer 问卷星 export).
    """
    if format not in _WRITERS:
        raise UserError(f"cannot write format {format!r}; choose one of {', '.join(WRITE_FORMATS)}")
    if answers not in (None, "codes", "text"):
        raise UserError(f"answers must be 'codes' or 'text', not {answers!r}")
    inst = load_instrument(instrument)
    missing = [
        c
        for c in ("group", "user_id", "duration_s", "submitted_at", *inst.item_ids)
        if c not in responses.columns
    ]
    if missing:
        raise UserError(f"responses lack column(s) {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, object] = {}
    if answers:
        kwargs["answers"] = answers
    if encoding:
        kwargs["encoding"] = encoding
    _WRITERS[format](responses, inst, path, **kwargs)
    return path
