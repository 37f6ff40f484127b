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
    try:
        return cls(**params)
    except TypeError as exc:
        raise UserError(f"bad parameters for model {name!r}: {exc}") from exc
