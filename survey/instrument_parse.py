"""Parsing and checking an instrument's TOML text (the file format is in :mod:`.instrument`).

Every phase records problems instead of stopping, so one run lists everything wrong with a file;
:func:`parse_instrument` returns the :class:`~dancerec.survey.instrument.Instrument` only when there
are none.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dancerec.survey.instrument import (
    LANGUAGES,
    Anchor,
    Dimension,
    Instrument,
    InstrumentProblem,
    Item,
    normalise_text,
)

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_ITEM_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _header_lines(text: str, header: str) -> list[int]:
    """1-based line numbers of each ``[[header]]`` (or ``[header]``) table in a TOML text."""
    pat = re.compile(rf"^\s*\[\[?\s*{re.escape(header)}\s*\]\]?\s*(#.*)?$")
    return [i for i, line in enumerate(text.splitlines(), start=1) if pat.match(line)]


_ITEM_KEYS = frozenset({"id", "dimension", "en", "zh", "reverse", "source", "attention_check", "expected"})
_TOP_LEVEL = frozenset({"instrument", "anchors", "dimensions", "items"})


@dataclass
class _Parse:
    """State of one instrument parse: the raw TOML, where its tables start, and the problems found.

    :func:`parse_instrument` runs its phases in order (header, anchors, dimensions, items, cross-checks);
    each phase records problems instead of stopping, so one run lists everything wrong with a file.
    """

    text: str
    label: str
    raw: dict[str, Any]
    problems: list[InstrumentProblem] = field(default_factory=list)
    lines: dict[str, list[int]] = field(default_factory=dict)
    langs: list[str] = field(default_factory=lambda: ["en"])
    smin: Any = None
    smax: Any = None
    bounds_ok: bool = False

    def __post_init__(self) -> None:
        self.lines = {h: _header_lines(self.text, h) for h in _TOP_LEVEL}

    def add(self, where: str, msg: str) -> None:
        self.problems.append(InstrumentProblem(where, msg))

    def where(self, table: str, idx: int | None = None, ident: str | None = None) -> str:
        """``file:line [[table]] #n (id 'x')`` for a problem message."""
        found = self.lines.get(table, [])
        if idx is not None:
            pos = found[idx] if idx < len(found) else None
        else:
            pos = found[0] if found else None
        name = f"[[{table}]] #{idx + 1}" if idx is not None else f"[{table}]"
        if ident:
            name += f" (id {ident!r})"
        return f"{self.label}:{pos} {name}" if pos else f"{self.label} {name}"

    def in_scale(self, value: int) -> bool:
        return not self.bounds_ok or self.smin <= value <= self.smax

    def text_field(self, entry: dict, key: str, loc: str) -> str:
        """A wording (``en``/``zh``), required when the instrument declares that language."""
        value = entry.get(key, "")
        if not isinstance(value, str):
            self.add(loc, f"{key!r} must be a string")
            return ""
        if key in self.langs and not value.strip():
            self.add(loc, f"wording {key!r} is missing or empty")
        return value.strip()


def _parse_head(ps: _Parse) -> tuple[dict[str, Any], str]:
    """The ``[instrument]`` table: name, scale bounds, languages."""
    head = ps.raw.get("instrument")
    if not isinstance(head, dict):
        ps.add(ps.label, "missing the [instrument] table (name, scale_min, scale_max)")
        head = {}
    name = head.get("name")
    if not isinstance(name, str) or not name.strip():
        ps.add(ps.where("instrument"), "'name' must be a non-empty string")
        name = Path(ps.label).stem
    smin, smax = head.get("scale_min"), head.get("scale_max")
    ps.smin, ps.smax = smin, smax
    ps.bounds_ok = isinstance(smin, int) and isinstance(smax, int) and not isinstance(smin, bool)
    if not ps.bounds_ok:
        ps.add(ps.where("instrument"), "'scale_min' and 'scale_max' must be integers")
    elif smax - smin < 1:
        ps.add(ps.where("instrument"), f"scale_max ({smax}) must be greater than scale_min ({smin})")
        ps.bounds_ok = False
    elif smax - smin > 20:
        ps.add(
            ps.where("instrument"),
            f"a {smax - smin + 1}-point scale is not a Likert scale (at most 21 points)",
        )
    langs = head.get("languages", list(LANGUAGES))
    if not isinstance(langs, list) or not langs or any(lang not in LANGUAGES for lang in langs):
        ps.add(ps.where("instrument"), f"'languages' must be a non-empty list drawn from {list(LANGUAGES)}")
        langs = ["en"]
    ps.langs = langs
    return head, name


