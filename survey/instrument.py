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


def parse_instrument(
    text: str, label: str = "<instrument>"
) -> tuple[Instrument | None, list[InstrumentProblem]]:
    """Parse and check an instrument text; returns (instrument or None, problems)."""
    problems: list[InstrumentProblem] = []

    def add(where: str, msg: str) -> None:
        problems.append(InstrumentProblem(where, msg))

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [InstrumentProblem(label, f"not valid TOML: {exc}")]

    lines = {h: _header_lines(text, h) for h in ("instrument", "anchors", "dimensions", "items")}

    def where(table: str, idx: int | None = None, ident: str | None = None) -> str:
        found = lines.get(table, [])
        pos = (
            found[idx]
            if idx is not None and idx < len(found)
            else (found[0] if found and idx is None else None)
        )
        name = f"[[{table}]] #{idx + 1}" if idx is not None else f"[{table}]"
        if ident:
            name += f" (id {ident!r})"
        return f"{label}:{pos} {name}" if pos else f"{label} {name}"

    head = raw.get("instrument")
    if not isinstance(head, dict):
        add(label, "missing the [instrument] table (name, scale_min, scale_max)")
        head = {}
    name = head.get("name")
    if not isinstance(name, str) or not name.strip():
        add(where("instrument"), "'name' must be a non-empty string")
        name = Path(label).stem
    smin, smax = head.get("scale_min"), head.get("scale_max")
    bounds_ok = isinstance(smin, int) and isinstance(smax, int) and not isinstance(smin, bool)
    if not bounds_ok:
        add(where("instrument"), "'scale_min' and 'scale_max' must be integers")
    elif smax - smin < 1:
        add(where("instrument"), f"scale_max ({smax}) must be greater than scale_min ({smin})")
        bounds_ok = False
    elif smax - smin > 20:
        add(where("instrument"), f"a {smax - smin + 1}-point scale is not a Likert scale (at most 21 points)")
    langs = head.get("languages", list(LANGUAGES))
    if not isinstance(langs, list) or not langs or any(lang not in LANGUAGES for lang in langs):
        add(where("instrument"), f"'languages' must be a non-empty list drawn from {list(LANGUAGES)}")
        langs = ["en"]

    def text_field(entry: dict, key: str, loc: str, required: bool) -> str:
        value = entry.get(key, "")
        if not isinstance(value, str):
            add(loc, f"{key!r} must be a string")
            return ""
        if required and not value.strip():
            add(loc, f"wording {key!r} is missing or empty")
        return value.strip()

    anchors: list[Anchor] = []
    seen_values: set[int] = set()
    for i, a in enumerate(raw.get("anchors", []) or []):
        loc = where("anchors", i)
        if not isinstance(a, dict):
            add(loc, "must be a table")
            continue
        value = a.get("value")
        if not isinstance(value, int) or isinstance(value, bool):
            add(loc, "'value' must be an integer")
            continue
        if bounds_ok and not smin <= value <= smax:
            add(loc, f"anchor value {value} is outside the scale {smin}..{smax}")
        if value in seen_values:
            add(loc, f"anchor value {value} is defined twice")
        seen_values.add(value)
        aliases = a.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(x, str) for x in aliases):
            add(loc, "'aliases' must be a list of strings")
            aliases = []
        anchors.append(
            Anchor(
                value,
                text_field(a, "en", loc, "en" in langs),
                text_field(a, "zh", loc, "zh" in langs),
                tuple(aliases),
            )
        )
    # anchor texts must not collide across values (text answers would become ambiguous)
    seen_text: dict[str, int] = {}
    for a in anchors:
        for t in (a.en, a.zh, *a.aliases):
            key = normalise_text(t)
            if key and seen_text.setdefault(key, a.value) != a.value:
                add(
                    where("anchors"),
                    f"anchor wording {t!r} is used for two values ({seen_text[key]} and {a.value})",
                )

    dims: list[Dimension] = []
    for i, d in enumerate(raw.get("dimensions", []) or []):
        ident = d.get("id") if isinstance(d, dict) else None
        loc = where("dimensions", i, ident if isinstance(ident, str) else None)
        if not isinstance(d, dict):
            add(loc, "must be a table")
            continue
        if not isinstance(ident, str) or not _IDENT.match(ident):
            add(loc, f"dimension id {ident!r} must be a snake_case identifier (a-z, 0-9, _)")
            continue
        if ident in {x.id for x in dims}:
            add(loc, f"dimension id {ident!r} is defined twice")
            continue
        valence = d.get("valence", "positive")
        if valence not in ("positive", "negative"):
            add(loc, f'\'valence\' must be "positive" or "negative", not {valence!r}')
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
        add(label, "no [[dimensions]] defined")
    dim_ids = {d.id for d in dims}

    items: list[Item] = []
    seen_ids: dict[str, int] = {}
    raw_items = raw.get("items", []) or []
    if not raw_items:
        add(label, "no [[items]] defined")
    for i, it in enumerate(raw_items):
        ident = it.get("id") if isinstance(it, dict) else None
        loc = where("items", i, ident if isinstance(ident, str) else None)
        if not isinstance(it, dict):
            add(loc, "must be a table")
            continue
        if not isinstance(ident, str) or not _ITEM_ID.match(ident):
            add(loc, f"item id {ident!r} must start with a letter and hold only letters, digits and _")
            continue
        if ident.casefold() in seen_ids:
            add(
                loc,
                f"duplicate item id {ident!r} (first defined in [[items]] #{seen_ids[ident.casefold()] + 1})",
            )
            continue
        seen_ids[ident.casefold()] = i
        dim = it.get("dimension")
        if dim not in dim_ids:
            add(loc, f"unknown dimension {dim!r} (known: {', '.join(sorted(dim_ids)) or 'none'})")
            continue
        unknown = set(it) - {
            "id",
            "dimension",
            "en",
            "zh",
            "reverse",
            "source",
            "attention_check",
            "expected",
        }
        if unknown:
            add(loc, f"unknown key(s): {', '.join(sorted(unknown))}")
        reverse = it.get("reverse", False)
        attention = it.get("attention_check", False)
        if not isinstance(reverse, bool) or not isinstance(attention, bool):
            add(loc, "'reverse' and 'attention_check' must be true or false")
            reverse, attention = bool(reverse), bool(attention)
        expected = it.get("expected")
        if attention:
            if not isinstance(expected, int) or isinstance(expected, bool):
                add(loc, "an attention check needs 'expected' (the instructed answer, an integer)")
                expected = None
            elif bounds_ok and not smin <= expected <= smax:
                add(loc, f"expected answer {expected} is outside the scale {smin}..{smax}")
        elif expected is not None:
            add(loc, "'expected' is only meaningful with attention_check = true")
            expected = None
        if attention and reverse:
            add(loc, "an attention check cannot be reverse-keyed")
        items.append(
            Item(
                ident,
                dim,
                text_field(it, "en", loc, "en" in langs),
                text_field(it, "zh", loc, "zh" in langs),
                reverse,
                str(it.get("source", "")),
                attention,
                expected,
            )
        )
    for d in dims:
        n = sum(1 for it in items if it.dimension == d.id and not it.attention_check)
        if n < 3:
            add(
                where("dimensions", [x.id for x in dims].index(d.id), d.id),
                f"dimension {d.id!r} has {n} scored item(s); at least 3 are needed (CFA identification)",
            )
    # the same wording on two items would make mapping columns by question text ambiguous
    for lang in ("en", "zh"):
        seen_wording: dict[str, str] = {}
        for it in items:
            key = normalise_text(it.text(lang))
            if key and key in seen_wording:
                add(label, f"items {seen_wording[key]} and {it.id} have the same {lang} wording")
            elif key:
                seen_wording[key] = it.id

    unknown_tables = set(raw) - {"instrument", "anchors", "dimensions", "items"}
    if unknown_tables:
        add(label, f"unknown top-level key(s): {', '.join(sorted(unknown_tables))}")
    if problems or not bounds_ok:
        return None, problems
    return (
        Instrument(
            name=name,
            scale_min=smin,
            scale_max=smax,
            dimension_info=tuple(dims),
            items=tuple(items),
            anchors=tuple(sorted(anchors, key=lambda a: a.value)),
            title_en=str(head.get("title_en", "")),
            title_zh=str(head.get("title_zh", "")),
            version=str(head.get("version", "")),
            languages=tuple(langs),
            instructions_en=str(head.get("instructions_en", "")),
            instructions_zh=str(head.get("instructions_zh", "")),
            path=label,
        ),
        [],
    )


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
