"""Reading single cells of a survey export: answers, durations, timestamps, ids and group names.

Each parser either returns the value the file means or refuses (ValueError / an error message);
none of them guesses: a comma that is not a decimal or thousands separator, a day/month date that
could be either, a label that would fold a longer scale onto the instrument's, are all refused.
"""

from __future__ import annotations

import math
import re
import unicodedata

import pandas as pd
from dancerec.survey.instrument import Instrument, normalise_text
from dancerec.survey.readers import SourceTable

from dancerec.errors import InputError, UserError

GENERIC_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "(missing)"})
_SEPARATORS = ("┋", "→")  # 问卷星 multi-select / ranking joins
DATE_ORDERS = ("dayfirst", "monthfirst")


def parse_scale_map(text: str | None) -> tuple[tuple[str, int], ...]:
    """``"Somewhat agree=4,Slightly agree=3"`` → pairs; a clear error for anything else."""
    if not text or not text.strip():
        return ()
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        label, sep, value = part.rpartition("=")
        if not sep or not label.strip():
            raise UserError(f"--scale-map expects LABEL=VALUE pairs separated by commas, got {part!r}")
        try:
            out.append((label.strip(), int(value)))
        except ValueError:
            raise UserError(
                f"--scale-map: {value.strip()!r} (for {label.strip()!r}) is not a whole number"
            ) from None
    return tuple(out)


# -- cell parsers ------------------------------------------------------------------------------
_LEAD_NUM = re.compile(r"^\s*([+-]?\d+)\s*(?:=|-|:|\.|、|\)|）)\s*(.+)$")
_TRAIL_NUM = re.compile(r"^(.+?)\s*[(\[]\s*([+-]?\d+)\s*[)\]]$")
_DURATION = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)\s*(?:小时|时|h|hr|hrs|hours?))?\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*(?:分钟|分|m|min|mins|minutes?))?\s*"
    r"(?:(?P<s>\d+(?:\.\d+)?)\s*(?:秒钟|秒|s|sec|secs|seconds?)?)?$",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def _nfkc(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip()


_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d+$")


def parse_duration(value: object, decimal_comma: bool = False) -> float:
    """Seconds from ``120``, ``"120秒"``, ``"2分5秒"``, ``"1h 2m"`` or ``"00:02:05"``; ValueError otherwise.

    A comma is a decimal separator when ``decimal_comma`` (semicolon-separated European files:
    ``311,5`` → 311.5), else only a thousands separator in groups of three (``1,234``); any other
    comma is refused rather than dropped.
    """
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(value)
        return float(value)
    s = _nfkc(value)
    if "," in s:
        if decimal_comma and _DECIMAL_COMMA.match(s):
            s = s.replace(",", ".")
        elif _THOUSANDS.match(s) and not decimal_comma:
            s = s.replace(",", "")
        else:
            raise ValueError(s)
    if not s:
        return math.nan
    m = _CLOCK.match(s)
    if m:
        return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    m = _DURATION.match(s)
    if not m or not any(m.groupdict().values()):
        raise ValueError(s)
    h, mi, se = (float(m.group(k) or 0) for k in ("h", "m", "s"))
    return h * 3600 + mi * 60 + se


_MERIDIEM = re.compile(r"(上午|下午)\s*(\d{1,2}:\d{2}(?::\d{2})?)")
_TZ_SUFFIX = re.compile(r"\s*(?:GMT|UTC)\s*[+-]?\d{0,2}(?::?\d{2})?\s*$", re.IGNORECASE)


_DM_DATE = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})(?=$|[ T])")


def date_order_evidence(values: list[object]) -> tuple[bool, bool, str | None]:
    """(some value must be day-first, some must be month-first, an ambiguous example) for D/M/Y-like dates."""
    day = month = False
    ambiguous = None
    for v in values:
        m = _DM_DATE.match(_nfkc(v)) if isinstance(v, str) else None
        if not m:
            continue
        a, b = int(m.group(1)), int(m.group(3))
        if a > 12 >= b:
            day = True
        elif b > 12 >= a:
            month = True
        elif a != b and ambiguous is None:
            ambiguous = str(v)
    return day, month, ambiguous


