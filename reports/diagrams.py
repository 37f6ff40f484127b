"""Path diagrams drawn by Graphviz ``dot``: the structural model and the CFA measurement model.

Why Graphviz rather than matplotlib: ``dot`` lays a directed graph out in layers (here left to right:
offline metrics → latent dimensions → experience), routes edges as splines around node boxes and, with
edge labels given as ``label`` (not ``xlabel``), reserves room for each label inside the layout, so labels
overlap neither each other nor nodes. The matplotlib drawing this replaces placed labels at edge midpoints
and drew straight edges through nodes.

Conventions (APA-style path diagram): ellipses are latent variables, boxes observed ones; an edge carries
the standardised coefficient; stars mark the ADJUSTED p (column ``p_adj``) — when the table has no adjusted
p no stars are shown and the caption says so; edges not significant (adjusted p ≥ .05, or unadjusted when no
adjusted p exists, said in the caption) are dashed and grey; endogenous nodes show their R².
The SVG goes inline into the HTML and, as an image, into the PDF (WeasyPrint renders SVG as vectors).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import graphviz
import pandas as pd
from dancerec.reports import apa

from dancerec.errors import UserError

FONT = "DejaVu Sans"
LATENT = {"shape": "ellipse", "style": "filled", "fillcolor": "#e8f1f8", "color": "#1b6ca8"}
OBSERVED = {"shape": "box", "style": "filled,rounded", "fillcolor": "#f1f1f1", "color": "#333333"}
SIGNIFICANT = {"color": "#2c3e50", "fontcolor": "#2c3e50", "style": "solid"}
NEGATIVE = {"color": "#c0392b", "fontcolor": "#c0392b", "style": "solid"}
NOT_SIGNIFICANT = {"color": "#9a9a9a", "fontcolor": "#7a7a7a", "style": "dashed"}


@dataclass
class Diagram:
    """A Graphviz graph plus how its stars and dashes were decided (for the caption)."""

    graph: graphviz.Digraph
    adjusted: bool  # stars and dashes use the adjusted p (p_adj)

    def pipe(self, fmt: str) -> bytes:
        """The laid-out graph in ``fmt`` (svg, png, json, plain) from the ``dot`` program."""
        try:
            return self.graph.pipe(format=fmt)
        except graphviz.ExecutableNotFound as exc:
            raise UserError(
                "path diagrams need the Graphviz program `dot` (apt-get install graphviz; run .ci/setup.sh)"
            ) from exc

    def legend(self) -> str:
        """Caption text saying which p the stars and dashes rest on."""
        if self.adjusted:
            return (
                "Stars: adjusted p (* < .05, ** < .01, *** < .001); dashed grey = not significant after "
                "adjustment."
            )
        return (
            "No adjusted p values were available, so no stars are shown; dashed grey = unadjusted p ≥ .05 "
            "(descriptive only)."
        )


def available() -> bool:
    """Whether the Graphviz ``dot`` program is installed (the report falls back to matplotlib if not)."""
    return shutil.which("dot") is not None


def _node_id(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name)


def _label(name: str, r2: float | None) -> str:
    text = name.replace("_", " ")
    if r2 is not None and math.isfinite(r2):
        return f"{text}\\nR² = {apa.bounded(r2)}"  # DOT's escape for a centred line break
    return text


def _graph(name: str) -> graphviz.Digraph:
    g = graphviz.Digraph(name)
    g.attr(
        rankdir="LR",
        splines="true",
        nodesep="0.3",
        ranksep="0.9",
        fontname=FONT,
        bgcolor="white",
        pad="0.1",
    )
    g.attr("node", fontname=FONT, fontsize="10", margin="0.08,0.04")
    g.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.7", labelfloat="false")
    return g


def _edge_style(value: float, p: float) -> dict[str, str]:
    if not (math.isfinite(p) and p < 0.05):
        return NOT_SIGNIFICANT
    return NEGATIVE if math.isfinite(value) and value < 0 else SIGNIFICANT


def _num(row: pd.Series, col: str | None) -> float:
    if col is None or col not in row or pd.isna(row[col]):
        return math.nan
    return float(row[col])


def path_graph(
    paths: pd.DataFrame,
    *,
    observed: Sequence[str] = (),
    r2: Mapping[str, float] | None = None,
    coef: str = "std",
    source: str = "rhs",
    target: str = "lhs",
    name: str = "sem",
) -> Diagram:
    """The structural model: one edge per row of ``paths`` (source → target) labelled with ``coef``.

    ``observed`` names the observed variables (boxes, placed in the first layer when they are only
    predictors, e.g. offline metrics); every other node is latent. ``r2`` maps endogenous nodes to R².
    """
    adjusted = "p_adj" in paths.columns
    p_col = "p_adj" if adjusted else ("p" if "p" in paths.columns else None)
    g = _graph(name)
    targets = set(paths[target].astype(str))
    nodes = list(
        dict.fromkeys([str(v) for pair in zip(paths[source], paths[target], strict=True) for v in pair])
    )
    observed = set(map(str, observed))
    r2 = dict(r2 or {})
    sources_only = [n for n in nodes if n in observed and n not in targets]
    if sources_only:
        with g.subgraph() as first:
            first.attr(rank="source")
            for n in sources_only:
                first.node(_node_id(n), _label(n, None), **OBSERVED)
    for n in nodes:
        if n in sources_only:
            continue
        style = OBSERVED if n in observed else LATENT
        g.node(_node_id(n), _label(n, r2.get(n) if n in targets else None), **style)
    for _, row in paths.iterrows():
        value, p = _num(row, coef), _num(row, p_col)
        text = apa.bounded(value) + (apa.stars(p) if adjusted else "")
        g.edge(_node_id(str(row[source])), _node_id(str(row[target])), label=text, **_edge_style(value, p))
    return Diagram(g, adjusted)


def measurement_graph(loadings: pd.DataFrame, *, coef: str = "std", name: str = "cfa") -> Diagram:
    """The CFA measurement model: each factor (ellipse) → its items (boxes), edges labelled with the
    standardised loading; the item boxes show their R² (squared standardised loading)."""
    adjusted = "p_adj" in loadings.columns
    p_col = "p_adj" if adjusted else ("p" if "p" in loadings.columns else None)
    g = _graph(name)
    g.attr(ranksep="1.2", nodesep="0.12")
    for factor in dict.fromkeys(loadings["factor"].astype(str)):
        g.node(_node_id("f_" + factor), _label(factor, None), **LATENT)
    for _, row in loadings.iterrows():
        value, p = _num(row, coef), _num(row, p_col)
        item = str(row["item"])
        g.node(_node_id("i_" + item), _label(item, value**2 if math.isfinite(value) else None), **OBSERVED)
        text = apa.bounded(value) + (apa.stars(p) if adjusted else "")
        g.edge(
            _node_id("f_" + str(row["factor"])), _node_id("i_" + item), label=text, **_edge_style(value, p)
        )
    return Diagram(g, adjusted)


# -- layout geometry (used by the tests: no edge through a node, no overlapping labels) ------------
@dataclass(frozen=True)
class Box:
    name: str
    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, x: float, y: float, inset: float = 0.0) -> bool:
        return self.x0 + inset < x < self.x1 - inset and self.y0 + inset < y < self.y1 - inset

    def overlaps(self, other: Box) -> bool:
        return not (self.x1 <= other.x0 or other.x1 <= self.x0 or self.y1 <= other.y0 or other.y1 <= self.y0)


def _bezier(points: list[tuple[float, float]], steps: int = 24) -> list[tuple[float, float]]:
    """Points along a piecewise cubic Bézier (Graphviz's spline: 1 + 3n control points)."""
    out = []
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i : i + 4]
        for s in range(steps + 1):
            t = s / steps
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3
            out.append(
                (
                    a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
                )
            )
    return out


