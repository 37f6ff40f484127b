"""The planted truth of a simulated survey: what :mod:`.simulate` drew, as tables, JSON and lavaan syntax.

Saved as ``FILE.truth.json`` beside a simulated file (:func:`truth_path`), so an analysis of the file
can be checked against what was planted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class PlantedTruth:
    """Everything the simulator planted, to check what an analysis recovers."""

    instrument: str
    seed: int
    n: int
    groups: list[str]
    group_quality: dict[str, float]
    quality_paths: dict[str, float]
    careless_rate: float
    missing_rate: float
    latent_shift_mode: str
    loadings: pd.DataFrame  # item, dimension, loading (standardised; negative = reverse-worded), reverse
    thresholds: pd.DataFrame  # index item, columns t1..t(K-1) on the y* scale
    structural_paths: pd.DataFrame  # lhs, op ("~"), rhs, estimate
    exogenous_correlations: pd.DataFrame  # lhs, op ("~~"), rhs, estimate
    residual_variances: pd.Series  # per dimension (1 for exogenous ones)
    factor_correlations: pd.DataFrame  # implied latent correlation matrix (within a group)
    group_latent_means: pd.DataFrame  # index group, one column per dimension
    latent_scores: pd.DataFrame  # index respondent_id, one column per dimension
    careless: pd.Series  # index respondent_id: "" | "straightliner" | "random"

    def lavaan_syntax(self) -> str:
        """The planted model in lavaan syntax (measurement, regressions, exogenous covariances)."""
        lines = []
        for dim, block in self.loadings.groupby("dimension", sort=False):
            lines.append(f"{dim} =~ {' + '.join(block['item'])}")
        for lhs, block in self.structural_paths.groupby("lhs", sort=False):
            lines.append(f"{lhs} ~ {' + '.join(block['rhs'])}")
        for row in self.exogenous_correlations.itertuples():
            lines.append(f"{row.lhs} ~~ {row.rhs}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def frame(df: pd.DataFrame, index: bool = False) -> Any:
            out = df.reset_index() if index else df
            return json.loads(out.to_json(orient="records", date_format="iso"))

        return {
            "instrument": self.instrument,
            "seed": self.seed,
            "n": self.n,
            "groups": self.groups,
            "group_quality": self.group_quality,
            "quality_paths": self.quality_paths,
            "careless_rate": self.careless_rate,
            "missing_rate": self.missing_rate,
            "latent_shift_mode": self.latent_shift_mode,
            "lavaan_syntax": self.lavaan_syntax(),
            "loadings": frame(self.loadings),
            "thresholds": frame(self.thresholds, index=True),
            "structural_paths": frame(self.structural_paths),
            "exogenous_correlations": frame(self.exogenous_correlations),
            "residual_variances": {k: float(v) for k, v in self.residual_variances.items()},
            "factor_correlations": frame(self.factor_correlations, index=True),
            "group_latent_means": frame(self.group_latent_means, index=True),
            "latent_scores": frame(self.latent_scores, index=True),
            "careless": {str(k): v for k, v in self.careless.items()},
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> PlantedTruth:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        thresholds = pd.DataFrame(raw["thresholds"]).set_index("item")
        fc = pd.DataFrame(raw["factor_correlations"]).set_index("index")
        fc.index.name = None
        means = pd.DataFrame(raw["group_latent_means"]).set_index("group")
        latent = pd.DataFrame(raw["latent_scores"]).set_index("respondent_id")
        return cls(
            instrument=raw["instrument"],
            seed=raw["seed"],
            n=raw["n"],
            groups=raw["groups"],
            group_quality=raw["group_quality"],
            quality_paths=raw["quality_paths"],
            careless_rate=raw["careless_rate"],
            missing_rate=raw["missing_rate"],
            latent_shift_mode=raw["latent_shift_mode"],
            loadings=pd.DataFrame(raw["loadings"]),
            thresholds=thresholds,
            structural_paths=pd.DataFrame(raw["structural_paths"]),
            exogenous_correlations=pd.DataFrame(raw["exogenous_correlations"]),
            residual_variances=pd.Series(raw["residual_variances"], dtype=float),
            factor_correlations=fc,
            group_latent_means=means,
            latent_scores=latent,
            careless=pd.Series(raw["careless"], dtype="string").rename_axis("respondent_id"),
        )


def truth_path(data_path: str | Path) -> Path:
    """Where the planted truth of a simulated file is saved: ``FILE.truth.json`` beside it."""
    p = Path(data_path)
    return p.with_name(p.name + ".truth.json")
