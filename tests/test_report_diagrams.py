"""Graphviz path diagrams: the laid-out drawing (``dot -Tjson`` coordinates) has no edge through a node
box and no overlapping labels; stars follow the adjusted p only; R² sits in the endogenous nodes."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import graphviz
import numpy as np
import pandas as pd
import pytest
from dancerec.indices.syntax import parse_model
from dancerec.reports import diagrams as D

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")

DIMENSIONS = [
    "content",
    "functionality",
    "page_design",
    "ease_of_use",
    "usefulness",
    "risk",
    "confidence",
    "experience",
]


def demo_sem_paths(seed: int = 0) -> pd.DataFrame:
    """The shipped structural model (the demo's SEM) with coefficients and p values drawn at random."""
    text = (REPO / "indices" / "models" / "structural_default.lav").read_text(encoding="utf-8")
    terms = [t for t in parse_model(text, source="structural_default.lav").terms if t.op == "~"]
    rng = np.random.default_rng(seed)
    paths = pd.DataFrame(
        {
            "lhs": [t.lhs for t in terms],
            "rhs": [t.rhs for t in terms],
            "std": rng.uniform(-0.5, 0.7, len(terms)),
            "p": rng.uniform(0, 0.1, len(terms)) ** 2,
        }
    )
    return paths.assign(p_adj=np.minimum(paths["p"] * len(paths), 1.0))


def metrics_sem_paths() -> pd.DataFrame:
    """The linkage SEM's shape: three observed offline metrics → every latent dimension."""
    metrics = ["recall@10", "ndcg@10", "serendipity@10"]
    rows = [
        {"lhs": d, "rhs": m, "std": 0.1 * (i - j), "p": 0.001 * (1 + i + j)}
        for i, m in enumerate(metrics)
        for j, d in enumerate(DIMENSIONS)
    ]
    return pd.DataFrame(rows), metrics


def test_demo_sem_has_no_edge_through_a_node_and_no_overlapping_labels():
    for seed in range(3):
        paths = demo_sem_paths(seed)
        diagram = D.path_graph(paths, r2={d: 0.3 for d in paths["lhs"]})
        boxes, edges = D.layout_geometry(diagram)
        assert len(edges) == len(paths) and len(boxes) == len(set(paths["lhs"]) | set(paths["rhs"]))
        assert all(e["label"] is not None and len(e["points"]) > 10 for e in edges)
        assert D.layout_problems(diagram) == []


def test_layered_left_to_right_metrics_then_dimensions_then_experience():
    paths, metrics = metrics_sem_paths()
    structural = demo_sem_paths()
    diagram = D.path_graph(pd.concat([paths, structural]), observed=metrics)
    boxes, _ = D.layout_geometry(diagram)
    x = {name: (b.x0 + b.x1) / 2 for name, b in boxes.items()}
    left_of_all = max(x[D._node_id(m)] for m in metrics)
    assert all(x[D._node_id(d)] > left_of_all for d in DIMENSIONS)
    assert x[D._node_id("experience")] == max(x.values())  # the outcome is the last layer
    assert D.layout_problems(diagram) == []


def test_measurement_model_diagram_is_clean():
    data = S.report_data(n_per_group=30)
    diagram = D.measurement_graph(data.cfa.loadings)
    _, edges = D.layout_geometry(diagram)
    assert len(edges) == len(data.cfa.loadings)
    assert D.layout_problems(diagram) == []
    svg = diagram.pipe("svg").decode()
    assert "R² = .85" in svg  # RSK1: standardised loading .92 squared


def test_the_checker_finds_an_edge_through_a_node_and_overlapping_labels():
    g = graphviz.Digraph(engine="neato")
    g.attr(splines="false")
    for name, pos in (("a", "0,0!"), ("b", "2,0!"), ("c", "4,0!")):
        g.node(name, pos=pos, shape="box")
    g.edge("a", "c", label="x")  # a straight line from a to c runs through b
    g.edge("c", "a", label="y")
    problems = D.layout_problems(D.Diagram(g, adjusted=True))
    assert "edge a → c crosses node b" in problems
    assert any("overlap" in p for p in problems)


def test_stars_only_for_adjusted_p_and_dashes_for_non_significant():
    paths = pd.DataFrame(
        {
            "lhs": ["y", "y", "z"],
            "rhs": ["x", "w", "y"],
            "std": [0.5, 0.2, -0.4],
            "p": [0.0001, 0.02, 0.0004],
            "p_adj": [0.0003, 0.06, 0.0012],
        }
    )
    adjusted = D.path_graph(paths, r2={"y": 0.25, "z": 0.16})
    source = adjusted.graph.source
    labels = dict(re.findall(r'(n_\w+ -> n_\w+) \[label="?([^" ]+)"?', source))
    assert labels == {"n_x -> n_y": ".50***", "n_w -> n_y": ".20", "n_y -> n_z": "−.40**"}
    dashed = [line for line in source.splitlines() if "style=dashed" in line]
    assert len(dashed) == 1 and "n_w -> n_y" in dashed[0]  # p = .02 but adjusted p = .06
    assert "R² = .25" in source and "R² = .16" in source
    assert "x\\nR²" not in source  # exogenous nodes show no R²
    assert "adjusted p" in adjusted.legend()

    plain = D.path_graph(paths.drop(columns="p_adj"))
    assert "*" not in plain.graph.source
    assert "no stars" in plain.legend() and "unadjusted" in plain.legend()
