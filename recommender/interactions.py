"""The one interaction schema every source is read into: :class:`InteractionLog` and its columns.

Shared by the readers (:mod:`.readers`), the behaviour scores (:mod:`.scores`) and the study store
(:mod:`.data`, which re-exports every public name here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# column -> DuckDB type of the one interaction schema. Only user_id and item_id are required.
INTERACTION_COLUMNS: dict[str, str] = {
    "user_id": "VARCHAR",
    "item_id": "VARCHAR",
    "kind": "VARCHAR",  # 'music' or 'dance'
    "timestamp": "TIMESTAMP",
    "plays": "DOUBLE",
    "rating": "DOUBLE",
    "praise": "TINYINT",
    "collect": "TINYINT",
    "dance_score": "DOUBLE",
}
ITEM_KINDS = ("music", "dance")
PRAISE_POINTS = 4
COLLECT_POINTS = 6
POSITIVE_THRESHOLD = 4.0
NEGATIVE_THRESHOLD = 2.0
SOURCES = ("lastfm", "taste-profile", "movielens", "table", "simulated")


@dataclass
class InteractionLog:
    """Interactions (long table, raw string ids) plus user and item feature tables indexed by raw id.

    ``interactions`` has ``user_id``, ``item_id`` and any of the other :data:`INTERACTION_COLUMNS`;
    ``users`` (index ``user_id``: gender, age, …) and ``items`` (index ``item_id``: ``kind``, audio
    descriptors, ``genre``, ``tags`` as a list of strings, dance style, difficulty) may be empty.
    """

    interactions: pd.DataFrame
    users: pd.DataFrame = field(default_factory=pd.DataFrame)
    items: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str = "table"
    n_bad_rows: int = 0

    @property
    def n_users(self) -> int:
        return int(self.interactions["user_id"].nunique())

    @property
    def n_items(self) -> int:
        return int(self.interactions["item_id"].nunique())


@dataclass(frozen=True)
class Subset:
    """Size of an (activity-filtered) interaction set."""

    n_users: int
    n_items: int
    n_interactions: int

    @property
    def density(self) -> float:
        cells = self.n_users * self.n_items
        return self.n_interactions / cells if cells else 0.0


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in ("user_id", "item_id", "kind"):
        frame[col] = frame[col].astype("str")
    return frame


def _full_frame(interactions: pd.DataFrame) -> pd.DataFrame:
    frame = interactions.copy()
    for col, typ in INTERACTION_COLUMNS.items():
        if col not in frame.columns:
            if col == "kind":
                frame[col] = "music"
            elif col in ("praise", "collect"):
                frame[col] = np.int8(0)
            elif typ == "TIMESTAMP":
                frame[col] = pd.NaT
            else:
                frame[col] = np.nan
    return frame[list(INTERACTION_COLUMNS)]
