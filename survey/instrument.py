"""Survey instruments: items, dimensions and scale anchors, shipped as TOML data files.

An instrument file has an ``[instrument]`` table (name, scale bounds, languages), ``[[anchors]]``
(value + wording in each language + optional aliases), ``[[dimensions]]`` (snake_case ids, used as
latent-variable names in lavaan-style syntax; ``valence = "negative"`` for a dimension where higher
means worse, such as risk) and ``[[items]]`` (id, dimension, ``en``/``zh`` wording, ``reverse``,
``source``, ``attention_check`` + ``expected``). ``dance-music-30`` is built in; users bring their
own in the same format and check them with :func:`validate_instrument`.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from dancerec.errors import UserError

BUILTIN_PACKAGE = "dancerec.survey"
BUILTIN_DIR = "instruments"
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_ITEM_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Anchor:
    """One labelled scale point, e.g. 1 = "Strongly disagree" / "非常不同意"."""

    value: int
    en: str
    zh: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dimension:
    """A latent dimension. ``valence`` is "negative" when a higher score means a worse experience."""

    id: str
    name_en: str
    name_zh: str
    valence: str = "positive"
    source: str = ""


@dataclass(frozen=True)
class Item:
    """One questionnaire item. Attention checks are never scored; ``expected`` is their right answer."""

    id: str
    dimension: str
    text_en: str
    text_zh: str
    reverse: bool = False
    source: str = ""
    attention_check: bool = False
    expected: int | None = None

    def text(self, lang: str = "en") -> str:
        return self.text_zh if lang == "zh" else self.text_en


@dataclass(frozen=True)
class Instrument:
    """A parsed, validated instrument (see the module docstring for the file format)."""

    name: str
    scale_min: int
    scale_max: int
    dimension_info: tuple[Dimension, ...]
    items: tuple[Item, ...]
    anchors: tuple[Anchor, ...] = ()
    title_en: str = ""
    title_zh: str = ""
    version: str = ""
    languages: tuple[str, ...] = LANGUAGES
    instructions_en: str = ""
    instructions_zh: str = ""
    path: str = ""
    _by_id: dict[str, Item] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({it.id: it for it in self.items})

    # -- structure ---------------------------------------------------------------------------
    @property
    def dimensions(self) -> list[str]:
        """Dimension ids in instrument order."""
        return [d.id for d in self.dimension_info]

    @property
    def item_ids(self) -> list[str]:
        """All item ids (attention checks included) in questionnaire order."""
        return [it.id for it in self.items]

    @property
    def scored_items(self) -> list[Item]:
        return [it for it in self.items if not it.attention_check]

    @property
    def attention_items(self) -> list[Item]:
        return [it for it in self.items if it.attention_check]

    @property
    def reverse_items(self) -> list[str]:
        return [it.id for it in self.scored_items if it.reverse]

    @property
    def n_points(self) -> int:
        return self.scale_max - self.scale_min + 1

    def item(self, item_id: str) -> Item:
        try:
            return self._by_id[item_id]
        except KeyError:
            raise UserError(f"instrument {self.name!r} has no item {item_id!r}") from None

    def dimension(self, dim_id: str) -> Dimension:
        for d in self.dimension_info:
            if d.id == dim_id:
                return d
        raise UserError(f"instrument {self.name!r} has no dimension {dim_id!r}")

    def dimension_items(self, include_attention: bool = False) -> dict[str, list[str]]:
        """``{dimension: [item ids]}`` in instrument order: the CFA measurement structure."""
        out: dict[str, list[str]] = {d: [] for d in self.dimensions}
        for it in self.items:
            if it.attention_check and not include_attention:
                continue
            out[it.dimension].append(it.id)
        return out

    def cfa_syntax(self) -> str:
        """The measurement model in lavaan syntax, one ``factor =~ items`` line per dimension."""
        return "\n".join(f"{d} =~ {' + '.join(ids)}" for d, ids in self.dimension_items().items())

    # -- answers -----------------------------------------------------------------------------
    @property
    def anchor_lookup(self) -> dict[str, int]:
        """Normalised anchor wording (either language, plus aliases) → scale value."""
        return _anchor_lookup(self)

    def anchor_label(self, value: int, lang: str = "en") -> str:
        for a in self.anchors:
            if a.value == value:
                return a.zh if lang == "zh" else a.en
        return str(value)


@cache
def _anchor_lookup_cached(key: tuple) -> dict[str, int]:
    out: dict[str, int] = {}
    for value, texts in key:
        for text in texts:
            norm = normalise_text(text)
            if norm:
                out[norm] = value
    return out


def _anchor_lookup(inst: Instrument) -> dict[str, int]:
    key = tuple((a.value, (a.en, a.zh, *a.aliases)) for a in inst.anchors)
    return _anchor_lookup_cached(key)


_NUMBERING = re.compile(r"^\s*(?:第\s*\d+\s*题|q?\d+)\s*[、.:：)）\]]\s*", re.IGNORECASE)


def normalise_text(text: object) -> str:
    """Text key for matching question wording and answer labels across platforms and languages.

    NFKC folds full-width characters (，：（）１) to their ASCII forms; case is folded; a leading
    question number ("12、", "Q3.", "第5题:") is dropped; punctuation, symbols and whitespace go.
    """
    s = unicodedata.normalize("NFKC", str(text)).casefold().strip()
    s = _NUMBERING.sub("", s)
    return "".join(ch for ch in s if unicodedata.category(ch)[0] in "LN")


# -- loading and validation --------------------------------------------------------------------
@dataclass(frozen=True)
class InstrumentProblem:
    """One problem found in an instrument file, with where it is."""

    location: str
    problem: str

    def __str__(self) -> str:
        return f"{self.location}: {self.problem}"


class InstrumentError(UserError):
    """An instrument file with problems; ``problems`` lists every one of them."""

    def __init__(self, path: str, problems: list[InstrumentProblem]) -> None:
        self.path = path
        self.problems = problems
        first = "; ".join(str(p) for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{path}: invalid instrument: {first}{more}")


def builtin_instruments() -> list[str]:
    """Names of the instruments shipped with dancerec."""
    folder = resources.files(BUILTIN_PACKAGE) / BUILTIN_DIR
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def _resolve(name_or_path: str | Path) -> tuple[str, str]:
    """(text, label) of an instrument given by built-in name or file path."""
    s = str(name_or_path)
    if s in builtin_instruments():
        res = resources.files(BUILTIN_PACKAGE) / BUILTIN_DIR / f"{s}.toml"
        return res.read_text(encoding="utf-8"), s
    path = Path(s)
    if not path.is_file():
        raise UserError(
            f"no instrument {s!r}: not a built-in instrument ({', '.join(builtin_instruments())}) "
            "and not a file"
        )
    try:
        return path.read_text(encoding="utf-8-sig"), str(path)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: instrument files must be UTF-8 text ({exc.reason})") from exc


@cache
def _load_cached(name_or_path: str, mtime: float) -> Instrument:
    text, label = _resolve(name_or_path)
    inst, problems = parse_instrument(text, label)
    if problems or inst is None:
        raise InstrumentError(label, problems)
    return inst


def load_instrument(name_or_path: str | Path | Instrument) -> Instrument:
    """Load a built-in instrument by name (``"dance-music-30"``) or a TOML file; invalid → UserError."""
    if isinstance(name_or_path, Instrument):
        return name_or_path
    path = Path(str(name_or_path))
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    return _load_cached(str(name_or_path), mtime)


def validate_instrument(path: str | Path) -> list[InstrumentProblem]:
    """Every problem in an instrument file (empty list = valid)."""
    text, label = _resolve(path)
    return parse_instrument(text, label)[1]


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


def instrument_table(inst: Instrument) -> list[dict[str, Any]]:
    """One row per item (for `survey instrument show` and JSON output)."""
    return [
        {
            "id": it.id,
            "dimension": it.dimension,
            "reverse": it.reverse,
            "attention_check": it.attention_check,
            "text_en": it.text_en,
            "text_zh": it.text_zh,
            "source": it.source,
        }
        for it in inst.items
    ]
