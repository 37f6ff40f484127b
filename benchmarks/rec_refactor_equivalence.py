"""Do two versions of the recommender subsystem give the same results, bit for bit, and the same errors?

    .venv/bin/python benchmarks/rec_refactor_equivalence.py BASE_REV [--lastfm DIR] [--relation]

Evidence for behaviour-preserving refactors of ``recommender/``: the tree at ``BASE_REV`` (``git archive``)
and the working tree each run, in a child process importing that tree's packages, one fixed script —
every loader (Taste Profile, MovieLens, generic CSV/Parquet, Last.fm), bad-input messages, behaviour
scores, labels, the simulator (in memory, streamed, large-catalogue path, progress calls), every import
source into a study, every split method and the external split, and every baseline evaluated under the
full and the sampled protocol with ``rank_top_k`` and raw scores (``--relation``: also the relation,
relation-rank and FISM models). Every result and every error message is pickled and the two are
compared exactly (frames with ``check_exact``, arrays with ``array_equal``). Temp paths are fixed so
messages naming files compare equal. ``activity_filter``'s rows are compared sorted: DuckDB returns
them in a thread-dependent order in both versions.

The Last.fm-2k folder (default ../shared/data/hetrec2011-lastfm-2k) is used when present.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.gettempdir()) / "dancerec-rec-equivalence"


def _import_from(root: Path) -> None:
    """Point the editable install's package mapping at ``root`` before anything of dancerec loads."""
    finder = next(m for n, m in sys.modules.items() if n.startswith("__editable__") and "dancerec" in n)
    for key in list(finder.MAPPING):
        finder.MAPPING[key] = str(root / Path(finder.MAPPING[key]).name)


def _dir_frames(directory: Path) -> dict:
    import pandas as pd

    names = ("interactions.parquet", "users.parquet", "items.parquet")
    return {f: pd.read_parquet(directory / f) for f in names if (directory / f).exists()}


def _files(tmp: Path) -> dict[str, Path]:
    """Small input files, good and bad, for every reader."""
    texts = {
        "tp.tsv": "a\tx\t3\na\ty\t10\nb\tx\t1\nb\tz\t7\nc\ty\t2\nc\tz\t100\n",
        "tpbad.tsv": "a\tx\t3\na\ty\tnope\nb\tx\t-1\nb\tz\n\tq\t5\nc\ty\t2\n",
        "u.data": "1\t10\t4\t881250949\n1\t11\t2\t881250950\n2\t10\t5\t881250951\n2\t12\t1\t881250952\n",
        "t.csv": "user,item,plays,ts,praise\nu1,i1,3,2020-01-01,1\nu1,i2,,2020-01-02,0\n"
        "u2,i1,5,1577836800,0\nu2,i3,2,2020-02-01 10:00:00,1\n",
        "tb.csv": "user,item,plays,ts,praise\nu1,i1,3,2020-01-01,1\nu1,i2,x,2020-01-02,0\n"
        "u2,i1,5,notatime,2\nu2,,2,2020-02-01,1\n",
        "tr.csv": "user,item\na,x\na,y\nb,x\nc,q\n",
        "te.csv": "user,item\na,z\nb,y\nd,x\n",
    }
    out = {}
    for name, text in texts.items():
        out[name] = tmp / name
        out[name].write_text(text)
    return out


