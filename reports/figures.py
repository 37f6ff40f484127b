"""The report's figures (matplotlib, Agg backend): each a pure function of DataFrames → Figure.

:func:`export` turns a figure into the inline SVG the HTML/PDF embed (ids prefixed per figure so several
SVGs can share one document; comments, metadata and namespace URLs stripped) and writes the same figure
as separate ``.svg`` and ``.png`` files for papers. Text is drawn as glyph outlines, so a figure looks the
same in every browser and in the PDF; WenQuanYi Micro Hei is the fallback for Chinese group names.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from dancerec.reports import apa
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch
from scipy import stats

# user data (group names such as "$x^$") is never matplotlib math text
matplotlib.rcParams["text.parse_math"] = False

FULL_WIDTH = 6.5  # inches: an A4 page's text width with 2 cm margins
STYLE = {
    "font.family": ["DejaVu Sans", "WenQuanYi Micro Hei"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "path",
    "svg.hashsalt": "dancerec",  # deterministic ids: the same data give byte-identical SVG
    "figure.dpi": 100,
}
#: Scatter plots with more points than this draw the points as an embedded bitmap (axes, text and lines
#: stay vector): a 900-point SVG otherwise takes WeasyPrint seconds to lay out in the PDF.
RASTERIZE_ABOVE = 200
PALETTE = ["#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d96a3", "#2e4057", "#a05195", "#f95d6a"]


@dataclass
class ExportedFigure:
    """A figure ready for the report: inline SVG markup plus the files written for papers."""

    slug: str
    caption: str
    alt: str
    svg: str
    standalone: str = ""  # a complete SVG document (for the PDF, embedded as an image)
    svg_path: Path | None = None
    png_path: Path | None = None

    @property
    def data_uri(self) -> str:
        """``data:`` URI of the standalone SVG (the PDF embeds figures as images: much faster to lay out)."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.standalone.encode("utf-8")).decode(
            "ascii"
        )


def _new(width: float, height: float, ncols: int = 1) -> tuple[Figure, np.ndarray]:
    with plt.rc_context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, ncols))
    return fig, axes


_ID = re.compile(r'\bid="([^"]+)"')


def svg_document(fig: Figure) -> str:
    """The figure as a standalone SVG document (deterministic: no date, fixed id salt)."""
    buf = io.StringIO()
    with plt.rc_context(STYLE):
        fig.savefig(buf, format="svg", dpi=200, metadata={"Date": None})  # dpi: rasterized parts only
    return buf.getvalue()


def inline_svg(document: str, slug: str) -> str:
    """SVG markup for embedding in HTML: unique ids, no comments/metadata/DOCTYPE/namespace URLs."""
    text = document
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    ids = set(_ID.findall(text))
    prefix = re.sub(r"\W", "-", slug) + "-"
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(
        r'(xlink:href|href)="#([^"]+)"',
        lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"' if m.group(2) in ids else m.group(0),
        text,
    )
    text = re.sub(
        r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})" if m.group(1) in ids else m.group(0), text
    )
    return text.strip()


def unchanged(svg_path: Path, document: str, png_path: Path) -> bool:
    """The figure files from an earlier report are still this figure (same SVG, deterministic): the
    200-dpi PNG need not be drawn again."""
    return (
        png_path.is_file()
        and svg_path.is_file()
        and png_path.stat().st_mtime >= svg_path.stat().st_mtime
        and svg_path.read_text(encoding="utf-8") == document
    )


