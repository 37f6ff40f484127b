"""The tuned Last.fm-2k table: every model tuned the same way, with the same budget, evaluated once.

    nice -n 10 .venv/bin/python benchmarks/lastfm_table.py --data ../shared/data/hetrec2011-lastfm-2k \
        [--models mostpop,itemknn,userknn,svd,content,ease,als] [--budget 12] [--out docs/recommender-lastfm.md]
    .venv/bin/python benchmarks/lastfm_table.py --merge benchmarks/results/lastfm_tuned_fism.md ... \
        [--out docs/recommender-lastfm.md]
    nice -n 10 .venv/bin/python benchmarks/lastfm_table.py --protocol paper --params-from docs/recommender-lastfm.md \
        --data ../shared/data/hetrec2011-lastfm-2k [--models ...] [--out docs/recommender-lastfm.md]

Protocol (the library's, :mod:`dancerec.recommender.tune`): per-user random 80/20 split (seed 42; users with
fewer than 5 artists stay wholly in train). Each model with a search space is tuned by
:func:`tune_model` — a validation split carved from the training part (random, 20% of each user's items,
seed 42), at most ``--budget`` configurations from the model's ``search_space`` (the whole grid when it
fits, else a seeded random sample of it), selection by validation NDCG@10 — then refitted on the whole
training part with the chosen parameters and evaluated once on the test part (full ranking over all
artists minus the user's training artists) through :class:`Experiment`. Models without a search space
(MostPop) run with their defaults. Timings are wall-clock on this machine.

Merging: a run updates only the rows (and "every configuration" lines) of the models it ran and keeps the
other rows of ``--out`` (``--replace`` overwrites the whole table); ``--merge FILE.md ...`` merges tables
written by separate runs (e.g. ``--out benchmarks/results/lastfm_tuned_fism.md``) into ``--out`` without
running anything. Hand-written notes below the notes marker survive every run.

``--protocol paper``: fits each model once with the tuned parameters read from ``--params-from`` (the
full-ranking table of a docs file, or a JSON ``{model: {param: value}}``) on the same split and evaluates it
by the source paper's protocol (:mod:`dancerec.recommender.paper_protocol`, lengths 1, 2, 5, 10); the rows go
into the section "Tuned models, the paper's protocol" of ``--out`` (merged the same way).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = {
    "mostpop": "MostPop",
    "itemknn": "ItemKNN",
    "userknn": "UserKNN",
    "svd": "PureSVD",
    "ncf": "NCF (NeuMF)",
    "content": "Content TF-IDF (tags)",
    "ease": "EASE",
    "als": "ALS (implicit)",
    "relation": "relation (the paper's model)",
    "relation-rank": "relation-rank",
    "fism": "FISM",
}
NOTES = "<!-- notes: kept when the table is regenerated -->"
DEFAULT_MODELS = "mostpop,itemknn,userknn,svd,content,ease,als"
TRIALS_HEAD = "Validation NDCG@10 of every configuration tried (trial order):"
PAPER_HEAD = "## Tuned models, the paper's protocol"
PAPER_LENGTHS = (1, 2, 5, 10)
NOTHING = "– (nothing to tune)"
_TRIAL = re.compile(r"^- (.+?) \((?:grid|random), \d+ trials")
_SPLIT = re.compile(r"([\d,]+) train / ([\d,]+) test interactions")
_BUDGET = re.compile(r"--budget (\d+)")


# --------------------------------------------------------------------------------------------
# pure text helpers (unit-tested in tests/test_lastfm_table_merge.py)
# --------------------------------------------------------------------------------------------
def _fmt_params(params: dict) -> str:
    from dancerec.recommender.tune import plain

    return ", ".join(f"{k}={plain(v)}" for k, v in params.items()) or "defaults"


def _edges(space: dict[str, list], chosen: dict) -> list[str]:
    """Parameters whose chosen value is the first or last of an ordered numeric grid."""
    out = []
    for key, values in space.items():
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric and len(values) > 1 and chosen.get(key) in (min(values), max(values)):
            out.append(key)
    return out


def label(key: str) -> str:
    """The table label of a registry name (labels and unknown names pass through)."""
    return LABELS.get(key, key)


def model_name(text: str) -> str:
    """The registry name of a table label (the inverse of :func:`label`; names pass through)."""
    inverse = {v: k for k, v in LABELS.items()}
    return inverse.get(text.strip(), text.strip())


def _order(key: str) -> int:
    """Position of a label in LABELS (unknown labels last)."""
    names = list(LABELS)
    name = model_name(key)
    return names.index(name) if name in names else len(names)


def row_key(line: str) -> str:
    """The label in a table row's first cell, registry names mapped to labels."""
    return label(line.strip().strip("|").split("|")[0].strip())


