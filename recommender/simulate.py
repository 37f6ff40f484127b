"""A synthetic music/dance world with signal, for demos, tests and scale benchmarks.

Generative story (all seeded):

* items: kind (music or dance), genre, audio descriptors (tempo, energy, danceability, valence,
  loudness) drawn around genre means, tags (genre + mood), dance style and difficulty for dance items;
* users: gender, age, dance level;
* latent tastes: an item's factor vector is a fixed linear map of its (standardised) features plus
  noise, a user's is a linear map of their demographics plus noise — so features carry real signal
  and cold-start items are predictable from content;
* preference ``pref(u, i) = u·v / sqrt(d)``; power-law (Zipf) item popularity; each user picks a
  negative-binomial number of items without replacement with probability ∝ popularity · exp(β·pref)
  (Gumbel top-k);
* play counts: overdispersed (negative binomial) with a mean rising with preference; praise and collect:
  Bernoulli with probabilities rising with preference; a dance score (0–100) for some dance items;
* timestamps: each user's events follow a start date plus exponential gaps.

With ``out`` the world streams to Parquet in chunks of users, so tens of millions of rows never sit in
memory at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dancerec.recommender.data import InteractionLog

from dancerec.errors import UserError

GENRES = ("pop", "rock", "electronic", "hiphop", "latin", "jazz", "classical", "folk")
# genre -> (tempo mean, energy, danceability, valence) on logit scale for the last three
_GENRE_AUDIO = {
    "pop": (118, 0.6, 0.8, 0.6),
    "rock": (125, 1.2, -0.2, 0.2),
    "electronic": (128, 1.0, 1.2, 0.1),
    "hiphop": (95, 0.4, 1.1, 0.0),
    "latin": (105, 0.7, 1.4, 1.0),
    "jazz": (110, -0.6, 0.2, 0.3),
    "classical": (90, -1.2, -1.2, -0.2),
    "folk": (100, -0.7, -0.3, 0.4),
}
DANCE_STYLES = {
    "pop": "kpop",
    "rock": "freestyle",
    "electronic": "house",
    "hiphop": "hiphop",
    "latin": "salsa",
    "jazz": "jazz",
    "classical": "ballet",
    "folk": "folk",
}
LEVELS = ("beginner", "intermediate", "advanced")


@dataclass
class SimulatedWorld:
    """The simulated log (in memory, or the folder it was streamed to) and the true taste factors."""

    log: InteractionLog | None
    path: Path | None
    user_factors: np.ndarray
    item_factors: np.ndarray
    n_interactions: int


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _items(n_items: int, dance_share: float, rng: np.random.Generator) -> pd.DataFrame:
    genre = rng.choice(len(GENRES), size=n_items, p=np.array([6, 5, 4, 4, 3, 2, 1, 2]) / 27)
    audio = np.array([_GENRE_AUDIO[g] for g in GENRES])[genre]
    tempo = audio[:, 0] + rng.normal(0, 12, n_items)
    energy = _sigmoid(audio[:, 1] + rng.normal(0, 0.7, n_items))
    dance = _sigmoid(audio[:, 2] + rng.normal(0, 0.7, n_items))
    valence = _sigmoid(audio[:, 3] + rng.normal(0, 0.9, n_items))
    loudness = -14 + 8 * energy + rng.normal(0, 1.5, n_items)
    kind = np.where(rng.random(n_items) < dance_share, "dance", "music")
    is_dance = kind == "dance"
    mood = np.where(valence > 0.6, "happy", np.where(valence < 0.35, "melancholic", "mellow"))
    pace = np.where(energy > 0.6, "energetic", "calm")
    genres = np.array(GENRES)[genre]
    tags = [[g, m, p] for g, m, p in zip(genres, mood, pace, strict=True)]
    style = np.where(is_dance, np.array([DANCE_STYLES[g] for g in GENRES])[genre], None)
    difficulty = np.where(is_dance, rng.integers(1, 6, n_items), 0)
    width = len(str(n_items))
    return pd.DataFrame(
        {
            "kind": kind,
            "genre": genres,
            "tempo": tempo.round(1),
            "energy": energy.round(3),
            "danceability": dance.round(3),
            "valence": valence.round(3),
            "loudness": loudness.round(2),
            "tags": tags,
            "dance_style": pd.array(style, dtype="str"),
            "difficulty": difficulty.astype(np.int8),
        },
        index=pd.Index([f"i{j:0{width}d}" for j in range(n_items)], name="item_id"),
    )


def _item_design(items: pd.DataFrame) -> np.ndarray:
    num = items[["tempo", "energy", "danceability", "valence", "loudness", "difficulty"]].to_numpy(float)
    num = (num - num.mean(0)) / (num.std(0) + 1e-9)
    onehot = (items["genre"].to_numpy()[:, None] == np.array(GENRES)[None, :]).astype(float) * 1.5
    dance = (items["kind"].to_numpy() == "dance").astype(float)[:, None]
    return np.hstack([num, onehot, dance])


def _users(n_users: int, rng: np.random.Generator) -> pd.DataFrame:
    width = len(str(n_users))
    age = np.clip(rng.gamma(6.0, 4.5, n_users) + 12, 12, 70).round().astype(np.int16)
    return pd.DataFrame(
        {
            "gender": rng.choice(["female", "male"], size=n_users, p=[0.55, 0.45]),
            "age": age,
            "level": rng.choice(LEVELS, size=n_users, p=[0.5, 0.35, 0.15]),
        },
        index=pd.Index([f"u{j:0{width}d}" for j in range(n_users)], name="user_id"),
    )


def _user_design(users: pd.DataFrame) -> np.ndarray:
    age = (users["age"].to_numpy(float) - 30) / 12
    female = (users["gender"].to_numpy() == "female").astype(float) - 0.5
    level = users["level"].map({lv: i for i, lv in enumerate(LEVELS)}).to_numpy(float) - 0.7
    return np.column_stack([age, female, level, age * female, np.ones(len(users))])


@dataclass(frozen=True)
class _Tastes:
    """The latent side of the world: true taste factors and the items' Zipf popularity."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    log_pop: np.ndarray
    cum_pop: np.ndarray