def _data_cases(rec, tmp: Path, lastfm: Path | None) -> None:
    """Loaders, bad input, scores, labels, the simulator."""
    import pandas as pd
    from dancerec.recommender import data
    from dancerec.recommender.simulate import simulate_world

    f = _files(tmp)
    m = {"user_id": "user", "item_id": "item", "plays": "plays", "timestamp": "ts", "praise": "praise"}
    pm = {"user_id": "u", "item_id": "i", "plays": "p"}
    pd.DataFrame({"u": ["a", "b", None], "i": ["x", "y", "z"], "p": [1.0, -2.0, 3.0]}).to_parquet(
        tmp / "p.parquet"
    )
    rec("tp", lambda: data.read_taste_profile(f["tp.tsv"]).interactions)
    rec("tp_bad", lambda: data.read_taste_profile(f["tpbad.tsv"]))
    rec("tp_skip", lambda: vars(data.read_taste_profile(f["tpbad.tsv"], skip_bad_rows=True)))
    rec("ml", lambda: data.read_movielens(f["u.data"]).interactions)
    rec("csv", lambda: data.read_table(f["t.csv"], m).interactions)
    rec("csv_bad", lambda: data.read_table(f["tb.csv"], m))
    rec("csv_skip", lambda: vars(data.read_table(f["tb.csv"], m, skip_bad_rows=True)))
    rec("csv_no_column", lambda: data.read_table(f["t.csv"], {"user_id": "usr", "item_id": "item"}))
    rec("csv_unknown", lambda: data.read_table(f["t.csv"], {"user_id": "user", "item_id": "item", "x": "x"}))
    rec("csv_no_item", lambda: data.read_table(f["t.csv"], {"user_id": "user"}))
    rec("no_file", lambda: data.read_table(tmp / "nope.csv", m))
    rec("parquet_bad", lambda: data.read_table(tmp / "p.parquet", pm))
    rec("parquet_skip", lambda: vars(data.read_table(tmp / "p.parquet", pm, skip_bad_rows=True)))
    if lastfm is not None:
        rec("lastfm", lambda: vars(data.read_lastfm(lastfm)))
    sim = simulate_world(300, 250, mean_items=20, seed=3)
    rec("sim", lambda: vars(sim))

    def simulate_more() -> tuple:
        a: list[int] = []
        b: list[int] = []
        simulate_world(150, 120, mean_items=10, seed=5, chunk_users=40, progress=a.append)
        streamed = simulate_world(
            150, 120, mean_items=10, seed=5, chunk_users=40, progress=b.append, out=tmp / "sp"
        )
        large = simulate_world(60, 400, mean_items=30, seed=8, exact_items=100).log.interactions
        return a, b, streamed.n_interactions, _dir_frames(tmp / "sp"), large

    rec("sim_more", simulate_more)
    rec(
        "sim_stream",
        lambda: (
            simulate_world(300, 250, mean_items=20, seed=3, out=tmp / "simw", chunk_users=77).n_interactions
        ),
    )
    rec("sim_bad", lambda: simulate_world(0, 10))
    rec("sim_bad_mean", lambda: simulate_world(10, 10, mean_items=20))
    inter = sim.log.interactions
    scores = data.behaviour_scores(inter)
    rec("scores", lambda: scores)
    codes = pd.DataFrame(
        {
            "user": inter.user_id.str[1:].astype(int),
            "item": inter.item_id.str[1:].astype(int),
            "score": scores,
        }
    )
    rec("labels", lambda: data.label_interactions(codes, 250, seed=5))
    rec(
        "activity_filter",
        lambda: (
            lambda r: (r[0].interactions.sort_values(["user_id", "item_id"]).reset_index(drop=True), r[1])
        )(data.activity_filter(sim.log, min_user_plays=50, min_item_users=3)),
    )


