"""benchmarks/lastfm_table.py: merging rows of separate runs into the docs table (pure string logic)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "lastfm_table.py"
_spec = importlib.util.spec_from_file_location("lastfm_table", SCRIPT)
lt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lt)

HEADER = "| model | tuned parameters | P@10 | tune s |\n|---|---|---|---|\n"
INTRO = (
    "# T\n\nProduced by `benchmarks/lastfm_table.py --budget 12` on x. 100 train / 20 test interactions.\n\n"
)


def _doc(rows: list[str], trials: list[str], notes: str = "") -> str:
    body = INTRO + HEADER + "\n".join(rows) + "\n\n" + lt.TRIALS_HEAD + "\n\n" + "\n".join(trials) + "\n"
    return body + ("\n" + lt.NOTES + "\n" + notes if notes else "")


OLD = _doc(
    [
        "| MostPop | – (nothing to tune) | 0.0660 | – |",
        "| EASE | l2=100.0 | 0.1907 | 310 |",
        "| ALS (implicit) | n_factors=128 | 0.2017 | 519 |",
    ],
    [
        "- EASE (grid, 8 trials, 1,876 validation users): l2=10.0: 0.1488",
        "- ALS (implicit) (random, 12 trials, 1,876 validation users): n_factors=16: 0.1",
    ],
    notes="hand-written\n## EASE whole-process speed\nkept\n",
)


def test_subset_run_replaces_only_its_rows_and_keeps_notes():
    new = _doc(
        ["| EASE | l2=250.0 | 0.2000 | 300 |"], ["- EASE (grid, 8 trials, 9 validation users): l2=250.0: 0.2"]
    )
    out = lt.merge_table(OLD, new)
    assert "| EASE | l2=250.0 | 0.2000 | 300 |" in out and "l2=100.0" not in out
    assert "| MostPop |" in out and "| ALS (implicit) | n_factors=128 |" in out
    assert "- EASE (grid, 8 trials, 9 validation users): l2=250.0: 0.2" in out
    assert "- ALS (implicit) (random, 12 trials" in out
    assert out.count("EASE (grid") == 1
    assert out.endswith(lt.NOTES + "\nhand-written\n## EASE whole-process speed\nkept\n")
    # rows stay in the LABELS order: MostPop, EASE, ALS
    assert out.index("| MostPop") < out.index("| EASE") < out.index("| ALS")


def test_registry_names_from_older_runs_get_labels_and_order():
    new = _doc(
        ["| relation-rank | dim=64, lr=0.003 | 0.2100 | 900 |", "| fism | dim=32 | 0.2050 | 800 |"],
        ["- fism (random, 12 trials, 1,876 validation users): dim=32: 0.16"],
    )
    out = lt.merge_table(OLD, new)
    assert "| FISM | dim=32 | 0.2050 | 800 |" in out and "| fism |" not in out
    assert "- FISM (random, 12 trials" in out
    rows = [ln.split("|")[1].strip() for ln in out.split("\n") if ln.startswith("| ") and "---" not in ln][1:]
    assert rows == ["MostPop", "EASE", "ALS (implicit)", "relation-rank", "FISM"]
    # merging the same file twice changes nothing
    assert lt.merge_table(out, new) == out


def test_refuses_tables_from_another_split_or_budget():
    other = _doc(["| EASE | l2=1.0 | 0.1 | 1 |"], []).replace("100 train", "101 train")
    with pytest.raises(ValueError, match="different splits"):
        lt.merge_table(OLD, other)
    budget = _doc(["| EASE | l2=1.0 | 0.1 | 1 |"], []).replace("--budget 12", "--budget 3")
    with pytest.raises(ValueError, match="budgets"):
        lt.merge_table(OLD, budget)


def test_params_parsed_back_from_the_table():
    text = _doc(
        [
            "| MostPop | – (nothing to tune) | 0.0660 | – |",
            "| NCF (NeuMF) | gmf_dim=32, lr=0.001, epochs=10 | 0.1 | 1 |",
            "| ItemKNN | k=5000, similarity=cosine | 0.2 | 1 |",
            "| X | layers=[64, 32], flag=True | 0.2 | 1 |",
        ],
        [],
    )
    params = lt.params_from_table(text)
    assert params["mostpop"] == {}
    assert params["ncf"] == {"gmf_dim": 32, "lr": 0.001, "epochs": 10}
    assert params["itemknn"] == {"k": 5000, "similarity": "cosine"}
    assert params["X"] == {"layers": (64, 32), "flag": True}


class _Split:
    """What paper_section reads of a split: the train/test matrices' nnz."""

    class _Part:
        class matrix:
            nnz = 100

    train = test = _Part()