def export(fig: Figure, slug: str, caption: str, alt: str, out_dir: Path | None = None) -> ExportedFigure:
    """Inline SVG for the report, and ``slug.svg``/``slug.png`` in ``out_dir`` when given."""
    document = svg_document(fig)
    result = ExportedFigure(
        slug=slug, caption=caption, alt=alt, svg=inline_svg(document, slug), standalone=document
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        result.svg_path, result.png_path = out_dir / f"{slug}.svg", out_dir / f"{slug}.png"
        if not unchanged(result.svg_path, result.standalone, result.png_path):
            result.svg_path.write_text(result.standalone, encoding="utf-8")
            with plt.rc_context(STYLE):
                fig.savefig(result.png_path, format="png", dpi=200, metadata={"Software": None})
    plt.close(fig)
    return result


# ----------------------------------------------------------------------------------------------
def likert_bars(
    responses: pd.DataFrame,
    items: Sequence[str],
    scale_min: int,
    scale_max: int,
    *,
    labels: Mapping[str, str] | None = None,
    anchors: Sequence[str] | None = None,
) -> Figure:
    """Diverging stacked bars: per item, the share of each answer, disagreement left of 0, agreement right.

    The neutral category (odd scales) straddles zero, half on each side (Robbins & Heiberger 2011).
    """
    cats = list(range(scale_min, scale_max + 1))
    n_cat = len(cats)
    shares = []
    for item in items:
        answers = responses[item].dropna().round().astype(int) if item in responses else pd.Series(dtype=int)
        counts = answers.value_counts().reindex(cats, fill_value=0)
        total = counts.sum()
        shares.append(counts / total if total else counts.astype(float))
    table = pd.DataFrame(shares, index=list(items)).fillna(0.0)
    cmap = matplotlib.colormaps["RdBu"]
    colors = [cmap(0.1 + 0.8 * i / max(n_cat - 1, 1)) for i in range(n_cat)]
    if n_cat % 2:
        colors[n_cat // 2] = (0.78, 0.78, 0.78, 1.0)
    height = 0.9 + 0.22 * len(items)
    fig, axes = _new(FULL_WIDTH, height)
    ax = axes[0]
    y = np.arange(len(items))[::-1]
    mid = n_cat // 2
    neg_cols = cats[:mid]
    left = -table[neg_cols].sum(axis=1).to_numpy()
    if n_cat % 2:
        left = left - table[cats[mid]].to_numpy() / 2
    for idx, cat in enumerate(cats):
        width = table[cat].to_numpy()
        ax.barh(
            y,
            width,
            left=left,
            color=colors[idx],
            edgecolor="white",
            linewidth=0.4,
            height=0.78,
            label=(anchors[idx] if anchors and idx < len(anchors) else str(cat)),
        )
        left = left + width
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(y, [labels.get(i, i) if labels else i for i in items])
    ax.set_xlim(-1, 1)
    ticks = np.linspace(-1, 1, 5)
    ax.set_xticks(ticks, [f"{abs(t) * 100:.0f}%" for t in ticks])
    ax.set_xlabel("share of respondents (disagree ← | → agree)")
    names = [anchors[i] if anchors and i < len(anchors) else str(c) for i, c in enumerate(cats)]
    # a figure-level legend that constrained layout makes room for, in as many rows as the labels need
    fig.legend(
        *ax.get_legend_handles_labels(),
        ncols=legend_columns(names, 7.5, FULL_WIDTH),
        loc="outside upper center",
        frameon=False,
        fontsize=7.5,
    )
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.5)
    ax.set_axisbelow(True)
    return fig


def legend_columns(labels: Sequence[str], fontsize: float, width_in: float) -> int:
    """How many legend entries fit side by side in ``width_in`` inches (a generous width estimate per
    character, plus the handle and padding), so a legend never runs past the figure's edges."""
    per_char = 0.62 * fontsize / 72  # inches; DejaVu Sans averages about 0.55 em per character
    widest = max((len(str(t)) for t in labels), default=1)
    entry = widest * per_char + 0.55  # handle (2 em) + gaps
    return max(1, min(len(labels), int(0.95 * width_in // entry)))


def loadings_heatmap(loadings: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Items × factors heat map of (standardised) loadings, values printed without leading zeros."""
    data = loadings.astype(float)
    fig, axes = _new(min(FULL_WIDTH, 1.6 + 0.62 * data.shape[1]), 0.9 + 0.2 * data.shape[0])
    ax = axes[0]
    image = ax.imshow(data.to_numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(data.shape[1]), [str(c) for c in data.columns], rotation=35, ha="right")
    ax.set_yticks(range(data.shape[0]), [str(i) for i in data.index])
    for (r, c), value in np.ndenumerate(data.to_numpy()):
        if np.isfinite(value) and abs(value) >= 0.005:
            ax.text(
                c,
                r,
                apa.bounded(value),
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if abs(value) > 0.6 else "#222222",
            )
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    fig.colorbar(image, ax=ax, shrink=0.6, label="loading")
    if title:
        ax.set_title(title)
    return fig


def _layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering from the exogenous nodes (a DAG; cycles are broken at the first revisit)."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in edges:
        preds[dst].append(src)
    layer: dict[str, int] = {}

    def depth(node: str, seen: frozenset[str]) -> int:
        if node in layer:
            return layer[node]
        options = [depth(p, seen | {node}) + 1 for p in preds[node] if p not in seen]
        layer[node] = max(options, default=0)
        return layer[node]

    for node in nodes:
        depth(node, frozenset())
    return layer


_NODE_W, _NODE_H = 0.62, 0.42  # path diagram: a node's width and height in layer units


def _grid(nodes: list[str], layer: dict[str, int]) -> tuple[dict[str, tuple[float, float]], int, int]:
    """Node centres: layer on x, each layer's members centred vertically; also the tallest layer's size
    and the number of layers."""
    n_layers = max(layer.values(), default=0) + 1
    by_layer: dict[int, list[str]] = {}
    for node in nodes:
        by_layer.setdefault(layer[node], []).append(node)
    tallest = max((len(v) for v in by_layer.values()), default=1)
    pos = {}
    for lay, members in by_layer.items():
        offset = (tallest - len(members)) / 2
        for i, node in enumerate(members):
            pos[node] = (lay, tallest - 1 - (offset + i))
    return pos, tallest, n_layers


def _draw_node(ax, node: str, x: float, y: float, observed: bool) -> None:
    """A box (observed variable) or an ellipse (latent factor) with the node's name."""
    w, h = _NODE_W, _NODE_H
    if observed:
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.01",
                facecolor="#f1f1f1",
                edgecolor="#333333",
                linewidth=0.8,
            )
        )
    else:
        ax.add_patch(
            Ellipse((x, y), w * 1.1, h * 1.05, facecolor="#e8f1f8", edgecolor="#1b6ca8", linewidth=0.9)
        )
    ax.text(x, y, node.replace("_", " "), ha="center", va="center", fontsize=7)


def _draw_path(ax, start: tuple[float, float], end: tuple[float, float], value: float, p: float) -> None:
    """An arrow between two nodes labelled with the coefficient: width by |value|, solid when p < .05,
    dashed otherwise, red when negative; arcs between nodes of the same layer."""
    (x0, y0), (x1, y1) = start, end
    w = _NODE_W
    significant = np.isfinite(p) and p < 0.05
    color = "#c0392b" if np.isfinite(value) and value < 0 else "#2c3e50"
    same = x0 == x1
    arrow = FancyArrowPatch(
        (x0 + (0 if same else w / 2), y0),
        (x1 - (0 if same else w / 2), y1),
        arrowstyle="-|>",
        mutation_scale=8,
        color=color,
        linewidth=0.6 + 2.2 * min(abs(value), 1) if np.isfinite(value) else 0.6,
        linestyle="-" if significant else (0, (3, 2)),
        connectionstyle="arc3,rad=0.35" if same else "arc3,rad=0.0",
        shrinkA=2,
        shrinkB=2,
    )
    ax.add_patch(arrow)
    mx, my = (x0 + x1) / 2 + (0.25 if same else 0), (y0 + y1) / 2
    ax.text(
        mx,
        my,
        apa.bounded(value) + apa.stars(p),
        fontsize=6.5,
        ha="center",
        va="center",
        color=color,
        bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
    )


def path_diagram(
    paths: pd.DataFrame,
    *,
    observed: Sequence[str] = (),
    coef: str = "std",
    source: str = "rval",
    target: str = "lval",
    title: str | None = None,
) -> Figure:
    """Structural model: ellipses for latent factors, boxes for observed variables, arrows labelled with
    the standardised coefficient (APA, stars for p). Solid = significant at .05, dashed = not; red = negative.
    """
    edges = [(str(r[source]), str(r[target])) for _, r in paths.iterrows()]
    nodes = list(dict.fromkeys([n for e in edges for n in e]))
    pos, tallest, n_layers = _grid(nodes, _layers(nodes, edges))
    fig, axes = _new(FULL_WIDTH, max(2.4, 0.62 * tallest + 0.6))
    ax = axes[0]
    ax.set_xlim(-0.6, n_layers - 0.4)
    ax.set_ylim(-0.6, tallest - 0.4)
    ax.axis("off")
    for node, (x, yy) in pos.items():
        _draw_node(ax, node, x, yy, node in observed)
    for (src, dst), (_, row) in zip(edges, paths.iterrows(), strict=True):
        value = float(row[coef]) if coef in row and pd.notna(row[coef]) else math.nan
        p = float(row["p"]) if "p" in row and pd.notna(row["p"]) else math.nan
        _draw_path(ax, pos[src], pos[dst], value, p)
    if title:
        ax.set_title(title)
    return fig


def precision_recall_curves(
    curves: pd.DataFrame, *, metrics: Sequence[str] = ("precision", "recall")
) -> Figure:
    """Precision and recall over list length K = 1..50, one line per model (the source paper's Figs 15–16)."""
    metrics = [m for m in metrics if m in curves.columns]
    fig, axes = _new(FULL_WIDTH, 2.8, ncols=max(1, len(metrics)))
    models = list(dict.fromkeys(curves["model"].astype(str)))
    for ax, metric in zip(axes, metrics, strict=False):
        for i, model in enumerate(models):
            part = curves[curves["model"].astype(str) == model].sort_values("k")
            ax.plot(
                part["k"],
                part[metric],
                color=PALETTE[i % len(PALETTE)],
                linewidth=1.3,
                marker="o" if len(part) <= 12 else None,
                markersize=3,
                label=model,
            )
        ax.set_xlabel("list length K")
        ax.set_ylabel(f"{metric}@K")
        ax.set_xlim(left=1)
        ax.grid(color="#e5e5e5", linewidth=0.5)
        ax.set_title(f"{metric.capitalize()} over K")
    axes[0].legend(frameon=False, fontsize=7)
    return fig


def scatter_fit(
    data: pd.DataFrame,
    x: str,
    y: str,
    *,
    label: str | None = None,
    xerr: tuple[str, str] | None = None,
    yerr: tuple[str, str] | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    jitter: float = 0.0,
    seed: int = 0,
) -> Figure:
    """Scatter of an offline metric against a perceived-quality score with the least-squares line
    (scipy.stats.linregress) and Spearman's rho in the corner. Labels name the points (groups)."""
    frame = data.dropna(subset=[x, y])
    fig, axes = _new(FULL_WIDTH * 0.62, 2.9)
    ax = axes[0]
    xs, ys = frame[x].to_numpy(float), frame[y].to_numpy(float)
    shown = ys + (np.random.default_rng(seed).uniform(-jitter, jitter, len(ys)) if jitter else 0)
    small = len(frame) <= 20
    if xerr or yerr:
        ax.errorbar(
            xs,
            ys,
            xerr=None if not xerr else np.abs(np.vstack([xs - frame[xerr[0]], frame[xerr[1]] - xs])),
            yerr=None if not yerr else np.abs(np.vstack([ys - frame[yerr[0]], frame[yerr[1]] - ys])),
            fmt="none",
            ecolor="#8d96a3",
            elinewidth=0.8,
            capsize=2,
        )
    ax.scatter(
        xs,
        shown,
        s=28 if small else 7,
        alpha=0.9 if small else 0.35,
        color="#1b6ca8",
        edgecolor="none",
        rasterized=len(xs) > RASTERIZE_ABOVE,  # hundreds of dots: an embedded bitmap, not SVG paths
    )
    if label:
        for xv, yv, text in zip(xs, ys, frame[label].astype(str), strict=True):
            ax.annotate(text, (xv, yv), xytext=(4, 4), textcoords="offset points", fontsize=7.5)
    if len(frame) >= 3 and np.ptp(xs) > 0:
        fit = stats.linregress(xs, ys)
        grid = np.linspace(xs.min(), xs.max(), 50)
        ax.plot(grid, fit.intercept + fit.slope * grid, color="#d1495b", linewidth=1.4)
        rho = stats.spearmanr(xs, ys).statistic
        ax.text(
            0.02,
            0.97,
            f"ρ = {apa.bounded(rho)}, n = {len(frame)}",
            transform=ax.transAxes,
            va="top",
            fontsize=7.5,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "#cccccc", "alpha": 0.9},
            zorder=5,
        )
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.grid(color="#eeeeee", linewidth=0.5)
    return fig
