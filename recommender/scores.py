"""Behaviour scores, training labels and activity filters (rules in :mod:`dancerec.recommender.data`)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from dancerec.recommender.interactions import (
    COLLECT_POINTS,
    INTERACTION_COLUMNS,
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    PRAISE_POINTS,
    InteractionLog,
    Subset,
    _full_frame,
    _tidy,
)


def score_sql(rel: str = "log") -> str:
    """SQL selecting every column of ``rel`` plus ``score`` (the comprehensive behaviour score)."""
    return f"""
        SELECT *,
          greatest(
            CASE
              WHEN rating IS NOT NULL THEN least(greatest(round(rating), 1), 5)
              WHEN plays IS NOT NULL THEN
                ceil(5 * cume_dist() OVER (PARTITION BY user_id, plays IS NULL ORDER BY plays))
              ELSE 3
            END,
            COALESCE(least(greatest(ceil(dance_score / 20), 1), 5), 1)
          ) + {PRAISE_POINTS} * COALESCE(praise, 0) + {COLLECT_POINTS} * COALESCE("collect", 0) AS score
        FROM {rel}
    """


def behaviour_scores(interactions: pd.DataFrame) -> pd.Series:
    """Comprehensive behaviour score of each interaction (module docstring), aligned to the input rows."""
    frame = interactions.copy()
    for col in INTERACTION_COLUMNS:
        if col not in frame.columns:
            frame[col] = 0 if col in ("praise", "collect") else np.nan
    frame["_pos"] = np.arange(len(frame))
    con = duckdb.connect()
    try:
        con.register("log", frame)
        out = con.execute(f"SELECT _pos, score FROM ({score_sql('log')}) ORDER BY _pos").df()
    finally:
        con.close()
    return pd.Series(out["score"].to_numpy(dtype=float), index=interactions.index, name="score")


def label_interactions(
    interactions: pd.DataFrame,
    n_items: int,
    *,
    positive_threshold: float = POSITIVE_THRESHOLD,
    negative_threshold: float = NEGATIVE_THRESHOLD,
    fill_unobserved: bool = True,
    seed: int = 42,
) -> pd.DataFrame:
    """Binary training labels from behaviour scores, negatives balanced to positives per user.

    ``interactions`` needs ``user``, ``item`` (internal indices) and ``score``. Positives: score ≥
    ``positive_threshold``; negatives: interacted items with score < ``negative_threshold``, sampled
    down to the user's number of positives, and (``fill_unobserved``) topped up with items the user
    never interacted with when they are short. Returns ``user, item, label`` (1/0), sorted.
    """
    rng = np.random.default_rng(seed)
    users = interactions["user"].to_numpy()
    items = interactions["item"].to_numpy()
    scores = interactions["score"].to_numpy(dtype=float)
    order = np.lexsort((items, users))
    users, items, scores = users[order], items[order], scores[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    out_u, out_i, out_l = [], [], []
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(users)], strict=True):
        if start == stop:
            continue
        u = users[start]
        s, it = scores[start:stop], items[start:stop]
        pos = it[s >= positive_threshold]
        neg = it[s < negative_threshold]
        n_pos = len(pos)
        if n_pos == 0:
            continue
        if len(neg) > n_pos:
            neg = rng.choice(neg, size=n_pos, replace=False)
        elif len(neg) < n_pos and fill_unobserved:
            need = n_pos - len(neg)
            seen = np.zeros(n_items, dtype=bool)
            seen[it] = True
            pool = np.flatnonzero(~seen)
            if len(pool):
                neg = np.concatenate([neg, rng.choice(pool, size=min(need, len(pool)), replace=False)])
        out_u.append(np.full(n_pos + len(neg), u))
        out_i.append(np.concatenate([pos, neg]))
        out_l.append(np.r_[np.ones(n_pos, dtype=np.int8), np.zeros(len(neg), dtype=np.int8)])
    if not out_u:
        return pd.DataFrame({"user": [], "item": [], "label": []}, dtype=int)
    frame = pd.DataFrame(
        {"user": np.concatenate(out_u), "item": np.concatenate(out_i), "label": np.concatenate(out_l)}
    )
    return frame.sort_values(["user", "item"], kind="stable").reset_index(drop=True)


def activity_filter_sql(
    rel: str, *, min_user_plays: float = 0, min_user_items: int = 0, min_item_users: int = 0
) -> str:
    """SQL keeping users with ≥ ``min_user_plays`` total plays (interactions count when no plays are
    logged) and ≥ ``min_user_items`` items, then items with ≥ ``min_item_users`` users (one pass)."""
    return f"""
        WITH u AS (
            SELECT user_id FROM {rel} GROUP BY user_id
            HAVING COALESCE(sum(plays), count(*)) >= {float(min_user_plays)}
               AND count(*) >= {int(min_user_items)}
        ), kept AS (
            SELECT l.* FROM {rel} l SEMI JOIN u USING (user_id)
        ), i AS (
            SELECT item_id FROM kept GROUP BY item_id HAVING count(DISTINCT user_id) >= {int(min_item_users)}
        )
        SELECT kept.* FROM kept SEMI JOIN i USING (item_id)
    """


def activity_filter(
    log: InteractionLog, *, min_user_plays: float = 0, min_user_items: int = 0, min_item_users: int = 0
) -> tuple[InteractionLog, Subset]:
    """The paper's TP100/TP500-style subset: users with at least ``min_user_plays`` plays, the kept rows
    in the log's order (DuckDB's parallel joins return them in an order that varies from run to run)."""
    con = duckdb.connect()
    try:
        frame = _full_frame(log.interactions).assign(_row=np.arange(len(log.interactions)))
        con.register("log", frame)
        sql = activity_filter_sql(
            "log", min_user_plays=min_user_plays, min_user_items=min_user_items, min_item_users=min_item_users
        )
        kept = con.execute(f"SELECT * EXCLUDE (_row) FROM ({sql}) ORDER BY _row").df()
    finally:
        con.close()
    kept = _tidy(kept)
    users = log.users.loc[log.users.index.isin(kept["user_id"])] if len(log.users) else log.users
    items = log.items.loc[log.items.index.isin(kept["item_id"])] if len(log.items) else log.items
    sub = InteractionLog(kept, users, items, source=log.source, n_bad_rows=log.n_bad_rows)
    return sub, Subset(sub.n_users, sub.n_items, len(kept))
