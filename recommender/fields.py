"""Map any dataset's user and item features onto embedding *fields* for the relation model.

A field is one token of the attention encoders (AutoInt treats every feature field as a token):

- ``categorical``: one embedding row per value seen in training; index 0 = missing/unknown.
- ``bucket``: a numeric column cut at training quantiles, one embedding per bucket (0 = missing).
- ``linear``: a numeric column standardised and multiplied by one learned vector (AutoInt's
  numeric embedding); missing values become 0 (the mean).
- ``tags``: a multi-valued column (lists, or strings split on ``|``/``;``/``,``) pooled as the mean
  of its tag embeddings; a row without tags uses the field's index 0.
- ``id``: the internal user/item index as a categorical field (optional; index 0 = unseen, which
  is what cold-start users and items get).

Derived fields computed from the training matrix (``user:activity``, ``item:popularity``, the log
of the count of training interactions, bucketised) are optional too. Everything a :class:`FieldSchema`
learns in ``fit`` is plain data (``to_state``/``from_state``), so it can be saved in a checkpoint that
``torch.load(weights_only=True)`` reads back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from dancerec.errors import UserError

FieldKind = Literal["categorical", "bucket", "linear", "tags", "id"]
Side = Literal["user", "item"]
KINDS = ("categorical", "bucket", "linear", "tags", "id")
TAG_SEPARATORS = ("|", ";")
ACTIVITY = "activity"
POPULARITY = "popularity"


@dataclass
class Field:
    """One fitted field: its kind and the vocabulary or cut points learned from training data."""

    name: str
    side: Side
    kind: FieldKind
    column: str | None = None
    vocab: list[str] = field(default_factory=list)
    edges: list[float] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0
    max_len: int = 0
    size: int = 0  # id fields: number of ids

    @property
    def cardinality(self) -> int:
        """Rows this field needs in the embedding table (0 for ``linear``)."""
        if self.kind in ("categorical", "tags"):
            return len(self.vocab) + 1
        if self.kind == "bucket":
            return len(self.edges) + 2
        if self.kind == "id":
            return self.size + 1
        return 0

    @property
    def group(self) -> str:
        """How the model consumes it: ``cat`` (one index), ``lin`` (one value), ``tags`` (a list)."""
        return {"categorical": "cat", "bucket": "cat", "id": "cat", "linear": "lin", "tags": "tags"}[
            self.kind
        ]


@dataclass
class EncodedFields:
    """Encoded rows of one side: ``cat`` (n, n_cat) int64 field-local indices, ``lin`` (n, n_lin)
    float32, ``tags`` (n, n_tag, L) int64 field-local indices padded with 0."""

    cat: torch.Tensor
    lin: torch.Tensor
    tags: torch.Tensor

    def __len__(self) -> int:
        return self.cat.shape[0]

    def take(self, index: torch.Tensor) -> EncodedFields:
        """Rows at ``index`` (any shape): the result's leading dims are ``index.shape``."""
        return EncodedFields(self.cat[index], self.lin[index], self.tags[index])

    def to_state(self) -> dict[str, torch.Tensor]:
        return {"cat": self.cat, "lin": self.lin, "tags": self.tags}

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor]) -> EncodedFields:
        return cls(state["cat"], state["lin"], state["tags"])


def _is_listlike(value: object) -> bool:
    return isinstance(value, list | tuple | set | np.ndarray)