def relabel_row(line: str) -> str:
    """A row whose first cell is a registry name (an older run's output) gets the label."""
    cells = line.split("|")
    if len(cells) > 2:
        cells[1] = f" {label(cells[1].strip())} "
    return "|".join(cells)


def trial_key(line: str) -> str | None:
    """The label of a "- LABEL (grid|random, N trials, ...)" line, or None."""
    m = _TRIAL.match(line)
    return label(m.group(1)) if m else None


def relabel_trial(line: str) -> str:
    m = _TRIAL.match(line)
    return f"- {label(m.group(1))}{line[len(m.group(1)) + 2 :]}" if m else line


def merge_rows(old: list[str], new: list[str], key) -> list[str]:
    """Rows of ``old`` with those of ``new`` replacing the same key; in the LABELS order, others last."""
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in new})
    keys = sorted(merged, key=_order)  # stable: unknown labels keep their order
    return [merged[k] for k in keys]


def split_notes(text: str) -> tuple[str, str]:
    """(the generated part, the notes part from the marker on; empty without a marker)."""
    if NOTES in text:
        i = text.index(NOTES)
        return text[:i], text[i:]
    return text, ""


def parse_table(head: str) -> dict:
    """The generated part of a table file: intro lines, header lines, rows, trial lines."""
    lines = head.rstrip("\n").split("\n")
    table = [i for i, ln in enumerate(lines) if ln.startswith("|")]
    if len(table) < 2:
        raise ValueError("no markdown table (a header and a |---| line) found")
    start = table[0]
    rows = []
    i = start + 2
    while i < len(lines) and lines[i].startswith("|"):
        rows.append(relabel_row(lines[i]))
        i += 1
    trials = [relabel_trial(ln) for ln in lines[i:] if trial_key(ln)]
    return {"intro": lines[:start], "header": lines[start : start + 2], "rows": rows, "trials": trials}


def _split_counts(intro: list[str]) -> tuple[str | None, ...]:
    """(train count, test count, budget) stated in a table's intro (None where absent)."""
    text = " ".join(intro)
    m, b = _SPLIT.search(text), _BUDGET.search(text)
    return (m.group(1) if m else None, m.group(2) if m else None, b.group(1) if b else None)


def merge_table(old: str, new: str) -> str:
    """``new``'s rows and trial lines merged into ``old`` (another run of this script); notes kept.

    Raises ValueError when the two were made on different splits (train/test counts differ), with
    different budgets or with different columns, since their rows would not be comparable.
    """
    old_head, notes = split_notes(old)
    new_head, new_notes = split_notes(new)
    a, b = parse_table(old_head), parse_table(new_head)
    if a["header"][0] != b["header"][0]:
        raise ValueError(f"the tables have different columns:\n{a['header'][0]}\n{b['header'][0]}")
    if _split_counts(a["intro"]) != _split_counts(b["intro"]):
        raise ValueError(
            f"the tables come from different splits or budgets ({_split_counts(a['intro'])} vs "
            f"{_split_counts(b['intro'])}: train interactions, test interactions, budget)"
        )
    rows = merge_rows(a["rows"], b["rows"], row_key)
    trials = merge_rows(a["trials"], b["trials"], trial_key)
    lines = [*a["intro"], *a["header"], *rows, "", TRIALS_HEAD, "", *trials]
    return "\n".join(lines) + "\n" + ("\n" + notes if notes else new_notes and "\n" + new_notes)


