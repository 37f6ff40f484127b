"""Check a report PDF's page layout from its drawn objects (pdfplumber: every glyph, rule and image with
its box): nothing beyond the page margins, no near-empty pages, no table row stranded alone on a page.

Used by the tests and available to anyone changing the stylesheet::

    problems = layout_problems("report.pdf")   # [] for a clean document

The margins are the stylesheet's ``@page`` margins (2 cm sides and top, 2.2 cm bottom); the running
header (top right) and the page number (bottom centre) are the only things drawn in the top and bottom
margins, and they are allowed there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CM = 72 / 2.54  # points per centimetre
MARGIN_SIDE, MARGIN_TOP, MARGIN_BOTTOM = 2 * CM, 2 * CM, 2.2 * CM
TOLERANCE = 1.0  # points: anti-aliasing and glyph side bearings
#: A page whose body content is shorter than this share of the text area is "near-empty" unless it
#: is a section's own (short) page, i.e. it begins with a section heading.
NEAR_EMPTY = 0.12


@dataclass(frozen=True)
class PageSummary:
    number: int
    body_top: float | None  # points from the top of the page
    body_bottom: float | None
    first_line: str
    text_area: float  # height of the text area in points

    @property
    def fill(self) -> float:
        if self.body_top is None or self.body_bottom is None:
            return 0.0
        return (self.body_bottom - self.body_top) / self.text_area


def _lines(chars: list[dict]) -> list[str]:
    rows: dict[int, list[dict]] = {}
    for ch in chars:
        rows.setdefault(round(ch["top"]), []).append(ch)
    return ["".join(c["text"] for c in sorted(rows[k], key=lambda c: c["x0"])) for k in sorted(rows)]


def _beyond_margins(page, number: int) -> list[str]:
    width, height = page.width, page.height
    left, right = MARGIN_SIDE - TOLERANCE, width - MARGIN_SIDE + TOLERANCE
    out = []
    objects = [("text", c) for c in page.chars if c["text"].strip()]
    objects += [(kind, o) for kind in ("rect", "line", "curve", "image") for o in getattr(page, kind + "s")]
    for kind, obj in objects:
        if obj["x0"] < left or obj["x1"] > right:
            what = obj.get("text", kind)
            out.append(
                f"page {number}: {kind} {what!r} at x {obj['x0']:.0f}–{obj['x1']:.0f} pt beyond the side margins "
                f"({left:.0f}–{right:.0f})"
            )
        in_body = MARGIN_TOP - TOLERANCE <= obj["top"] and obj["bottom"] <= height - MARGIN_BOTTOM + TOLERANCE
        if kind != "text" and not in_body:
            out.append(
                f"page {number}: {kind} at y {obj['top']:.0f}–{obj['bottom']:.0f} pt in the top/bottom margin"
            )
    return out


def page_summaries(path: str | Path) -> tuple[list[PageSummary], list[str]]:
    """Per page: where its body content starts and ends and its first line; plus margin problems."""
    import pdfplumber

    summaries, problems = [], []
    with pdfplumber.open(str(path)) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            problems += _beyond_margins(page, number)
            top, bottom = MARGIN_TOP - TOLERANCE, page.height - MARGIN_BOTTOM + TOLERANCE
            body = [c for c in page.chars if c["text"].strip() and top <= c["top"] and c["bottom"] <= bottom]
            shapes = [
                o for o in page.rects + page.images + page.curves if top <= o["top"] and o["bottom"] <= bottom
            ]
            tops = [o["top"] for o in body + shapes]
            bottoms = [o["bottom"] for o in body + shapes]
            lines = _lines(body)
            summaries.append(
                PageSummary(
                    number=number,
                    body_top=min(tops) if tops else None,
                    body_bottom=max(bottoms) if bottoms else None,
                    first_line=lines[0] if lines else "",
                    text_area=page.height - MARGIN_TOP - MARGIN_BOTTOM,
                )
            )
    return summaries, problems


def layout_problems(path: str | Path) -> list[str]:
    """Everything wrong with the PDF's layout (see the module docstring); ``[]`` when clean."""
    import re

    summaries, problems = page_summaries(path)
    for page in summaries[1:]:  # the title page is short by design
        starts_section = re.match(r"\d+\.\s*\S", page.first_line) is not None
        if page.fill < NEAR_EMPTY and not starts_section:
            problems.append(
                f"page {page.number}: near-empty ({page.fill:.0%} of the text area; first line {page.first_line!r})"
            )
    return problems
