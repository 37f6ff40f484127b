"""Shared loaders for the ordinal tests: psych's bfi, reverse-keyed as in tests/fixtures/R/ordinal/wlsmv_bfi.R."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures" / "R"
ORDINAL = FIXTURES / "ordinal"
ITEMS = [f"{f}{i}" for f in "ACENO" for i in range(1, 6)]
REVERSED = ["A1", "C4", "C5", "E1", "E2", "O2", "O5"]  # psych::bfi.keys
FIVE_FACTORS = "\n".join(f"{f} =~ " + " + ".join(f"{f}{i}" for i in range(1, 6)) for f in "ACENO")


def bfi_items(complete: bool = False) -> pd.DataFrame:
    """The 25 bfi items with the reverse-keyed ones recoded 7 - x (answers 1..6)."""
    bfi = pd.read_csv(FIXTURES / "data" / "bfi.csv", index_col=0)
    x = bfi[ITEMS].copy()
    for v in REVERSED:
        x[v] = 7 - x[v]
    return x.dropna() if complete else x


def r_values(name: str) -> pd.Series:
    """A name,value CSV written by the R script."""
    return pd.read_csv(ORDINAL / name).set_index("name")["value"]
