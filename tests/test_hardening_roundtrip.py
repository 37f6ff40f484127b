"""Issue 13, property-based round trip: generated exports with random quoting, delimiters, encodings,
date formats and decimal separators import with every stored cell equal to what was generated."""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from datetime import datetime, timedelta

import pandas as pd
from dancerec.survey.importer import ImportOptions, prepare_import
from dancerec.survey.instrument import load_instrument
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

INST = load_instrument("dance-music-30")
ITEMS = INST.item_ids[:6]
# realistic words per encoding: a few bytes of Windows-1252 can also be valid GB18030, so only
# real Latin text is expected to be told apart from Chinese (the detector's documented scope)
LATIN_WORDS = ["Hörer", "Köln", "Müller", "Straße", "café", "naïve", "Größe", "Ärger", "Zoë", "Señor"]
CHINESE_WORDS = ["对照组", "实验组", "非常同意", "舞曲", "推荐系统", "用户", "北京", "上海"]
FREE = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 _-'\",;|äöüßé中文舞曲")), min_size=1, max_size=12
).map(lambda s: unicodedata.normalize("NFKC", s).strip())

DATE_STYLES = {
    "iso": ("%Y-%m-%d %H:%M:%S", None),
    "dayfirst": ("%d/%m/%Y %H:%M:%S", "dayfirst"),
    "dotted": ("%d.%m.%Y %H:%M:%S", "dayfirst"),
    "monthfirst": ("%m/%d/%Y %H:%M:%S", "monthfirst"),
}


@st.composite
def exports(draw):
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk", "cp1252"]))
    if encoding == "cp1252":
        words = st.sampled_from(LATIN_WORDS)
    elif encoding == "gbk":
        words = st.sampled_from(CHINESE_WORDS)
    else:
        words = FREE
    n = draw(st.integers(1, 8))
    ids = draw(st.lists(words.filter(bool), min_size=n, max_size=n, unique=True))
    ids = [f"{w}{k}" for k, w in enumerate(ids)]  # unique after cleaning, whatever the words
    groups = draw(st.lists(words.filter(bool), min_size=n, max_size=n))
    answers = draw(
        st.lists(
            st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=6, max_size=6), min_size=n, max_size=n
        )
    )
    durations = draw(st.lists(st.integers(0, 99999).map(lambda x: x / 10), min_size=n, max_size=n))
    base = datetime(2026, 1, 1)
    times = draw(
        st.lists(
            st.integers(0, 365 * 24 * 3600).map(lambda s: base + timedelta(seconds=s)), min_size=n, max_size=n
        )
    )
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    decimal_comma = delimiter == ";" and draw(st.booleans())
    style = draw(st.sampled_from(sorted(DATE_STYLES)))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return {
        "encoding": encoding,
        "ids": ids,
        "groups": groups,
        "answers": answers,
        "durations": durations,
        "times": times,
        "delimiter": delimiter,
        "quoting": quoting,
        "decimal_comma": decimal_comma,
        "style": style,
        "newline": newline,
    }


def render(case) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=case["delimiter"], quoting=case["quoting"], lineterminator=case["newline"])
    w.writerow(["respondent_id", "group", "duration_s", "submitted_at", *ITEMS])
    fmt = DATE_STYLES[case["style"]][0]
    for rid, g, ans, d, t in zip(
        case["ids"], case["groups"], case["answers"], case["durations"], case["times"], strict=True
    ):
        dur = f"{d:.1f}".replace(".", ",") if case["decimal_comma"] else f"{d:.1f}"
        w.writerow([rid, g, dur, t.strftime(fmt), *("" if a is None else str(a) for a in ans)])
    return buf.getvalue().encode(case["encoding"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=exports())
def test_generated_exports_round_trip_exactly(tmp_path, case):
    path = tmp_path / "export.csv"
    path.write_bytes(render(case))
    prep = prepare_import(path, INST, ImportOptions(date_order=DATE_STYLES[case["style"]][1]))
    r = prep.responses
    assert not prep.problems and not prep.quarantined
    assert list(r.index) == case["ids"]
    assert r["group"].tolist() == case["groups"]
    assert r["duration_s"].tolist() == case["durations"]
    assert r["submitted_at"].tolist() == [pd.Timestamp(t) for t in case["times"]]
    stored = r[ITEMS].to_numpy().tolist()
    expected = [[math.nan if a is None else float(a) for a in row] for row in case["answers"]]
    for got, want in zip(stored, expected, strict=True):
        assert all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(got, want, strict=True))
