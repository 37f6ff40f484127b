"""Multiple-testing correction per family of linkage tests (raw ``p`` beside adjusted ``p_adj``).

A *family* is the set of tests one claim rests on; the correction keeps the chance of any false
positive in the family at α (Holm, default) or the expected share of false discoveries at α
(Benjamini–Hochberg). The two step-wise formulas are written out here (a few lines each, checked
against statsmodels' ``multipletests`` in the tests) because ``multipletests`` runs ``gc.collect()``
on every call — about 0.3 s in a process holding a study, times seven families per linkage, times
a thousand simulated studies in the calibration and the planner.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dancerec.errors import UserError

#: ``--adjust`` value → (statsmodels method, words for table notes and the methods text)
ADJUST_METHODS: dict[str, tuple[str | None, str]] = {
    "holm": ("holm", "Holm's step-down adjustment (family-wise error rate)"),
    "bh": ("fdr_bh", "Benjamini–Hochberg adjustment (false discovery rate)"),
    "none": (None, "no adjustment (unadjusted p; nothing is called significant on it)"),
}


def holm(p: np.ndarray) -> np.ndarray:
    """Holm (1979): sorted p times (m - rank), running maximum, capped at 1 (= statsmodels "holm")."""
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini & Hochberg (1995): sorted p times m / rank, running minimum from the top, capped at 1."""
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out = np.empty(m)
    out[order] = adj
    return out


_ADJUSTERS = {"holm": holm, "fdr_bh": benjamini_hochberg}
DEFAULT_ALPHA = 0.05


def check_adjust(adjust: str) -> str:
    """``adjust`` if it is a known method, else a UserError naming the choices."""
    if adjust not in ADJUST_METHODS:
        raise UserError(f"--adjust must be one of {', '.join(ADJUST_METHODS)}, not {adjust!r}")
    return adjust


def adjust_p(p: Sequence[float] | np.ndarray, adjust: str = "holm") -> np.ndarray:
    """Adjusted p-values over one family; NaN p (test not computable) stays NaN and is not counted."""
    method = ADJUST_METHODS[check_adjust(adjust)][0]
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = p[ok] if method is None else _ADJUSTERS[method](p[ok])
    return out


def add_adjusted(
    frame: pd.DataFrame,
    family: str,
    *,
    adjust: str = "holm",
    by: Sequence[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> pd.DataFrame:
    """A copy of ``frame`` (which has a ``p`` column) with ``p_adj``, ``family``, ``adjust`` and
    ``significant`` (adjusted p < α; always False when ``adjust="none"``).

    ``by``: columns splitting the frame into several families (e.g. one per regression term); each
    family's name is ``family`` followed by its key. Without ``by`` the whole frame is one family.
    """
    out = frame.copy()
    out["p_adj"] = np.nan
    out["family"] = family
    if len(out):
        if by:
            for key, part in out.groupby(list(by), sort=False):
                idx = part.index
                out.loc[idx, "p_adj"] = adjust_p(out.loc[idx, "p"], adjust)
                out.loc[idx, "family"] = f"{family}: " + ", ".join(str(k) for k in key)
        else:
            out["p_adj"] = adjust_p(out["p"], adjust)
    out["adjust"] = adjust
    out["significant"] = (out["p_adj"] < alpha) & (adjust != "none")
    return out


def family_note(frame: pd.DataFrame, alpha: float = DEFAULT_ALPHA) -> str:
    """One sentence for a table note: which correction, over how many tests, in which families."""
    if frame is None or frame.empty or "adjust" not in frame:
        return ""
    adjust = str(frame["adjust"].iloc[0])
    families = frame.loc[frame["p"].notna(), "family"]
    sizes = families.value_counts(sort=False)
    words = ADJUST_METHODS[adjust][1]
    if len(sizes) == 1:
        where = f"over the {int(sizes.iloc[0])} tests of the family “{sizes.index[0]}”"
    else:
        where = f"within each of {len(sizes)} families ({', '.join(f'{f}: {n}' for f, n in sizes.items())})"
    tail = f"“significant” means adjusted p < {alpha:g}" if adjust != "none" else "nothing is starred"
    return f"p adjusted by {words} {where}; {tail}."