def replace_section(text: str, heading: str, body: list[str]) -> str:
    """``text`` with the section starting at ``heading`` (to the next "## " heading) replaced by
    ``heading`` + ``body``; a missing section goes right after the notes marker (or at the end)."""
    section = "\n".join([heading, "", *body]).rstrip("\n") + "\n"
    lines = text.split("\n")
    if heading in lines:
        i = lines.index(heading)
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        rest = "\n".join(lines[j:])
        return "\n".join(lines[:i]) + "\n" + section + ("\n" + rest if rest else "")
    if NOTES in text:
        i = text.index(NOTES) + len(NOTES)
        return text[:i] + "\n\n" + section + "\n" + text[i:].lstrip("\n")
    return text.rstrip("\n") + "\n\n" + section


def section_rows(text: str, heading: str) -> tuple[list[str], list[str], list[str]]:
    """(intro lines, table rows, lines after the table) of the section ``heading`` (empty when absent)."""
    lines = text.split("\n")
    if heading not in lines:
        return [], [], []
    i = lines.index(heading)
    j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
    body = lines[i + 1 : j]
    table = [k for k, ln in enumerate(body) if ln.startswith("|")]
    if len(table) < 2:
        return body, [], []
    end = table[0] + 2
    while end < len(body) and body[end].startswith("|"):
        end += 1
    return body[: table[0]], body[table[0] + 2 : end], body[end:]


_LITERALS = {"True": True, "False": False, "None": None}  # Python reprs written by _fmt_params


def parse_params(cell: str) -> dict:
    """The "tuned parameters" cell (``k=5000, similarity=cosine``) as a dict; values parsed as JSON."""
    cell = cell.strip()
    if not cell or cell.startswith("–") or cell == "defaults":
        return {}
    out = {}
    for part in re.split(r",\s*(?=[A-Za-z_]\w*=)", cell):
        key, _, value = part.partition("=")
        value = value.strip()
        try:
            out[key.strip()] = _LITERALS[value] if value in _LITERALS else json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}


def params_from_table(text: str) -> dict[str, dict]:
    """{registry name: tuned parameters} from the full-ranking table of a docs file."""
    head, _ = split_notes(text)
    out = {}
    for row in parse_table(head)["rows"]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        out[model_name(cells[0])] = parse_params(cells[1])
    return out


# --------------------------------------------------------------------------------------------
# the runs
# --------------------------------------------------------------------------------------------
def _split(data: Path, seed: int):
    from dancerec.recommender.data import read_lastfm
    from dancerec.recommender.splits import split_log

    return split_log(read_lastfm(data), "random", seed=seed, min_user_items=5)


