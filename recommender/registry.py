"""Model registry: name -> Recommender class, and ``make_model(name, **params)``.

Entries are resolved lazily (``"module:Class"`` strings), so importing the registry does not import
torch or the relation model until they are used. Adding a model is one line in ``_ENTRIES`` or a call
to :func:`register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from dancerec.recommender.base import Recommender

from dancerec.errors import UserError

_ENTRIES: dict[str, str | type[Recommender]] = {
    "mostpop": "dancerec.recommender.baselines:MostPop",
    "itemknn": "dancerec.recommender.baselines:ItemKNN",
    "userknn": "dancerec.recommender.baselines:UserKNN",
    "svd": "dancerec.recommender.baselines:PureSVD",
    "ncf": "dancerec.recommender.ncf:NeuMF",
    "content": "dancerec.recommender.baselines:ContentTFIDF",
    "ease": "dancerec.recommender.baselines:EASE",
    "als": "dancerec.recommender.baselines:ALS",
    "relation": "dancerec.recommender.relation:RelationRecommender",
    "relation-rank": "dancerec.recommender.relation_rank:RelationRank",
    "fism": "dancerec.recommender.relation_rank:FISM",
}


class _Registry(Mapping[str, type[Recommender]]):
    def __getitem__(self, name: str) -> type[Recommender]:
        entry = _ENTRIES[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            _ENTRIES[name] = entry
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(_ENTRIES)

    def __len__(self) -> int:
        return len(_ENTRIES)


MODELS: Mapping[str, type[Recommender]] = _Registry()


def register(name: str, cls: type[Recommender] | str) -> None:
    """Add (or replace) a model: a Recommender subclass or a lazy ``"module:Class"`` path."""
    _ENTRIES[name] = cls


def model_names() -> list[str]:
    return list(_ENTRIES)


def make_model(name: str, **params) -> Recommender:
    """A new, unfitted model ``name`` with constructor ``params``."""
    if name not in _ENTRIES:
        raise UserError(f"unknown model {name!r} (known: {', '.join(_ENTRIES)})")
    cls = MODELS[name]
    _check_param_types(name, cls, params)
    try:
        return cls(**params)
    except TypeError as exc:
        raise UserError(f"bad parameters for model {name!r}: {exc}") from exc


def _check_param_types(name: str, cls: type, params: dict) -> None:
    """A text where the constructor's default is a number (``--param l2=abc``) is a user error."""
    import inspect

    defaults = {
        k: p.default
        for k, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not p.empty
    }
    for key, value in params.items():
        default = defaults.get(key)
        numeric_default = isinstance(default, int | float) and not isinstance(default, bool)
        if numeric_default and (isinstance(value, str | bool) or value is None):
            raise UserError(f"parameter {key!r} of model {name!r} must be a number, not {value!r}")


def describe_models() -> list[dict[str, str]]:
    """One row per model: its name, its full description (the docstring's first paragraph, whole
    sentences, never cut) and its tuning space, for ``dancerec recommender models``."""
    rows = []
    for name in _ENTRIES:
        try:
            cls = MODELS[name]
        except ImportError as exc:
            rows.append({"model": name, "what": f"(unavailable: {exc})", "tuned over": ""})
            continue
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        space = getattr(cls, "search_space", {}) or {}
        rows.append(
            {
                "model": name,
                "what": " ".join(doc.split()),
                "tuned over": "; ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in space.items()),
            }
        )
    return rows