def _store_cases(rec, tmp: Path, lastfm: Path | None, study) -> None:
    """Imports of every source, store errors, splits."""
    from dancerec.recommender import data, splits
    from dancerec.recommender.simulate import simulate_world

    f = _files(tmp)
    m = {"user_id": "user", "item_id": "item", "plays": "plays", "timestamp": "ts", "praise": "praise"}

    def imp(name, path, **kw):
        return lambda: (
            data.import_file(study, path, name, **kw),
            _dir_frames(data.dataset_info(study, name).path),
        )

    if lastfm is not None:
        rec("imp_lastfm", imp("lfm", lastfm, source="lastfm"))
    rec("imp_tp", imp("tpb", f["tpbad.tsv"], source="taste-profile", skip_bad_rows=True))
    rec("imp_tp_bad", imp("tpb2", f["tpbad.tsv"], source="taste-profile"))
    rec("imp_ml", imp("ml", f["u.data"], source="movielens"))
    rec("imp_sim", imp("sim", tmp / "simw", source="simulated", min_user_plays=30, min_item_users=2))
    rec("imp_sim_all", imp("simall", tmp / "simw", source="simulated"))
    rec("imp_table", imp("tab", f["t.csv"], mapping=m))
    rec("imp_no_map", imp("tab2", f["t.csv"]))
    rec("imp_bad_source", imp("tab3", f["t.csv"], source="nope"))
    rec("imp_duplicate", imp("tab", f["t.csv"], mapping=m))
    rec("imp_bad_name", imp("bad name", f["t.csv"], mapping=m))
    rec("imp_empty", imp("tab4", f["t.csv"], mapping=m, min_user_items=99))
    log = simulate_world(120, 100, mean_items=10, seed=2).log
    rec(
        "imp_log",
        lambda: (data.import_log(study, log, "simlog"), _dir_frames(data.dataset_info(study, "simlog").path)),
    )
    rec("list", lambda: data.list_datasets(study).drop(columns="created_at"))
    rec("load_log", lambda: data.load_log(study, "tab").interactions)
    rec("no_dataset", lambda: data.dataset_info(study, "nope"))
    for dataset in ("lfm", "simall"):
        for method in ("random", "loo", "chronological", "auto"):
            rec(
                f"split_{dataset}_{method}",
                lambda d=dataset, me=method: splits.split_dataset(study, d, me, seed=3),
            )
    ext = {"user_id": "user", "item_id": "item"}
    rec("ext_train", lambda: data.import_file(study, f["tr.csv"], "ext.train", mapping=ext))
    rec("ext_test", lambda: data.import_file(study, f["te.csv"], "ext.test", mapping=ext))
    rec("split_ext", lambda: splits.split_external(study, "ext", "ext.train", "ext.test"))
    rec("split_ext_again", lambda: splits.split_external(study, "ext", "ext.train", "ext.test"))
    rec("split_ext_missing", lambda: splits.split_external(study, "ext2", "ext.train", "nope"))
    rec("splits", lambda: splits.list_splits(study).drop(columns="created_at"))
    for name in splits.list_splits(study)["name"]:
        rec(
            f"load_{name}",
            lambda n=name: (
                vars(splits.load_split(study, n).train) | {"test": splits.load_split(study, n).test.matrix}
            ),
        )


def _model_cases(rec, study, relation: bool) -> None:
    """Every baseline (and optionally the relation models) fitted and evaluated on each stored split."""
    import numpy as np
    from dancerec.recommender import evaluate as ev
    from dancerec.recommender import splits
    from dancerec.recommender.registry import make_model

    def pack(e) -> tuple:
        return (
            e.model,
            e.params,
            e.k_list,
            e.summary,
            e.curves,
            e.per_user,
            e.coverage,
            e.protocol,
            e.diversity_space,
        )

    names = [n for n in splits.list_splits(study)["name"] if n.endswith("-random")]
    models = [("mostpop", {}), ("ease", {}), ("itemknn", {}), ("userknn", {}), ("svd", {}), ("content", {})]
    models.append(("als", {"n_factors": 16}))
    if relation:
        models += [("relation", {"epochs": 2, "hidden": 16, "embed_dim": 8, "batch_size": 256, "seed": 1})]
        models += [("relation-rank", {"epochs": 2, "seed": 1}), ("fism", {"epochs": 2, "seed": 1})]
    for split_name in names:
        s = splits.load_split(study, split_name)
        users = np.arange(0, s.train.n_users, 3)
        for model_name, params in models:

            def run(model_name=model_name, params=params, s=s, users=users):
                model = make_model(model_name, **params).fit(s.train)
                full = ev.evaluate(model, s.train, s.test, n_bootstrap=50)
                sampled = ev.evaluate(
                    model,
                    s.train,
                    s.test,
                    (3, 7),
                    sampled_negatives=50,
                    n_bootstrap=20,
                    seed=9,
                    curve_max_k=10,
                    batch_size=100,
                )
                return (
                    pack(full),
                    pack(sampled),
                    ev.rank_top_k(model, s.train, users, 15),
                    model.score(users[:50]),
                )

            rec(f"eval_{split_name}_{model_name}", run)
        mostpop = make_model("mostpop").fit(s.train)
        rec(
            f"eval_min_score_{split_name}",
            lambda s=s, mp=mostpop: pack(
                ev.evaluate(mp, s.train, s.test, relevant_min_score=8.0, n_bootstrap=10, curve_max_k=60)
            ),
        )
        rec(f"eval_bad_k_{split_name}", lambda s=s, mp=mostpop: ev.evaluate(mp, s.train, s.test, (0, 5)))


