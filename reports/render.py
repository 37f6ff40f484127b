"""Render a :class:`~dancerec.reports.data.ReportData` to one self-contained HTML file or a PDF.

Both come from the same Jinja2 template (``templates/report.html.j2``) and stylesheet: the HTML inlines the
CSS and the figures (SVG), loads nothing from the network and runs no script; WeasyPrint lays the same
document out on A4 pages with running page numbers, a table of contents with page references and PDF
bookmarks. Jinja2 autoescaping is on, so every piece of user data is escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from dancerec.reports.build import Builder, DisplayTable, Heading, build_sections
from dancerec.reports.data import ReportData
from dancerec.reports.figures import ExportedFigure
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

FORMATS = ("html", "pdf")


@dataclass
class ReportOutput:
    """What was written: the report file, its format, the figure files, the counts."""

    path: Path
    format: str
    figures: list[Path] = field(default_factory=list)
    n_sections: int = 0
    n_tables: int = 0
    n_figures: int = 0
    n_pages: int | None = None


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dancerec.reports", "templates"),
        autoescape=select_autoescape(["html", "j2", "html.j2"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.tests["table"] = lambda b: isinstance(b, DisplayTable)
    env.tests["figure"] = lambda b: isinstance(b, ExportedFigure)
    env.tests["heading"] = lambda b: isinstance(b, Heading)
    env.tests["para"] = lambda b: isinstance(b, tuple) and b and b[0] == "p"
    return env


def _css() -> str:
    return resources.files("dancerec.reports").joinpath("templates/report.css").read_text(encoding="utf-8")


def render_html(
    data: ReportData,
    *,
    figures_dir: Path | None = None,
    for_print: bool = False,
    built: Builder | None = None,
) -> tuple[str, Builder]:
    """The report as one HTML string (and the builder holding the numbered sections and figures).

    ``for_print`` embeds the figures as SVG images (what WeasyPrint lays out fastest) instead of inline
    SVG markup; pass ``built`` to reuse sections and figures already built for another format.
    """
    built = built or build_sections(data, figures_dir)
    template = _environment().get_template("report.html.j2")
    html = template.render(data=data, sections=built.sections, css=Markup(_css()), for_print=for_print)
    return html, built


def _check_format(out: Path, fmt: str | None) -> str:
    from dancerec.errors import UserError

    fmt = (fmt or Path(out).suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise UserError(
            f"report format must be html or pdf (from --format or the file extension), not {fmt!r}"
        )
    return fmt


def write_report(
    data: ReportData,
    out: Path,
    *,
    fmt: str | None = None,
    figures_dir: Path | None = None,
    built: Builder | None = None,
) -> ReportOutput:
    """Write the report to ``out`` (format from ``fmt`` or the file extension) and the figures as files.

    ``figures_dir`` defaults to ``<out stem>_figures/`` beside the report. The file appears whole or not
    at all (written to a temporary name, then renamed).
    """
    fmt = _check_format(out, fmt)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figures_dir = figures_dir or out.with_name(out.stem + "_figures")
    html, built = render_html(data, figures_dir=figures_dir, for_print=(fmt == "pdf"), built=built)
    result = ReportOutput(
        path=out,
        format=fmt,
        figures=[p for f in built.figures for p in (f.svg_path, f.png_path) if p is not None],
        n_sections=len(built.sections),
        n_tables=built.n_tables,
        n_figures=built.n_figures,
    )
    tmp = out.with_name(out.name + ".tmp")
    try:
        if fmt == "html":
            tmp.write_text(html, encoding="utf-8")
        else:
            try:
                from weasyprint import HTML
                from weasyprint.urls import URLFetcher
            except (ImportError, OSError) as exc:  # OSError: Pango/HarfBuzz system libraries missing
                from dancerec.errors import UserError

                raise UserError(
                    f"PDF output needs WeasyPrint and its system libraries (Pango), which failed to load: {exc}; "
                    "run .ci/setup.sh, or write --out report.html instead"
                ) from exc

            # WeasyPrint logs every CSS property it skips (screen-only rules, SVG presentation styles).
            logging.getLogger("weasyprint").setLevel(logging.ERROR)
            logging.getLogger("fontTools").setLevel(logging.ERROR)
            # only data: URIs (the embedded figures) may be fetched: the report never goes online
            fetcher = URLFetcher(allowed_protocols=["data"])
            document = HTML(string=html, base_url=str(out.parent), url_fetcher=fetcher).render()
            result.n_pages = len(document.pages)
            document.write_pdf(tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def write_reports(
    data: ReportData,
    outs: list[Path],
    *,
    figures_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    tables_dir: Path | None = None,
) -> list[ReportOutput]:
    """Write several formats (e.g. ``report.html`` and ``report.pdf``) from one build of the figures.

    ``progress`` is called with the label of each section as it is built, then with each file written.
    ``tables_dir``: also write every table as CSV, XLSX and LaTeX there (:mod:`dancerec.reports.export`).
    """
    if not outs and tables_dir is None:
        return []
    for out in outs:
        _check_format(out, None)
    if figures_dir is None and outs:
        figures_dir = Path(outs[0]).with_name(Path(outs[0]).stem + "_figures")
    built = build_sections(data, figures_dir, progress=progress)
    written = []
    if tables_dir is not None:
        from dancerec.reports.export import export_tables

        if progress is not None:
            progress("export tables")
        export_tables(built, tables_dir)
    for out in outs:
        if progress is not None:
            progress(f"write {Path(out).name}")
        written.append(write_report(data, out, figures_dir=figures_dir, built=built))
    return written
