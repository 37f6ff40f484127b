"""`dancerec demo`: the whole pipeline on built-in generated data, one step after another.

Each command group contributes its steps (``DEMO_STEPS`` in ``dancerec.cli.<group>``); the order
runs the recommenders first, so that the simulated user study can be planted on their per-user metrics:
recommender -> survey -> indices -> link -> report.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console

from dancerec.cli import indices, link, recommender, report, survey
from dancerec.cli.common import DemoContext, DemoStep
from dancerec.workspace import STUDY_FILE, Study


def demo_steps() -> list[DemoStep]:
    return [
        *recommender.DEMO_STEPS,
        link.PLAN_STEP,  # respondents linked to the log's users, with the planted metric -> quality link
        *survey.DEMO_STEPS,
        *indices.DEMO_STEPS,
        *link.DEMO_STEPS,
        *report.DEMO_STEPS,
    ]


def run_demo(root: Path | None = None, *, out: Console | None = None) -> DemoContext:
    """Run every demo step in a study at ``root`` (a new temporary folder when None)."""
    out = out or Console(quiet=True)
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="dancerec-demo-")) / "study"
    study = Study.open(root) if (Path(root) / STUDY_FILE).exists() else Study.init(root, name="demo")
    ctx = DemoContext(study=study, out=out)
    ctx.outputs["study"] = study.root
    steps = demo_steps()
    for number, step in enumerate(steps, start=1):
        out.rule(f"[bold]step {number}/{len(steps)}: {step.title}")
        started = time.perf_counter()
        step.run(ctx)
        out.print(f"[dim]{step.title}: {time.perf_counter() - started:.1f} s[/]")
    return ctx