def parse_timestamp(value: object, date_order: str | None = None) -> pd.Timestamp:
    """A naive timestamp from the date formats platforms use (ISO, 2026/9/3 12:00, 上午/下午…).

    Dates with the day and month first (``01/09/2026``, ``01.09.2026``) are read with
    ``date_order`` ("dayfirst"/"monthfirst"); without it such a date is refused unless the day is
    above 12 (or the two numbers are equal), so 1 September is never stored as 9 January.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        # SPSS stores dates as seconds since 1582-10-14; pyreadstat converts typed ones itself
        raise ValueError(value)
    s = _nfkc(value)
    if not s:
        return pd.NaT
    s = _MERIDIEM.sub(lambda m: f"{m.group(2)} {'AM' if m.group(1) == '上午' else 'PM'}", s)
    s = s.replace("年", "-").replace("月", "-").replace("日", " ")
    s = _TZ_SUFFIX.sub("", s)
    m = _DM_DATE.match(s)
    if m:
        a, b, year = int(m.group(1)), int(m.group(3)), m.group(4)
        if date_order is None:
            if a <= 12 and b <= 12 and a != b:
                raise ValueError(f"ambiguous day/month order in {s!r}")
            date_order = "dayfirst" if a > 12 else "monthfirst"
        day, month = (a, b) if date_order == "dayfirst" else (b, a)
        if len(year) == 2:
            year = "20" + year
        s = f"{year}-{month:02d}-{day:02d}" + s[m.end() :]
    ts = pd.Timestamp(s)
    if ts is pd.NaT:
        return ts
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("us")


class AnswerParser:
    """Turns one cell into a scale value (float, NaN = missing) or an error message."""

    def __init__(
        self,
        instrument: Instrument,
        table: SourceTable,
        extra_missing: tuple[str, ...],
        scale_map: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.inst = instrument
        self.lo, self.hi = instrument.scale_min, instrument.scale_max
        self.explicit = {normalise_text(k): v for k, v in scale_map}
        for label, v in scale_map:
            if not self.lo <= v <= self.hi:
                raise UserError(
                    f"--scale-map maps {label!r} to {v}, outside the instrument's scale {self.lo}–{self.hi}"
                )
        self.anchors = {**instrument.anchor_lookup, **self.explicit}
        #: normalised label -> (scale value, the label as written) for every label met by the anchors
        self.labels_seen: dict[str, tuple[int, str]] = {}
        self.table = table
        self.missing = (
            GENERIC_MISSING
            | {t.casefold() for t in table.missing_tokens}
            | {t.casefold() for t in extra_missing}
        )
        self.missing_numbers = set()
        for token in (*table.missing_tokens, *extra_missing):
            try:
                self.missing_numbers.add(float(_nfkc(token)))
            except ValueError:
                pass
        examples = [a.en for a in instrument.anchors[:1]] + [a.zh for a in instrument.anchors[-1:]]
        self.expected = f"an integer from {self.lo} to {self.hi}" + (
            f" or an answer label such as {' / '.join(repr(e) for e in examples if e)}" if examples else ""
        )

    def _in_scale(self, x: float, raw: object) -> tuple[float, str | None]:
        if x in self.missing_numbers:
            return math.nan, None
        if not float(x).is_integer():
            return math.nan, f"{raw!r} is not a whole scale point"
        if not self.lo <= x <= self.hi:
            return math.nan, f"out-of-scale value {raw!r}"
        return float(x), None

    def parse(self, raw: object, column: str) -> tuple[float, str | None]:
        if raw is None:
            return math.nan, None
        if isinstance(raw, float | int) and not isinstance(raw, bool):
            x = float(raw)
            if math.isnan(x):
                return math.nan, None
            user_missing = self.table.user_missing.get(column)
            if user_missing is not None and user_missing(x):
                return math.nan, None
            labels = self.table.value_labels.get(column)
            if labels and x in labels:
                via = self.anchors.get(normalise_text(labels[x]))
                if via is not None:
                    return float(via), None
            return self._in_scale(x, raw)
        s = _nfkc(raw)
        if s.casefold() in self.missing:
            return math.nan, None
        try:
            return self._in_scale(float(s), s)
        except ValueError:
            pass
        if self.table.answer_code is not None:
            m = self.table.answer_code.match(s)
            if m:
                return self._in_scale(float(m.group(1)), s)
        norm = normalise_text(s)
        if norm in self.anchors:
            self.labels_seen.setdefault(norm, (self.anchors[norm], s))
            return float(self.anchors[norm]), None
        # "5 = Strongly agree", "非常同意(5)": the number counts when the label agrees with it
        for pattern, num_group, label_group in ((_LEAD_NUM, 1, 2), (_TRAIL_NUM, 2, 1)):
            m = pattern.match(s)
            if m:
                number = float(m.group(num_group))
                label_value = self.anchors.get(normalise_text(m.group(label_group)))
                if label_value is not None and label_value != number:
                    return (
                        math.nan,
                        f"{s!r}: the number {int(number)} disagrees with the label (= {label_value})",
                    )
                if label_value is not None:
                    return self._in_scale(number, s)
        for sep in _SEPARATORS:
            if sep in s:
                return math.nan, f"several answers joined with {sep!r}: {s!r}"
        return math.nan, f"unrecognised answer {s!r}"

    def folded_labels(self) -> list[tuple[int, list[str]]]:
        """Scale values reached by two or more different labels of one script (e.g. "Agree" and
        "Somewhat agree" both → 4): the sign of a longer scale folded onto the instrument's."""
        by_value: dict[tuple[int, bool], list[str]] = {}
        for norm, (value, label) in sorted(self.labels_seen.items()):
            if norm in self.explicit:
                continue
            by_value.setdefault((value, norm.isascii()), []).append(label)
        return [(v, labels) for (v, _), labels in sorted(by_value.items()) if len(labels) > 1]