def _parse_anchors(ps: _Parse) -> list[Anchor]:
    """``[[anchors]]``: integer values inside the scale, each once, wordings that never collide."""
    anchors: list[Anchor] = []
    seen_values: set[int] = set()
    for i, a in enumerate(ps.raw.get("anchors", []) or []):
        loc = ps.where("anchors", i)
        if not isinstance(a, dict):
            ps.add(loc, "must be a table")
            continue
        value = a.get("value")
        if not isinstance(value, int) or isinstance(value, bool):
            ps.add(loc, "'value' must be an integer")
            continue
        if not ps.in_scale(value):
            ps.add(loc, f"anchor value {value} is outside the scale {ps.smin}..{ps.smax}")
        if value in seen_values:
            ps.add(loc, f"anchor value {value} is defined twice")
        seen_values.add(value)
        aliases = a.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(x, str) for x in aliases):
            ps.add(loc, "'aliases' must be a list of strings")
            aliases = []
        anchors.append(
            Anchor(value, ps.text_field(a, "en", loc), ps.text_field(a, "zh", loc), tuple(aliases))
        )
    # anchor texts must not collide across values (text answers would become ambiguous)
    seen_text: dict[str, int] = {}
    for a in anchors:
        for t in (a.en, a.zh, *a.aliases):
            key = normalise_text(t)
            if key and seen_text.setdefault(key, a.value) != a.value:
                ps.add(
                    ps.where("anchors"),
                    f"anchor wording {t!r} is used for two values ({seen_text[key]} and {a.value})",
                )
    return anchors


def _parse_dimensions(ps: _Parse) -> list[Dimension]:
    """``[[dimensions]]``: snake_case ids, each once, a valence."""
    dims: list[Dimension] = []
    for i, d in enumerate(ps.raw.get("dimensions", []) or []):
        ident = d.get("id") if isinstance(d, dict) else None
        loc = ps.where("dimensions", i, ident if isinstance(ident, str) else None)
        if not isinstance(d, dict):
            ps.add(loc, "must be a table")
            continue
        if not isinstance(ident, str) or not _IDENT.match(ident):
            ps.add(loc, f"dimension id {ident!r} must be a snake_case identifier (a-z, 0-9, _)")
            continue
        if ident in {x.id for x in dims}:
            ps.add(loc, f"dimension id {ident!r} is defined twice")
            continue
        valence = d.get("valence", "positive")
        if valence not in ("positive", "negative"):
            ps.add(loc, f'\'valence\' must be "positive" or "negative", not {valence!r}')
            valence = "positive"
        dims.append(
            Dimension(
                ident,
                str(d.get("name_en", "") or ident),
                str(d.get("name_zh", "") or ""),
                valence,
                str(d.get("source", "")),
            )
        )
    if not dims:
        ps.add(ps.label, "no [[dimensions]] defined")
    return dims


def _item_keying(ps: _Parse, it: dict, loc: str) -> tuple[bool, bool, int | None]:
    """(reverse, attention_check, expected answer) of one item, checked against each other."""
    reverse = it.get("reverse", False)
    attention = it.get("attention_check", False)
    if not isinstance(reverse, bool) or not isinstance(attention, bool):
        ps.add(loc, "'reverse' and 'attention_check' must be true or false")
        reverse, attention = bool(reverse), bool(attention)
    expected = it.get("expected")
    if attention:
        if not isinstance(expected, int) or isinstance(expected, bool):
            ps.add(loc, "an attention check needs 'expected' (the instructed answer, an integer)")
            expected = None
        elif not ps.in_scale(expected):
            ps.add(loc, f"expected answer {expected} is outside the scale {ps.smin}..{ps.smax}")
    elif expected is not None:
        ps.add(loc, "'expected' is only meaningful with attention_check = true")
        expected = None
    if attention and reverse:
        ps.add(loc, "an attention check cannot be reverse-keyed")
    return reverse, attention, expected