def collect(root: Path, out: Path, lastfm: Path | None, relation: bool) -> None:
    """Child process: run every case with ``root``'s packages; pickle ``{case: result or error}``."""
    _import_from(root)
    import dancerec.recommender

    from dancerec.workspace import Study

    assert dancerec.recommender.__file__.startswith(str(root)), dancerec.recommender.__file__
    results: dict = {}

    def rec(key: str, fn) -> None:
        try:
            results[key] = ("ok", fn())
        except Exception as exc:  # the error text is part of the behaviour compared
            results[key] = ("error", type(exc).__name__, str(exc))

    shutil.rmtree(WORK / "run", ignore_errors=True)
    tmp = WORK / "run"
    tmp.mkdir(parents=True)
    _data_cases(rec, tmp, lastfm)
    study = Study.init(tmp / "study", name="eq", seed=7)
    _store_cases(rec, tmp, lastfm, study)
    _model_cases(rec, study, relation)
    out.write_bytes(pickle.dumps(results))


def differences(a, b, path: str = "") -> list[str]:
    """Where two pickled result trees differ (exactly; NaN equals NaN)."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    if type(a) is not type(b):
        return [f"{path}: {type(a).__name__} vs {type(b).__name__}"]
    if isinstance(a, pd.DataFrame | pd.Series):
        check = (
            pd.testing.assert_frame_equal if isinstance(a, pd.DataFrame) else pd.testing.assert_series_equal
        )
        try:
            check(a, b, check_exact=True)
        except AssertionError as exc:
            return [f"{path}: {str(exc).splitlines()[0]}"]
        return []
    if isinstance(a, np.ndarray):
        same = a.shape == b.shape and a.dtype == b.dtype
        same = same and (
            a.tolist() == b.tolist()
            if a.dtype == object
            else np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
        return [] if same else [f"{path}: arrays differ"]
    if sp.issparse(a):
        return (
            []
            if a.shape == b.shape and a.dtype == b.dtype and (a != b).nnz == 0
            else [f"{path}: sparse differs"]
        )
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} vs {len(b)}"]
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys differ {sorted(set(a) ^ set(b), key=str)}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    if hasattr(a, "__dataclass_fields__"):
        return [
            d
            for f in a.__dataclass_fields__
            for d in differences(getattr(a, f), getattr(b, f), f"{path}.{f}")
        ]
    if isinstance(a, float) and a != a and b != b:
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision to compare the working tree with")
    parser.add_argument(
        "--lastfm", type=Path, default=REPO.parent / "shared" / "data" / "hetrec2011-lastfm-2k"
    )
    parser.add_argument(
        "--relation", action="store_true", help="also the relation, relation-rank and FISM models"
    )
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    lastfm = args.lastfm if (args.lastfm / "user_artists.dat").exists() else None
    if args.child:
        collect(Path(args.child[0]), Path(args.child[1]), lastfm, args.relation)
        return 0
    base_root = WORK / "base"
    shutil.rmtree(base_root, ignore_errors=True)
    base_root.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", args.base], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(base_root)], input=archive.stdout, check=True)
    pickles = {}
    for label, root in (("base", base_root), ("working tree", REPO)):
        pickles[label] = WORK / f"{label.replace(' ', '_')}.pkl"
        extra = ["--relation"] if args.relation else []
        child = [
            sys.executable,
            __file__,
            args.base,
            "--lastfm",
            str(args.lastfm),
            *extra,
            "--child",
            str(root),
            str(pickles[label]),
        ]
        subprocess.run(child, check=True)
    a, b = (pickle.loads(p.read_bytes()) for p in pickles.values())
    diffs = differences(a, b)
    n_errors = sum(v[0] == "error" for v in a.values())
    print(
        f"{len(a)} cases ({n_errors} expected errors), Last.fm: {'yes' if lastfm else 'absent'}; base {args.base}"
    )
    print("\n".join(diffs[:50]) if diffs else "IDENTICAL: every result and every error message")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
