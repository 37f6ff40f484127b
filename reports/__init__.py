"""Study reports: HTML/PDF from one template, figures, path diagrams and table exports.

Public API (imported lazily, so ``import dancerec.reports.apa`` stays light)::

    from dancerec.reports import collect_report_data, write_reports
    data = collect_report_data(study)                 # stored results reused, missing ones computed
    write_reports(data, [Path("report.html"), Path("report.pdf")], tables_dir=Path("tables"))
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "collect_report_data": "dancerec.reports.collect",
    "ReportData": "dancerec.reports.data",
    "build_sections": "dancerec.reports.build",
    "write_report": "dancerec.reports.render",
    "write_reports": "dancerec.reports.render",
    "export_tables": "dancerec.reports.export",
    "path_graph": "dancerec.reports.diagrams",
    "measurement_graph": "dancerec.reports.diagrams",
    "layout_problems": "dancerec.reports.pdf_layout",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dancerec.reports' has no attribute {name!r}")
