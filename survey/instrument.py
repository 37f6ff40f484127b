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
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from dancerec.errors import UserError

BUILTIN_PACKAGE = "dancerec.survey"
BUILTIN_DIR = "instruments"
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
    from dancerec.survey.instrument_parse import parse_instrument

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
    from dancerec.survey.instrument_parse import parse_instrument

    text, label = _resolve(path)
    return parse_instrument(text, label)[1]


def __getattr__(name: str) -> Any:
    """``parse_instrument`` still answers from here; it lives in :mod:`.instrument_parse`, which
    imports this module's dataclasses, so it is imported on first use to avoid an import cycle."""
    if name == "parse_instrument":
        from dancerec.survey.instrument_parse import parse_instrument

        return parse_instrument
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
