"""Turn :class:`~dancerec.reports.data.ReportData` into the report's numbered sections.

Each section lives in its own module under :mod:`dancerec.reports.sections` (a function ``(Builder) ->
None`` that adds nothing when its data are missing); this module runs them in report order. The shared
pieces (tables, headings, the builder that numbers tables and figures) are in ``sections/base.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dancerec.reports.data import ReportData
from dancerec.reports.sections.base import Builder, DisplayTable, Heading, Section, frame_table
from dancerec.reports.sections.groups import _groups
from dancerec.reports.sections.linkage import _linkage
from dancerec.reports.sections.linkage_figures import _user_scatter
from dancerec.reports.sections.methods import _methods
from dancerec.reports.sections.offline import _offline
from dancerec.reports.sections.overview import _items, _overview
from dancerec.reports.sections.psychometrics import _factors, _reliability
from dancerec.reports.sections.structural import _sem

__all__ = ["SECTIONS", "Builder", "DisplayTable", "Heading", "Section", "build_sections", "frame_table"]

#: (progress label, section function) in report order.
SECTIONS: list[tuple[str, Callable[[Builder], None]]] = [
    ("overview", _overview),
    ("items", _items),
    ("reliability", _reliability),
    ("factor structure", _factors),
    ("structural model", _sem),
    ("group comparisons", _groups),
    ("offline results", _offline),
    ("linkage", _linkage),
    ("linkage scatter", _user_scatter),
    ("methods appendix", _methods),
]


def build_sections(
    data: ReportData,
    figures_dir: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Builder:
    """All sections that have data, in report order, with tables and figures numbered.

    ``progress`` is called with each section's label before it is built.
    """
    b = Builder(data, figures_dir)
    for label, part in SECTIONS:
        if progress is not None:
            progress(label)
        part(b)
    return b