_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")


def clean_text_id(value: object) -> tuple[str, bool]:
    """(NFKC-normalised text with invisible and bidi control characters removed, whether any were).

    Ids and group names are compared after this, so "A" and "A\u200b" are one group, not two that
    print alike.
    """
    s = _nfkc(value)
    cleaned = _INVISIBLE.sub("", s)
    cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch) not in ("Cc", "Cf"))
    return cleaned.strip(), cleaned != s


def _id_text(value: object, changed: list[str] | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    text, was = clean_text_id(value)
    if was and changed is not None:
        changed.append(text)
    return text


_START_NAMES = ("startdate", "开始时间", "开始答题时间")
_END_NAMES = ("enddate", "结束时间", "提交答卷时间", "submitdate")


def decide_date_order(
    table: SourceTable, column: str, day: bool, month: bool, given: str | None
) -> str | None:
    """The day/month order of a date column: ``given``, else what the evidence of the whole column
    says (some day above 12 → day-first, some month position above 12 → month-first), else the
    platform's documented order; a column with evidence for both is refused."""
    if given is not None:
        return given
    if day and month:
        raise InputError(
            table.path,
            "dates in this column are sometimes day-first and sometimes month-first",
            column=column,
            expected="one date format in a column",
        )
    return "dayfirst" if day else "monthfirst" if month else table.date_order


def column_date_order(
    table: SourceTable, column: str, values: tuple[object, ...], given: str | None
) -> str | None:
    """The day/month order of a date column from all its ``values`` (see :func:`decide_date_order`)."""
    day, month, _ = date_order_evidence(list(dict.fromkeys(values)))
    return decide_date_order(table, column, day, month, given)


def start_end_columns(table: SourceTable) -> tuple[int, int] | None:
    """Positions of the start and end time columns (SurveyMonkey, Qualtrics…), if both exist."""
    norm = {normalise_text(c): j for j, c in enumerate(table.columns)}
    start = next((norm[k] for k in _START_NAMES if k in norm), None)
    end = next((norm[k] for k in _END_NAMES if k in norm), None)
    return None if start is None or end is None else (start, end)


def durations_from_start_end(
    table: SourceTable, columns: tuple[int, int], order: str | None, durations: list[float]
) -> int:
    """Completion time as end − start, written into ``durations``; returns the number of rows whose
    dates could not be read (they keep no completion time)."""
    start, end = columns
    bad = 0
    for i, row in enumerate(table.data):
        try:
            a, b = parse_timestamp(row[start], order), parse_timestamp(row[end], order)
        except (ValueError, TypeError, OverflowError):
            bad += 1
            continue
        if a is not pd.NaT and b is not pd.NaT and b >= a:
            durations[i] = (b - a).total_seconds()
    return bad