def _split_tags(value: object) -> list[str]:
    """Tags of one cell: a list-like, or a string split on the first separator it contains."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    if _is_listlike(value):
        return [str(v) for v in value if v is not None and str(v) != ""]
    text = str(value)
    for sep in (*TAG_SEPARATORS, ","):
        if sep in text:
            return [t.strip() for t in text.split(sep) if t.strip()]
    return [text.strip()] if text.strip() else []


def infer_kind(series: pd.Series, *, numeric: str = "bucket", max_categories: int = 50) -> str | None:
    """Guess a column's field kind; ``None`` means skip (identifier-like text, all missing).

    Numbers become ``bucket`` (or ``linear``) unless they are small integer codes (≤ ``max_categories``
    distinct values, then ``categorical``); list cells or strings containing ``|``/``;`` become ``tags``;
    other text is ``categorical`` unless nearly every row has its own value (names, URLs).
    """
    s = series.dropna()
    if s.empty:
        return None
    if not any(_is_listlike(v) for v in s.iloc[: min(len(s), 200)]) and s.astype(str).nunique() <= 1:
        return None  # a constant carries no information
    if pd.api.types.is_bool_dtype(s):
        return "categorical"
    if pd.api.types.is_numeric_dtype(s):
        values = s.to_numpy(dtype=float)
        if np.all(values == np.round(values)) and len(np.unique(values)) <= min(max_categories, 20):
            return "categorical"
        return numeric
    sample = s.iloc[: min(len(s), 200)]
    if any(_is_listlike(v) for v in sample):
        return "tags"
    text = sample.astype(str)
    if any(text.str.contains(sep, regex=False).mean() > 0.05 for sep in TAG_SEPARATORS):
        return "tags"
    n_unique = s.astype(str).nunique()
    if len(s) > 50 and n_unique > 0.5 * len(s):
        return None
    return "categorical"


@dataclass
class FieldOptions:
    """How to turn columns into fields (the constructor parameters of the relation model use these)."""

    use_ids: bool = True
    derived: bool = True
    numeric: str = "bucket"  # "bucket" or "linear"
    n_buckets: int = 10
    max_tags: int = 10
    min_tag_count: int = 2
    kinds: dict[str, str] = field(default_factory=dict)  # column -> kind or "skip"


class FieldSchema:
    """The fitted user and item fields; encodes feature tables into tensors for the model."""

    def __init__(self, fields: list[Field]) -> None:
        self.fields = fields

    # ----- construction -------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        matrix: sp.csr_matrix,
        user_features: pd.DataFrame | None = None,
        item_features: pd.DataFrame | None = None,
        options: FieldOptions | None = None,
    ) -> FieldSchema:
        """Learn vocabularies and cut points from the training side data and matrix."""
        options = options or FieldOptions()
        if options.numeric not in ("bucket", "linear"):
            raise UserError(f"numeric fields must be 'bucket' or 'linear', not {options.numeric!r}")
        n_users, n_items = matrix.shape
        fields: list[Field] = []
        for side, frame, n in (("user", user_features, n_users), ("item", item_features, n_items)):
            if options.use_ids:
                fields.append(Field(f"{side}:id", side, "id", size=n))
            if options.derived:
                name = ACTIVITY if side == "user" else POPULARITY
                counts = _interaction_counts(matrix, side)
                fields.append(_fit_numeric(f"{side}:{name}", side, None, np.log1p(counts), "bucket", options))
            if frame is not None:
                _check_frame(frame, side, n)
                for column in frame.columns:
                    fitted = _fit_column(frame[column], side, str(column), options)
                    if fitted is not None:
                        fields.append(fitted)
        for side in ("user", "item"):
            if not any(f.side == side for f in fields):
                raise UserError(
                    f"the relation model has no {side} fields: enable ids (use_ids=True), derived "
                    f"counts (derived=True) or give {side} features"
                )
        return cls(fields)

    def side(self, side: Side) -> list[Field]:
        return [f for f in self.fields if f.side == side]

    def grouped(self, side: Side) -> dict[str, list[Field]]:
        """The fields of one side in token order: categorical-like, linear, tags."""
        fields = self.side(side)
        return {g: [f for f in fields if f.group == g] for g in ("cat", "lin", "tags")}

    def n_tokens(self, side: Side) -> int:
        return len(self.side(side))

    # ----- encoding ---------------------------------------------------------------------------
    def encode(
        self,
        side: Side,
        n: int,
        matrix: sp.csr_matrix,
        features: pd.DataFrame | None,
        *,
        known: np.ndarray | None = None,
    ) -> EncodedFields:
        """Encode ``n`` rows of one side (index 0..n-1) from its feature table and the train matrix.

        ``known`` (bool, length n) marks ids that had training interactions; the others get id 0,
        the embedding that id dropout trains for cold users and items.
        """
        groups = self.grouped(side)
        cat = np.zeros((n, len(groups["cat"])), dtype=np.int64)
        lin = np.zeros((n, len(groups["lin"])), dtype=np.float32)
        max_len = max((f.max_len for f in groups["tags"]), default=0)
        tags = np.zeros((n, len(groups["tags"]), max(max_len, 1)), dtype=np.int64)
        if features is not None:
            _check_frame(features, side, n)
        counts = _interaction_counts(matrix, side) if any(f.column is None for f in groups["cat"]) else None
        for j, f in enumerate(groups["cat"]):
            if f.kind == "id":
                ids = np.arange(1, n + 1, dtype=np.int64)
                ids[ids > f.size] = 0
                if known is not None:
                    ids[~known] = 0
                cat[:, j] = ids
            elif f.column is None:
                cat[:, j] = _bucketise(np.log1p(counts), f.edges)
            else:
                col = _column(features, f)
                if f.kind == "bucket":
                    cat[:, j] = _bucketise(pd.to_numeric(col, errors="coerce").to_numpy(float), f.edges)
                else:
                    lookup = {v: i + 1 for i, v in enumerate(f.vocab)}
                    cat[:, j] = [lookup.get(_cat_key(v), 0) for v in col]
        for j, f in enumerate(groups["lin"]):
            values = pd.to_numeric(_column(features, f), errors="coerce").to_numpy(float)
            z = (values - f.mean) / f.std
            lin[:, j] = np.where(np.isnan(z), 0.0, z)
        for j, f in enumerate(groups["tags"]):
            lookup = {v: i + 1 for i, v in enumerate(f.vocab)}
            for row, value in enumerate(_column(features, f)):
                ids = [lookup[t] for t in _split_tags(value) if t in lookup][: f.max_len]
                tags[row, j, : len(ids)] = ids
        return EncodedFields(torch.from_numpy(cat), torch.from_numpy(lin), torch.from_numpy(tags))

    # ----- serialisation -------------------------------------------------------------------
    def to_state(self) -> list[dict]:
        """Plain lists/dicts/str/float only: safe for ``torch.load(weights_only=True)`` and JSON."""
        return [asdict(f) for f in self.fields]

    @classmethod
    def from_state(cls, state: Iterable[Mapping]) -> FieldSchema:
        return cls([Field(**dict(s)) for s in state])

    def describe(self) -> pd.DataFrame:
        """One row per field: name, side, kind, source column, embedding rows."""
        return pd.DataFrame(
            [
                {
                    "field": f.name,
                    "side": f.side,
                    "kind": f.kind,
                    "column": f.column or "",
                    "cardinality": f.cardinality,
                }
                for f in self.fields
            ]
        )


# ----- helpers -------------------------------------------------------------------------------


def _interaction_counts(matrix: sp.csr_matrix, side: str) -> np.ndarray:
    m = sp.csr_matrix(matrix)
    return np.diff(m.indptr).astype(float) if side == "user" else np.bincount(m.indices, minlength=m.shape[1])


def _check_frame(frame: pd.DataFrame, side: str, n: int) -> None:
    if len(frame) != n:
        raise UserError(f"{side} features have {len(frame)} rows but the data has {n} {side}s")


def _column(features: pd.DataFrame | None, f: Field) -> pd.Series:
    if features is None or f.column not in features.columns:
        raise UserError(f"{f.side} features lack column {f.column!r} that field {f.name!r} was fitted on")
    return features[f.column]


def _cat_key(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "\x00missing"
    if isinstance(value, float) and value == int(value):
        value = int(value)
    return str(value)


def _bucketise(values: np.ndarray, edges: list[float]) -> np.ndarray:
    out = np.searchsorted(np.asarray(edges, dtype=float), values, side="right") + 1
    return np.where(np.isnan(values), 0, out).astype(np.int64)


def _fit_numeric(
    name: str, side: Side, column: str | None, values: np.ndarray, kind: str, options: FieldOptions
) -> Field:
    finite = values[np.isfinite(values)]
    if kind == "linear":
        mean = float(finite.mean()) if finite.size else 0.0
        std = float(finite.std()) if finite.size and finite.std() > 0 else 1.0
        return Field(name, side, "linear", column=column, mean=mean, std=std)
    qs = np.linspace(0, 1, options.n_buckets + 1)[1:-1]
    edges = np.unique(np.quantile(finite, qs)).tolist() if finite.size else []
    return Field(name, side, "bucket", column=column, edges=[float(e) for e in edges])


def _fit_column(series: pd.Series, side: Side, column: str, options: FieldOptions) -> Field | None:
    kind = options.kinds.get(column) or infer_kind(series, numeric=options.numeric)
    if kind is None or kind == "skip":
        return None
    if kind not in KINDS or kind == "id":
        raise UserError(
            f"field kind for column {column!r} must be one of categorical, bucket, linear, tags, skip"
        )
    name = f"{side}:{column}"
    if kind in ("bucket", "linear"):
        values = pd.to_numeric(series, errors="coerce").to_numpy(float)
        if np.isnan(values).all():
            raise UserError(f"{side} feature column {column!r} has no numeric values for a {kind} field")
        return _fit_numeric(name, side, column, values, kind, options)
    if kind == "categorical":
        vocab = sorted({_cat_key(v) for v in series if _cat_key(v) != "\x00missing"})
        return Field(name, side, "categorical", column=column, vocab=vocab)
    lists = [_split_tags(v) for v in series]
    counts = Counter(t for tags in lists for t in set(tags))
    vocab = sorted(t for t, c in counts.items() if c >= options.min_tag_count)
    if not vocab:
        return None
    keep = set(vocab)
    longest = max((len([t for t in tags if t in keep]) for tags in lists), default=0)
    return Field(
        name, side, "tags", column=column, vocab=vocab, max_len=max(1, min(options.max_tags, longest))
    )
