"""Where the item scores come from: a study's stored responses (via the survey subsystem) or a data file
(CSV, XLSX, SAV, Parquet) with an instrument or a lavaan-style measurement model file.

Every source yields reverse-recoded item scores, the measurement structure and, when there is one, the
group of each respondent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dancerec.indices.syntax import ModelSpec, read_model_file

from dancerec.errors import InputError, UserError

__all__ = [
    "ItemSource",
    "dimension_scores",
    "from_data_file",
    "from_study",
    "read_measurement_model",
    "read_table",
]

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".sav", ".zsav", ".parquet")


@dataclass
class ItemSource:
    """Reverse-recoded item scores (index respondent_id), the structure, and the groups."""

    items: pd.DataFrame
    structure: dict[str, list[str]]
    group: pd.Series | None
    description: str
    scale_min: float | None = None
    scale_max: float | None = None
    instrument: Any | None = None
    model: ModelSpec | None = None
    scores: pd.DataFrame | None = None

    def dimension_scores(self, min_share: float = 2 / 3) -> pd.DataFrame:
        """Per-dimension mean scores (the survey subsystem's scoring when an instrument is known)."""
        if self.scores is not None:
            return self.scores[list(self.structure)]
        return dimension_scores(self.items, self.structure, min_share=min_share)


def dimension_scores(
    items: pd.DataFrame, structure: Mapping[str, Sequence[str]], *, min_share: float = 2 / 3
) -> pd.DataFrame:
    """Mean of each dimension's items, prorated: NaN when fewer than ``min_share`` of them are answered."""
    out = {}
    for dim, its in structure.items():
        block = items[list(its)].apply(pd.to_numeric, errors="coerce")
        answered = block.notna().sum(axis=1)
        mean = block.mean(axis=1)
        out[dim] = mean.where(answered / len(its) >= min_share - 1e-9)
    return pd.DataFrame(out, index=items.index)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a respondent x column table; a ``respondent_id`` column becomes the index."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file not found")
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            frame = pd.read_csv(p, sep=None, engine="python", encoding="utf-8-sig")
        elif suffix in (".xlsx", ".xls"):
            frame = pd.read_excel(p)
        elif suffix in (".sav", ".zsav"):
            import pyreadstat

            frame, _ = pyreadstat.read_sav(str(p))
        elif suffix == ".parquet":
            frame = pd.read_parquet(p)
        else:
            raise InputError(p, f"unsupported file type {suffix!r}", expected=", ".join(TABLE_SUFFIXES))
    except InputError:
        raise
    except UnicodeDecodeError:
        raise InputError(p, "the file is not UTF-8 text", expected="a UTF-8 CSV") from None
    except Exception as exc:  # a parser's own error: report it against the file
        raise InputError(p, f"cannot read the table ({type(exc).__name__}: {exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if "respondent_id" in frame.columns:
        frame = frame.set_index("respondent_id")
    frame.index.name = "respondent_id"
    return frame


def read_measurement_model(path: str | Path) -> ModelSpec:
    """A lavaan-style model file that must have a measurement part (``factor =~ items``)."""
    spec = read_model_file(path)
    if not spec.measurement:
        raise UserError(f"{path}: the model has no measurement part (factor =~ items)")
    return spec


def _item_columns(frame: pd.DataFrame, structure: Mapping[str, Sequence[str]], path: Path) -> pd.DataFrame:
    """The structure's item columns of ``frame`` as numbers; a missing column or a non-numeric answer
    raises InputError (file, row, column)."""
    items = list(dict.fromkeys(i for its in structure.values() for i in its))  # a cross-loading item once
    missing = [i for i in items if i not in frame.columns]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputError(
            path, f"{len(missing)} item column(s) missing: {shown}", expected="one column per item id"
        )
    for item in items:
        col = frame[item]
        if pd.api.types.is_numeric_dtype(col):
            continue
        conv = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & conv.isna() & col.astype("string").str.strip().ne("")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # header is row 1
            raise InputError(
                path, f"non-numeric answer {col[bad].iloc[0]!r}", row=row, column=item, expected="a number"
            )
    return frame[items].apply(pd.to_numeric, errors="coerce")


def _group_series(frame: pd.DataFrame, group_column: str | None) -> pd.Series | None:
    if group_column and group_column in frame.columns:
        return frame[group_column].astype("string")
    return None


def from_data_file(
    path: str | Path,
    *,
    instrument: Any | None = None,
    model: str | Path | None = None,
    group_column: str | None = "group",
    recoded: bool = False,
) -> ItemSource:
    """Items from a data file. With ``instrument`` (name, path or object) its reverse-keyed items are
    recoded (unless ``recoded``) and its dimensions give the structure; with ``model`` (a ``.lav``
    file) the data must already be reverse-recoded and the ``=~`` lines give the structure."""
    p = Path(path)
    frame = read_table(p)
    if model is not None:
        spec = read_measurement_model(model)
        return ItemSource(
            items=_item_columns(frame, spec.measurement, p),
            structure=spec.measurement,
            group=_group_series(frame, group_column),
            description=f"{p.name} with model {Path(model).name}",
            model=spec,
        )
    if instrument is None:
        raise UserError("give --instrument (name or file) or --model (lavaan measurement model) with --data")
    from dancerec.survey.instrument import load_instrument
    from dancerec.survey.scoring import recode_reverse

    inst = load_instrument(instrument)
    structure = inst.dimension_items(include_attention=False)
    data = _item_columns(frame, structure, p)
    out_of_scale = (data < inst.scale_min) | (data > inst.scale_max)
    if out_of_scale.any().any():
        col = out_of_scale.any()[out_of_scale.any()].index[0]
        row = int(np.flatnonzero(out_of_scale[col].to_numpy())[0]) + 2
        raise InputError(
            p,
            f"answer {data[col].iloc[row - 2]!r} outside the scale",
            row=row,
            column=col,
            expected=f"{inst.scale_min}..{inst.scale_max}",
        )
    if not recoded:
        data = recode_reverse(data, inst)
    return ItemSource(
        items=data,
        structure=structure,
        group=_group_series(frame, group_column),
        description=f"{p.name} with instrument {inst.name}",
        scale_min=inst.scale_min,
        scale_max=inst.scale_max,
        instrument=inst,
    )


def from_study(study: Any, *, exclude_flagged: Sequence[str] | str = ()) -> ItemSource:
    """The study's stored responses through the survey subsystem's one loader (instrument resolved
    relative to the study folder, reverse-keyed, exclusions applied, scored)."""
    from dancerec.survey.loader import NoSurveyData, load_survey

    try:
        survey = load_survey(study, exclude_flagged=exclude_flagged)
    except NoSurveyData:
        raise UserError(
            f"the study {study.config.name!r} has no stored responses; import some with "
            "`dancerec survey import` or analyse a file with --data"
        ) from None
    inst = survey.instrument
    return ItemSource(
        items=survey.items,
        structure=survey.structure,
        group=survey.group,
        description=f"study {study.config.name!r}: {survey.n_statement()}",
        scale_min=inst.scale_min,
        scale_max=inst.scale_max,
        instrument=inst,
        scores=survey.scores,
    )


def load_source(
    study: Any | None,
    *,
    data: str | Path | None = None,
    instrument: str | None = None,
    model: str | Path | None = None,
    exclude_flagged: Sequence[str] = (),
    group_column: str | None = None,
    recoded: bool = False,
) -> ItemSource:
    """The items to analyse: a data file (``data``) or else the study's stored responses.

    A data file is described by ``instrument`` (reverse-keyed items recoded unless ``recoded``) or by a
    measurement ``model`` (items used as they are), defaulting to the study's instrument when a study is
    open. ``exclude_flagged`` and the study's own responses go together: a data file carries no flags. With
    the study's responses, ``model`` replaces the instrument's measurement structure (its items must be the
    instrument's).
    """
    from dancerec.workspace import DEFAULT_INSTRUMENT

    if data is not None:
        if exclude_flagged:
            raise UserError(
                "--exclude-flagged applies to the study's stored responses; --data files carry no flags"
            )
        inst = instrument
        if inst is None and model is None:
            inst = study.config.instrument if study is not None else DEFAULT_INSTRUMENT
        gcol = group_column or (study.config.group_column if study is not None else "group")
        return from_data_file(data, instrument=inst, model=model, group_column=gcol, recoded=recoded)
    if instrument is not None:
        raise UserError(
            "--instrument applies to --data files; the study's responses use the study's instrument"
        )
    if study is None:
        raise UserError("no study to read responses from: give --study or analyse a file with --data")
    src = from_study(study, exclude_flagged=tuple(exclude_flagged))
    if model is not None:
        spec = read_measurement_model(model)
        missing = [i for its in spec.measurement.values() for i in its if i not in src.items.columns]
        if missing:
            raise UserError(f"{model}: item(s) not in the study's instrument: {', '.join(missing)}")
        src.structure = spec.measurement
        src.model = spec
        src.scores = None
    return src