def _choose_items(
    rng: np.random.Generator,
    tastes: _Tastes,
    users: slice,
    counts: np.ndarray,
    beta: float,
    exact_items: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each of ``users``' items, sampled without replacement ∝ popularity · exp(β · preference).

    Returns the per-user counts (possibly lowered for large catalogues), the chosen item indices and
    their preferences, users in order and each user's items best key first.
    """
    user_factors, item_factors = tastes.user_factors[users], tastes.item_factors
    log_pop, cum_pop = tastes.log_pop, tastes.cum_pop
    n_items, n_factors = item_factors.shape
    kmax = int(counts.max())
    if n_items <= exact_items:
        # exact: Gumbel top-k over the whole catalogue = sampling without replacement ∝ pop·exp(β·pref)
        cand = np.broadcast_to(np.arange(n_items), (len(user_factors), n_items))
        pref_c = (user_factors @ item_factors.T) / np.sqrt(n_factors)
        keys = beta * pref_c + log_pop + rng.gumbel(size=pref_c.shape)
    else:
        # large catalogues: propose 2·k items by popularity, then Gumbel top-k on exp(β·pref) among
        # the distinct proposals (sampling-importance-resampling; O(k) per user instead of O(items))
        m = min(n_items, 2 * kmax + 20)
        draws = np.sort(rng.random((len(user_factors), m)), axis=1) * cum_pop[-1]  # sorted: fast searchsorted
        cand = np.minimum(np.searchsorted(cum_pop, draws), n_items - 1)
        pref_c = np.einsum("bf,bmf->bm", user_factors, item_factors[cand]) / np.sqrt(n_factors)
        keys = beta * pref_c + rng.gumbel(size=pref_c.shape)
        keys[:, 1:][cand[:, 1:] == cand[:, :-1]] = -np.inf  # duplicates count once
        counts = np.minimum(counts, np.isfinite(keys).sum(1))
    top = np.argpartition(-keys, kmax - 1, axis=1)[:, :kmax]
    order = np.argsort(-np.take_along_axis(keys, top, 1), axis=1)
    top = np.take_along_axis(top, order, 1)
    take = np.arange(kmax)[None, :] < counts[:, None]
    return counts, np.take_along_axis(cand, top, 1)[take], np.take_along_axis(pref_c, top, 1)[take]


def _behaviour(
    rng: np.random.Generator,
    rows: np.ndarray,
    cols: np.ndarray,
    p: np.ndarray,
    counts: np.ndarray,
    lo: int,
    catalogue: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Plays, praise, collect, dance scores and timestamps of the chosen (user, item) pairs.

    ``rows`` are user indices from ``lo`` on, ``counts`` each user's number of pairs (in user order).
    """
    n = len(rows)
    mean_plays = np.exp(1.5 + 0.9 * p)
    plays = 1 + rng.negative_binomial(1.2, 1.2 / (1.2 + mean_plays))
    praise = (rng.random(n) < _sigmoid(-3.2 + 1.6 * p)).astype(np.int8)
    collect = (rng.random(n) < _sigmoid(-4.2 + 1.6 * p)).astype(np.int8)
    danced = catalogue["is_dance"][cols] & (rng.random(n) < 0.6)
    dscore = 100 * _sigmoid(
        0.9 * p
        + 0.6 * catalogue["skill"][rows]
        - 0.35 * catalogue["difficulty"][cols]
        + rng.normal(0, 0.5, n)
    )
    dscore = np.where(danced, dscore.round(1), np.nan)
    # a user's chosen items in random order of time
    start = np.datetime64("2023-01-01T00:00:00", "s")
    user_start = start + rng.integers(0, 300 * 86400, len(counts)).astype("timedelta64[s]")
    gaps = rng.exponential(86400.0, n).astype("timedelta64[s]")
    shuffle = np.lexsort((rng.random(n), rows))
    cols, plays, praise, collect, dscore = (a[shuffle] for a in (cols, plays, praise, collect, dscore))
    offsets = np.r_[0, np.cumsum(counts)[:-1]]
    csum = np.cumsum(gaps)
    base = np.repeat(csum[offsets] - gaps[offsets], counts)
    ts = user_start[rows - lo] + (csum - base)
    return pd.DataFrame(
        {
            "user_id": catalogue["user_ids"][rows],
            "item_id": catalogue["item_ids"][cols],
            "kind": catalogue["kinds"][cols],
            "timestamp": ts,
            "plays": plays.astype(float),
            "rating": np.nan,
            "praise": praise,
            "collect": collect,
            "dance_score": dscore,
        }
    )


_INTERACTIONS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("kind", pa.string()),
        ("timestamp", pa.timestamp("s")),
        ("plays", pa.float64()),
        ("rating", pa.float64()),
        ("praise", pa.int8()),
        ("collect", pa.int8()),
        ("dance_score", pa.float64()),
    ]
)


