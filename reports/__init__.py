"""Study reports: HTML/PDF from one template, figures, path diagrams and table exports.

Public API (imported lazily, so ``import dancerec.reports.apa`` stays light)::

    from dancerec.reports import collect_report_data, write_reports
    data = collect_report_data(study)                 # stored results reused, missing ones computed
    write_reports(data, [Path("report.html"), Path("report.pdf")], tables_dir=Path("tables"))
"""

from __future__ import annotations

from dancerec._lazy import lazy_exports

_EXPORTS = {
    "collect_report_data": "collect",
    "ReportData": "data",
    "build_sections": "build",
    "write_report": "render",
    "write_reports": "render",
    "export_tables": "export",
    "path_graph": "diagrams",
    "measurement_graph": "diagrams",
    "layout_problems": "pdf_layout",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