def _parse_item(ps: _Parse, i: int, it: Any, dim_ids: set[str], seen_ids: dict[str, int]) -> Item | None:
    """One ``[[items]]`` entry, or None (with a problem recorded) when it cannot be used."""
    ident = it.get("id") if isinstance(it, dict) else None
    loc = ps.where("items", i, ident if isinstance(ident, str) else None)
    if not isinstance(it, dict):
        ps.add(loc, "must be a table")
        return None
    if not isinstance(ident, str) or not _ITEM_ID.match(ident):
        ps.add(loc, f"item id {ident!r} must start with a letter and hold only letters, digits and _")
        return None
    if ident.casefold() in seen_ids:
        first = seen_ids[ident.casefold()] + 1
        ps.add(loc, f"duplicate item id {ident!r} (first defined in [[items]] #{first})")
        return None
    seen_ids[ident.casefold()] = i
    dim = it.get("dimension")
    if dim not in dim_ids:
        ps.add(loc, f"unknown dimension {dim!r} (known: {', '.join(sorted(dim_ids)) or 'none'})")
        return None
    unknown = set(it) - _ITEM_KEYS
    if unknown:
        ps.add(loc, f"unknown key(s): {', '.join(sorted(unknown))}")
    reverse, attention, expected = _item_keying(ps, it, loc)
    return Item(
        ident,
        dim,
        ps.text_field(it, "en", loc),
        ps.text_field(it, "zh", loc),
        reverse,
        str(it.get("source", "")),
        attention,
        expected,
    )


def _parse_items(ps: _Parse, dims: list[Dimension]) -> list[Item]:
    """``[[items]]``, then the checks across items: ≥ 3 scored items per dimension, distinct wordings."""
    raw_items = ps.raw.get("items", []) or []
    if not raw_items:
        ps.add(ps.label, "no [[items]] defined")
    dim_ids = {d.id for d in dims}
    seen_ids: dict[str, int] = {}
    parsed = (_parse_item(ps, i, it, dim_ids, seen_ids) for i, it in enumerate(raw_items))
    items = [it for it in parsed if it is not None]
    for pos, d in enumerate(dims):
        n = sum(1 for it in items if it.dimension == d.id and not it.attention_check)
        if n < 3:
            ps.add(
                ps.where("dimensions", pos, d.id),
                f"dimension {d.id!r} has {n} scored item(s); at least 3 are needed (CFA identification)",
            )
    # the same wording on two items would make mapping columns by question text ambiguous
    for lang in ("en", "zh"):
        seen_wording: dict[str, str] = {}
        for it in items:
            key = normalise_text(it.text(lang))
            if key and key in seen_wording:
                ps.add(ps.label, f"items {seen_wording[key]} and {it.id} have the same {lang} wording")
            elif key:
                seen_wording[key] = it.id
    return items


def parse_instrument(
    text: str, label: str = "<instrument>"
) -> tuple[Instrument | None, list[InstrumentProblem]]:
    """Parse and check an instrument text; returns (instrument or None, every problem found)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [InstrumentProblem(label, f"not valid TOML: {exc}")]
    ps = _Parse(text, label, raw)
    head, name = _parse_head(ps)
    anchors = _parse_anchors(ps)
    dims = _parse_dimensions(ps)
    items = _parse_items(ps, dims)
    unknown_tables = set(raw) - _TOP_LEVEL
    if unknown_tables:
        ps.add(label, f"unknown top-level key(s): {', '.join(sorted(unknown_tables))}")
    if ps.problems or not ps.bounds_ok:
        return None, ps.problems
    instrument = Instrument(
        name=name,
        scale_min=ps.smin,
        scale_max=ps.smax,
        dimension_info=tuple(dims),
        items=tuple(items),
        anchors=tuple(sorted(anchors, key=lambda a: a.value)),
        title_en=str(head.get("title_en", "")),
        title_zh=str(head.get("title_zh", "")),
        version=str(head.get("version", "")),
        languages=tuple(ps.langs),
        instructions_en=str(head.get("instructions_en", "")),
        instructions_zh=str(head.get("instructions_zh", "")),
        path=label,
    )
    return instrument, []