def _tastes(
    items: pd.DataFrame, users: pd.DataFrame, n_factors: int, zipf: float, rng: np.random.Generator
) -> _Tastes:
    """Taste factors: features drive them, noise keeps collaborative signal beyond the features."""
    xi, xu = _item_design(items), _user_design(users)
    n_items, n_users = len(items), len(users)
    item_factors = xi @ rng.normal(0, 1 / np.sqrt(xi.shape[1]), (xi.shape[1], n_factors))
    item_factors = 0.8 * item_factors / item_factors.std() + 0.6 * rng.normal(size=(n_items, n_factors))
    user_factors = xu @ rng.normal(0, 1.0, (xu.shape[1], n_factors))
    user_factors = 0.7 * user_factors / user_factors.std() + 0.7 * rng.normal(size=(n_users, n_factors))
    log_pop = -zipf * np.log(rng.permutation(n_items) + 1.0)
    return _Tastes(user_factors, item_factors, log_pop, np.cumsum(np.exp(log_pop)))


def _catalogue(items: pd.DataFrame, users: pd.DataFrame) -> dict[str, np.ndarray]:
    """The user and item attributes :func:`_behaviour` looks up by index."""
    return {
        "is_dance": (items["kind"] == "dance").to_numpy(),
        "skill": users["level"].map({lv: i for i, lv in enumerate(LEVELS)}).to_numpy(float),
        "difficulty": items["difficulty"].to_numpy(float),
        "item_ids": items.index.to_numpy(),
        "user_ids": users.index.to_numpy(),
        "kinds": items["kind"].to_numpy(),
    }


