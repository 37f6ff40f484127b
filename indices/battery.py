"""The whole indices battery in one call (what the demo, the report and the benchmark run).

Order: item analysis, factorability, EFA (optional), CFA, reliability and discriminant validity (from
that CFA), the structural model (default or given), group comparisons and measurement invariance
(when groups are given). Each analysis is the library function of its module; this only wires them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from dancerec.indices._threads import single_blas_thread
from dancerec.indices.cfa import CFAResult, fit_cfa
from dancerec.indices.efa import EFAResult, fit_efa
from dancerec.indices.factorability import Factorability, factorability
from dancerec.indices.groups import GroupComparison, compare_groups
from dancerec.indices.invariance import InvarianceResult, measurement_invariance
from dancerec.indices.items import item_analysis
from dancerec.indices.reliability import ReliabilityResult, reliability
from dancerec.indices.sem import SEMResult, default_sem_syntax, fit_sem
from dancerec.indices.sources import dimension_scores
from dancerec.indices.validity import cross_loadings

from dancerec.errors import UserError

__all__ = ["IndicesReport", "run_battery"]


@dataclass
class IndicesReport:
    """Every result of the battery; ``None`` for analyses that were not run."""

    n: int
    structure: dict[str, list[str]]
    items: pd.DataFrame
    factorability: Factorability
    cfa: CFAResult
    reliability: ReliabilityResult
    cross_loadings: pd.DataFrame
    sem: SEMResult | None = None
    efa: EFAResult | None = None
    groups: GroupComparison | None = None
    invariance: InvarianceResult | None = None
    notes: list[str] = field(default_factory=list)


@single_blas_thread
def run_battery(
    items: pd.DataFrame,
    structure: Mapping[str, Sequence[str]],
    *,
    group: pd.Series | None = None,
    scores: pd.DataFrame | None = None,
    structural: str | None = None,
    sem: bool = True,
    ci: str = "bootstrap",
    n_boot: int = 1000,
    seed: int = 0,
    efa: bool = True,
    invariance: bool = True,
    scale_min: float | None = None,
    scale_max: float | None = None,
) -> IndicesReport:
    """Run every analysis on reverse-recoded ``items`` with the measurement ``structure``.

    ``structural``: lavaan syntax of the structural part (default: the shipped model, used when the
    structure has its dimensions). ``scores``: dimension scores for the group comparisons (default:
    prorated item means). ``ci="none"`` skips the resampling of indirect effects.
    """
    structure = {str(k): [str(i) for i in v] for k, v in structure.items()}
    cols = [i for its in structure.values() for i in its]
    notes: list[str] = []
    item_table = item_analysis(items, structure, scale_min=scale_min, scale_max=scale_max)
    fac = factorability(items, cols)
    efa_res = fit_efa(items, cols, n_factors=len(structure), structure=structure, seed=seed) if efa else None
    cfa_res = fit_cfa(items, structure)
    notes += [f"CFA: {p}" for p in cfa_res.problems]
    rel = reliability(items, structure, cfa=cfa_res)
    cross = cross_loadings(items, structure)
    sem_res = None
    if sem:
        try:
            syntax = default_sem_syntax(structure, structural)
        except UserError as exc:
            notes.append(f"SEM not run: {exc}")
        else:
            sem_res = fit_sem(items, syntax, ci=ci, n_boot=n_boot, seed=seed)
            notes += [f"SEM: {p}" for p in sem_res.problems]
    groups_res = inv_res = None
    if group is not None:
        g = pd.Series(group).reindex(items.index)
        if g.dropna().nunique() >= 2:
            sc = scores if scores is not None else dimension_scores(items, structure)
            groups_res = compare_groups(sc[list(structure)], g)
            notes += groups_res.notes
            if invariance:
                try:
                    inv_res = measurement_invariance(items, structure, g)
                    notes += [f"invariance: {n}" for n in inv_res.notes]
                except UserError as exc:
                    notes.append(f"measurement invariance not run: {exc}")
        else:
            notes.append("only one group: no group comparisons")
    return IndicesReport(
        n=cfa_res.n,
        structure=structure,
        items=item_table,
        factorability=fac,
        cfa=cfa_res,
        reliability=rel,
        cross_loadings=cross,
        sem=sem_res,
        efa=efa_res,
        groups=groups_res,
        invariance=inv_res,
        notes=notes,
    )