def layout_geometry(diagram: Diagram) -> tuple[dict[str, Box], list[dict]]:
    """Node boxes (points) and, per edge, its endpoints, sampled spline points and label box."""
    layout = json.loads(diagram.pipe("json"))
    boxes: dict[str, Box] = {}
    by_gvid: dict[int, str] = {}
    for obj in layout.get("objects", []):
        if "pos" not in obj:
            continue
        x, y = (float(v) for v in obj["pos"].split(","))
        w, h = float(obj["width"]) * 72 / 2, float(obj["height"]) * 72 / 2
        boxes[obj["name"]] = Box(obj["name"], x - w, y - h, x + w, y + h)
        by_gvid[obj["_gvid"]] = obj["name"]
    edges = []
    for edge in layout.get("edges", []):
        spline: list[tuple[float, float]] = []
        for op in edge.get("_draw_", []):
            if op.get("op") == "b":
                spline += [tuple(map(float, pt)) for pt in op["points"]]
        label = None
        if "lp" in edge:
            lx, ly = (float(v) for v in edge["lp"].split(","))
            texts = [op for op in edge.get("_ldraw_", []) if op.get("op") == "T"]
            width = max((float(op["width"]) for op in texts), default=0.0)
            size = 9.0
            label = Box(edge.get("label", ""), lx - width / 2, ly - size / 2, lx + width / 2, ly + size / 2)
        edges.append(
            {
                "tail": by_gvid[edge["tail"]],
                "head": by_gvid[edge["head"]],
                "points": _bezier(spline),
                "label": label,
            }
        )
    return boxes, edges


def layout_problems(diagram: Diagram, inset: float = 2.0) -> list[str]:
    """Edges passing through a node box other than their own ends, and labels overlapping labels or
    nodes; an empty list for a clean drawing. ``inset`` (points) ignores grazing the box border."""
    boxes, edges = layout_geometry(diagram)
    problems = []
    for e in edges:
        for box in boxes.values():
            if box.name in (e["tail"], e["head"]):
                continue
            if any(box.contains(x, y, inset) for x, y in e["points"]):
                problems.append(f"edge {e['tail']} → {e['head']} crosses node {box.name}")
    labels = [e["label"] for e in edges if e["label"] is not None]
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            if a.overlaps(b):
                problems.append(f"labels {a.name!r} and {b.name!r} overlap")
        for box in boxes.values():
            if a.overlaps(box):
                problems.append(f"label {a.name!r} overlaps node {box.name}")
    return problems


def export_diagram(diagram: Diagram, slug: str, out_dir: Path | None) -> tuple[str, Path | None, Path | None]:
    """The SVG document, and ``slug.svg``/``slug.png`` (200 dpi) written to ``out_dir`` when given."""
    svg = diagram.pipe("svg").decode("utf-8")
    if out_dir is None:
        return svg, None, None
    out_dir.mkdir(parents=True, exist_ok=True)
    svg_path, png_path = out_dir / f"{slug}.svg", out_dir / f"{slug}.png"
    from dancerec.reports.figures import unchanged

    if unchanged(svg_path, svg, png_path):
        return svg, svg_path, png_path
    svg_path.write_text(svg, encoding="utf-8")
    diagram.graph.attr(dpi="200")
    try:
        png_path.write_bytes(diagram.pipe("png"))
    finally:
        diagram.graph.attr(dpi="72")
    return svg, svg_path, png_path