def _items_per_user(n_users: int, n_items: int, mean_items: float, rng: np.random.Generator) -> np.ndarray:
    """Number of items per user: negative binomial (overdispersed), at least 3, at most half the items."""
    r = 1.5
    n_per_user = 3 + rng.negative_binomial(r, r / (r + max(mean_items - 3, 0.1)), n_users)
    return np.minimum(n_per_user, n_items // 2 if n_items >= 6 else n_items)


def _chunks(
    rng: np.random.Generator,
    tastes: _Tastes,
    catalogue: dict[str, np.ndarray],
    n_per_user: np.ndarray,
    chunk_users: int,
    beta: float,
    exact_items: int,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """The interactions of each chunk of users, with the index one past its last user."""
    n_users = len(n_per_user)
    for lo in range(0, n_users, chunk_users):
        hi = min(lo + chunk_users, n_users)
        counts, cols, p = _choose_items(rng, tastes, slice(lo, hi), n_per_user[lo:hi], beta, exact_items)
        rows = np.repeat(np.arange(lo, hi), counts)
        yield hi, _behaviour(rng, rows, cols, p, counts, lo, catalogue)


def _stream_chunks(
    out_dir: Path, chunks: Iterator[tuple[int, pd.DataFrame]], progress: Callable[[int], None] | None
) -> int:
    """Write the chunks to ``out_dir/interactions.parquet`` one at a time; returns the number of rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    writer = pq.ParquetWriter(out_dir / "interactions.parquet", _INTERACTIONS_SCHEMA)
    try:
        for hi, frame in chunks:
            total += len(frame)
            writer.write_table(pa.Table.from_pandas(frame, schema=_INTERACTIONS_SCHEMA, preserve_index=False))
            if progress is not None:
                progress(hi)
    finally:
        writer.close()
    return total


def _collect_chunks(
    chunks: Iterator[tuple[int, pd.DataFrame]], progress: Callable[[int], None] | None
) -> pd.DataFrame:
    """All chunks as one interaction table (string ids)."""
    frames: list[pd.DataFrame] = []
    for hi, frame in chunks:
        frames.append(frame)
        if progress is not None:
            progress(hi)
    interactions = pd.concat(frames, ignore_index=True)
    interactions["user_id"] = interactions["user_id"].astype("str")
    interactions["item_id"] = interactions["item_id"].astype("str")
    return interactions


def simulate_world(
    n_users: int = 1000,
    n_items: int = 2000,
    *,
    mean_items: float = 40,
    n_factors: int = 8,
    dance_share: float = 0.3,
    zipf: float = 0.9,
    beta: float = 1.5,
    seed: int = 42,
    out: str | Path | None = None,
    chunk_users: int = 500,
    exact_items: int = 5000,
    progress=None,
) -> SimulatedWorld:
    """Simulate a world; in memory (``out=None``) or streamed to ``out/{interactions,users,items}.parquet``.

    ``progress(n_done)`` is called after each chunk of users (for a progress bar). Catalogues larger than
    ``exact_items`` use popularity-proposal resampling instead of exact Gumbel top-k over every item.
    """
    if n_users < 1 or n_items < 2:
        raise UserError("simulate needs at least 1 user and 2 items")
    if not 1 <= mean_items <= n_items:
        raise UserError(f"mean_items must be between 1 and the number of items ({n_items})")
    rng = np.random.default_rng(seed)
    items = _items(n_items, dance_share, rng)
    users = _users(n_users, rng)
    tastes = _tastes(items, users, n_factors, zipf, rng)
    n_per_user = _items_per_user(n_users, n_items, mean_items, rng)
    chunks = _chunks(rng, tastes, _catalogue(items, users), n_per_user, chunk_users, beta, exact_items)
    if out is not None:
        out_dir = Path(out)
        total = _stream_chunks(out_dir, chunks, progress)
        pq.write_table(
            pa.Table.from_pandas(users.reset_index(), preserve_index=False), out_dir / "users.parquet"
        )
        pq.write_table(
            pa.Table.from_pandas(items.reset_index(), preserve_index=False), out_dir / "items.parquet"
        )
        return SimulatedWorld(None, out_dir, tastes.user_factors, tastes.item_factors, total)
    interactions = _collect_chunks(chunks, progress)
    log = InteractionLog(interactions, users, items, source="simulated")
    return SimulatedWorld(log, None, tastes.user_factors, tastes.item_factors, len(interactions))