def tuned_table(
    split, names: list[str], budget: int, seed: int, spaces: dict[str, dict[str, list]] | None = None
) -> str:
    """Tune every model in ``names``, evaluate once, and return the table file's generated part.

    ``spaces`` replaces a model's ``search_space`` (as ``recommender tune --space`` does)."""
    from dancerec.recommender.experiment import Experiment
    from dancerec.recommender.registry import MODELS, make_model
    from dancerec.recommender.tune import tune_model

    tunings, chosen, tune_s = {}, {}, {}
    for name in names:
        space = (spaces or {}).get(name)
        if not (space or MODELS[name].search_space):
            chosen[name] = {}
            continue
        started = time.perf_counter()
        tunings[name] = tune_model(
            name,
            split.train,
            space=space,
            budget=budget,
            seed=seed,
            progress=lambda done, total, status, _n=name: print(
                f"  [tune {_n}] {done}/{total} {status}", flush=True
            ),
        )
        tune_s[name] = time.perf_counter() - started
        chosen[name] = tunings[name].best_params
        print(json.dumps({"model": name, **tunings[name].to_dict()}, default=str)[:2000], flush=True)
    result = Experiment(split, {n: make_model(n, **chosen[n]) for n in names}, (10, 20)).run()

    n_users = len(split.test_users)
    budget_note = (
        f"at most {budget} configurations per model from its `search_space` (the whole grid when it fits, "
        f"else a seeded random sample of it)"
    )
    lines = [
        "# Last.fm-2k: tuned models, full ranking",
        "",
        f"Produced by `benchmarks/lastfm_table.py --budget {budget}` on "
        f"{platform.processor() or platform.machine()} (2 shared cores). Per-user random 80/20 split, seed "
        f"{seed}; users with fewer than 5 artists wholly in train; {split.train.matrix.nnz:,} train / "
        f"{split.test.matrix.nnz:,} test interactions; {n_users:,} users evaluated over all "
        f"{split.train.n_items:,} artists (their training artists removed). Every model tuned the same way "
        f"(`dancerec recommender tune`): a validation split carved from the training part (random, 20% of each "
        f"user's items, seed {seed}), {budget_note}, selection by validation NDCG@10; then refitted on the "
        "whole training part and evaluated once on the test part. Means over users; eval s = scoring, ranking "
        "and every metric (with 1,000-resample bootstrap CIs).",
        "",
        "| model | tuned parameters | P@10 | R@10 | NDCG@10 | P@20 | R@20 | NDCG@20 | tune s | train s | eval s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        ev = result.evaluations[name]
        cells = [f"{ev.mean(m, k):.4f}" for k in (10, 20) for m in ("precision", "recall", "ndcg")]
        tuned = f"{tune_s[name]:.0f}" if name in tune_s else "–"
        lines.append(
            f"| {label(name)} | {_fmt_params(chosen[name]) if name in tunings else NOTHING} | "
            f"{' | '.join(cells)} | {tuned} | {ev.train_s:.1f} | {ev.eval_s:.2f} |"
        )
    lines += ["", TRIALS_HEAD, ""]
    for name, t in tunings.items():
        keys = list(t.space)
        tried = "; ".join(
            f"{', '.join(f'{k}={row[k]}' for k in keys)}: {row['ndcg@10']:.4f}"
            for row in t.trials.to_dict("records")
        )
        edge = _edges(t.space, t.best_params)
        note = f" (chosen {', '.join(edge)} at the edge of the grid)" if edge else ""
        lines.append(
            f"- {label(name)} ({t.strategy}, {len(t.trials)} trials, {t.n_val_users:,} validation users): {tried}{note}"
        )
    return "\n".join(lines) + "\n"


PAPER_COLUMNS = [
    "accuracy",
    "auc",
    "auc_pooled",
    *(f"{m}@{k}" for k in PAPER_LENGTHS for m in ("precision", "recall")),
]


def paper_rows(split, params: dict[str, dict], names: list[str], seed: int = 42) -> list[str]:
    """One paper-protocol table row per model, each fitted once with its tuned ``params`` on ``split``."""
    from dancerec.recommender.paper_protocol import paper_protocol
    from dancerec.recommender.registry import make_model

    rows = []
    for name in names:
        if name not in params:
            raise SystemExit(f"no tuned parameters for {name!r} in --params-from (have: {', '.join(params)})")
        model = make_model(name, **params[name])
        started = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - started
        frame = paper_protocol(model, split.train, split.test.interactions, lengths=PAPER_LENGTHS, seed=seed)
        values = {
            (r.metric if str(r.k) == "<NA>" else f"{r.metric}@{r.k}"): float(r.value)
            for r in frame.itertuples()
        }
        cells = [f"{values[c]:.4f}" for c in PAPER_COLUMNS]
        n_users, n_pairs = int(frame["n_users"].iloc[0]), int(frame["n_pairs"].iloc[0])
        tuned = _fmt_params(params[name]) if params[name] else NOTHING
        rows.append(
            f"| {label(name)} | {tuned} | {' | '.join(cells)} | {n_users:,} | {n_pairs:,} | {fit_s:.1f} |"
        )
        print(rows[-1], flush=True)
    return rows


def paper_section(split, rows: list[str], seed: int) -> list[str]:
    """The body (intro + table) of the paper-protocol section."""
    head = "| model | tuned parameters | accuracy | AUC | AUC pooled | " + " | ".join(
        f"P@{k} | R@{k}" for k in PAPER_LENGTHS
    )
    head += " | users | pairs | fit s |"
    return [
        f"Produced by `benchmarks/lastfm_table.py --protocol paper --params-from docs/recommender-lastfm.md` on the "
        f"same split ({split.train.matrix.nnz:,} train / {split.test.matrix.nnz:,} test interactions): each model "
        "fitted once on the whole training part with the parameters of the full-ranking table above (chosen by "
        "validation NDCG@10, not by this protocol) and evaluated by the source paper's protocol "
        "(`recommender/paper_protocol.py`): per user, test artists with behaviour score ≥ 4 are positives and "
        f"those with score < 2 negatives, balanced by drawing min(#pos, #neg) of each (seed {seed}); accuracy = "
        "share of correct calls when each user's top half is called positive; AUC per user, averaged (AUC pooled: "
        "one AUC over all pairs); P@L / R@L over each user's candidates (P divides by min(L, candidates)). Users "
        "with no positive or no negative are left out. A user has about two positives and two negatives, so only "
        "L = 1 and 2 discriminate.",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
        *rows,
    ]


def _merge_paper(text: str, split, rows: list[str], seed: int) -> str:
    """The paper-protocol section with ``rows`` merged in; hand-written text below its table is kept."""
    _, old_rows, tail = section_rows(text, PAPER_HEAD)
    merged = merge_rows([relabel_row(r) for r in old_rows], rows, row_key)
    return replace_section(text, PAPER_HEAD, [*paper_section(split, merged, seed), *tail])


def _load_params(path: Path) -> dict[str, dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return {
            k: {p: tuple(v) if isinstance(v, list) else v for p, v in d.items()}
            for k, d in json.loads(text).items()
        }
    return params_from_table(text)


def _write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "hetrec2011-lastfm-2k")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "recommender-lastfm.md")
    parser.add_argument(
        "--models", default=None, help=f"comma-separated registry names (default {DEFAULT_MODELS})"
    )
    parser.add_argument("--budget", type=int, default=12, help="trials per model (the same for every model)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--replace", action="store_true", help="overwrite the table instead of merging rows")
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="merge these tables into --out; run nothing"
    )
    parser.add_argument(
        "--space",
        action="append",
        default=None,
        help="MODEL.PARAM=V1,V2,... replacing MODEL's search space (repeatable; as `recommender tune --space`)",
    )
    parser.add_argument("--protocol", choices=("full", "paper"), default="full")
    parser.add_argument(
        "--params-from", type=Path, default=None, help="docs table or JSON of tuned parameters"
    )
    args = parser.parse_args()
    old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""

    if args.merge:
        text = old
        for path in args.merge:
            new = path.read_text(encoding="utf-8")
            text = merge_table(text, new) if text else new
        _write(args.out, text)
        return
    if args.protocol == "paper":
        params = _load_params(args.params_from or args.out)
        names = [m.strip() for m in (args.models or ",".join(params)).split(",") if m.strip()]
        split = _split(args.data, args.seed)
        rows = paper_rows(split, params, names, seed=args.seed)
        _write(args.out, _merge_paper(old, split, rows, args.seed))
        return
    names = [m.strip() for m in (args.models or DEFAULT_MODELS).split(",") if m.strip()]
    from dancerec.recommender.tune import parse_space

    spaces = parse_space(args.space, names)
    new = tuned_table(_split(args.data, args.seed), names, args.budget, args.seed, spaces)
    print(new)
    if old and not args.replace:
        text = merge_table(old, new)
    else:
        text = new + ("\n" + split_notes(old)[1] if split_notes(old)[1] else "")
    _write(args.out, text)


if __name__ == "__main__":
    main()