def test_paper_section_inserted_after_the_marker_then_replaced():
    body = ["intro", "", "| model | a |", "|---|---|", "| EASE | 1 |"]
    once = lt.replace_section(OLD, lt.PAPER_HEAD, body)
    assert once.index(lt.NOTES) < once.index(lt.PAPER_HEAD) < once.index("hand-written")
    intro, rows, tail = lt.section_rows(once, lt.PAPER_HEAD)
    assert rows == ["| EASE | 1 |"] and intro[1] == "intro" and tail == ["", "hand-written"]
    merged = lt.merge_rows(rows, ["| FISM | 2 |", "| MostPop | 3 |"], lt.row_key)
    twice = lt.replace_section(once, lt.PAPER_HEAD, [*body[:4], *merged])
    assert lt.section_rows(twice, lt.PAPER_HEAD)[1] == ["| MostPop | 3 |", "| EASE | 1 |", "| FISM | 2 |"]
    # a merge keeps hand-written text below the table
    noted = twice.replace("| FISM | 2 |\n", "| FISM | 2 |\n\nReading: by hand.\n")
    again = lt._merge_paper(noted, _Split(), ["| EASE | 9 |"], 42)
    assert "Reading: by hand." in again and "| EASE | 9 |" in again and "| FISM | 2 |" in again
    assert twice.count(lt.PAPER_HEAD) == 1 and "## EASE whole-process speed\nkept" in twice


def _tiny_lastfm(folder: Path, n_users: int = 40, n_items: int = 60, per_user: int = 15) -> Path:
    """A Last.fm-format folder (user_artists.dat only) with planted play counts, seeded."""
    import numpy as np

    rng = np.random.default_rng(0)
    lines = ["userID\tartistID\tweight"]
    for u in range(n_users):
        for a in rng.choice(n_items, size=per_user, replace=False):
            lines.append(f"{u + 1}\t{a + 1}\t{int(rng.integers(1, 5000))}")
    folder.mkdir()
    (folder / "user_artists.dat").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_paper_protocol_command_runs_for_the_relation_models(tmp_path, monkeypatch):
    """The coordinator's command for the relation models, on a tiny dataset: rows merged into --out."""
    import json
    import sys

    data = _tiny_lastfm(tmp_path / "lastfm")
    params = {
        "mostpop": {},
        "fism": {"dim": 8, "epochs": 2, "validation": 0.0},
        "relation-rank": {"dim": 8, "epochs": 2, "validation": 0.0},
        "relation": {"epochs": 1},
    }
    (tmp_path / "p.json").write_text(json.dumps(params), encoding="utf-8")
    out = tmp_path / "doc.md"
    out.write_text(OLD, encoding="utf-8")
    argv = ["x", "--protocol", "paper", "--params-from", str(tmp_path / "p.json"), "--data", str(data)]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(out), "--models", "mostpop,fism"])
    lt.main()
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(out), "--models", "relation-rank,relation"])
    lt.main()
    text = out.read_text(encoding="utf-8")
    _, rows, _ = lt.section_rows(text, lt.PAPER_HEAD)
    assert [lt.row_key(r) for r in rows] == [
        "MostPop",
        "relation (the paper's model)",
        "relation-rank",
        "FISM",
    ]
    for r in rows:
        cells = [c.strip() for c in r.strip("|").split("|")]
        accuracy, auc = float(cells[2]), float(cells[3])
        assert 0 <= accuracy <= 1 and 0 <= auc <= 1
    assert "| EASE | l2=100.0 | 0.1907 | 310 |" in text  # the full-ranking table is untouched


def test_space_option_replaces_the_search_space(tmp_path, monkeypatch):
    """`--space` tunes exactly the grid given (as `recommender tune --space`), and the trials say so."""
    import sys

    data = _tiny_lastfm(tmp_path / "lastfm")
    out = tmp_path / "doc.md"
    argv = ["x", "--data", str(data), "--out", str(out), "--models", "ease", "--budget", "12"]
    monkeypatch.setattr(sys, "argv", [*argv, "--space", "ease.l2=7,70"])
    lt.main()
    text = out.read_text(encoding="utf-8")
    trials = next(line for line in text.splitlines() if line.startswith("- EASE"))
    assert "(grid, 2 trials," in trials
    assert "l2=7:" in trials and "l2=70:" in trials and "l2=100" not in trials
    monkeypatch.setattr(sys, "argv", [*argv, "--space", "als.alpha=1,2"])
    with pytest.raises(Exception, match="not among"):
        lt.main()
