"""Export a fitted CFA/SEM as an R script that reproduces it with lavaan (``--export-r FILE``).

The script reads the analysed data from a CSV written beside it, states the model in lavaan syntax and
calls ``cfa()``/``sem()`` with the same estimator, missing-data handling and identification, then prints
the fit measures next to the values dancerec reported, so a reviewer can check them in R.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dancerec.errors import UserError

__all__ = ["lavaan_call", "r_script", "write_r_export"]


def lavaan_call(kind: str, estimator: str, missing: str, std_lv: bool) -> str:
    """The lavaan call (``cfa(model, data = data, ...)``) matching dancerec's settings."""
    if kind not in ("cfa", "sem"):
        raise UserError(f"unknown model kind {kind!r} (cfa or sem)")
    args = [
        "model",
        "data = data",
        f'estimator = "{estimator.upper()}"',
        f'missing = "{"ml" if missing == "fiml" else "listwise"}"',
    ]
    if std_lv:
        args.append("std.lv = TRUE")
    return f"{kind}({', '.join(args)})"


def r_script(
    syntax: str,
    data_file: str,
    *,
    kind: str = "cfa",
    estimator: str = "ml",
    missing: str = "listwise",
    std_lv: bool = False,
    reported: dict[str, float] | None = None,
) -> str:
    """The text of an R script fitting ``syntax`` to ``data_file`` (a CSV beside the script) in lavaan."""
    if "'" in syntax:
        raise UserError("the model syntax contains a single quote, which cannot be written to the R script")
    measures = ["npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl", "aic", "bic"]
    if estimator.lower() == "mlr":
        measures += ["chisq.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust"]
    lines = [
        "# Reproduces a dancerec CFA/SEM fit in R with lavaan (written by `dancerec indices ... --export-r`).",
        "# Run: Rscript <this file>   (reads the data file beside it)",
        "suppressPackageStartupMessages(library(lavaan))",
        'args <- grep("^--file=", commandArgs(FALSE), value = TRUE)',
        'here <- if (length(args)) dirname(sub("^--file=", "", args[1])) else getwd()',
        f'data <- read.csv(file.path(here, "{data_file}"))',
        "model <- '",
        syntax,
        "'",
        f"fit <- {lavaan_call(kind, estimator, missing, std_lv)}",
        "summary(fit, fit.measures = TRUE, standardized = TRUE)",
        f"measures <- fitMeasures(fit, c({', '.join(repr(m).replace(chr(39), chr(34)) for m in measures)}))",
    ]
    if reported:
        names = ", ".join(f'"{k}"' for k in reported)
        values = ", ".join(repr(float(v)) for v in reported.values())
        lines += [
            f"dancerec <- setNames(c({values}), c({names}))",
            "print(data.frame(lavaan = measures[names(dancerec)], dancerec = dancerec))",
        ]
    else:
        lines.append("print(measures)")
    return "\n".join(lines) + "\n"


def write_r_export(
    path: str | Path,
    data: pd.DataFrame,
    fitted,
    *,
    kind: str,
) -> tuple[Path, Path]:
    """Write the R script to ``path`` and the analysed columns to ``<path stem>.csv`` beside it.

    ``fitted`` is the ``FittedModel`` (its spec, estimator, missing handling and fit are reproduced).
    Every row of ``data`` is written (lavaan applies its own deletion, as dancerec did).
    """
    script = Path(path)
    csv = script.with_suffix(".csv")
    try:
        data[list(fitted.observed)].to_csv(csv, index=False, na_rep="")
        f = fitted.fit
        reported = {"chisq": f.chi2, "df": f.df, "cfi": f.cfi, "tli": f.tli, "rmsea": f.rmsea, "srmr": f.srmr}
        if f.robust is not None:
            reported["chisq.scaled"] = f.robust.chi2_scaled
        text = r_script(
            fitted.spec.to_lavaan(),
            csv.name,
            kind=kind,
            estimator=fitted.estimator.name,
            missing=fitted.missing,
            std_lv=fitted.spec.std_lv,
            reported=reported,
        )
        script.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{script}: cannot write the R export ({exc.strerror or exc})") from None
    return script, csv
