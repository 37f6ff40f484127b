"""Interaction loaders, behaviour scores, labels, activity filters, splits and the study store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dancerec.recommender import data, splits
from dancerec.recommender.simulate import simulate_world

from dancerec.errors import InputError, UserError


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# ---------------------------------------------------------------- loaders
def test_taste_profile_triplets(tmp_path):
    f = _write(tmp_path / "train_triplets.txt", "u1\tSOA\t3\nu1\tSOB\t1\nu2\tSOA\t12\n")
    log = data.read_taste_profile(f)
    assert log.interactions[["user_id", "item_id", "plays"]].values.tolist() == [
        ["u1", "SOA", 3.0],
        ["u1", "SOB", 1.0],
        ["u2", "SOA", 12.0],
    ]
    assert log.source == "taste-profile" and log.n_users == 2 and log.n_items == 2


def test_movielens_udata(tmp_path):
    f = _write(tmp_path / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    log = data.read_movielens(f)
    assert log.interactions["rating"].tolist() == [3.0, 3.0]
    assert log.interactions["timestamp"].iloc[0] == pd.Timestamp("1997-12-04 15:55:49")


def test_generic_table_with_mapping_crlf(tmp_path):
    f = _write(tmp_path / "log.csv", "uid,song,when,n,liked\r\na,x,2024-01-02,4,1\r\nb,y,2024-01-03,1,0\r\n")
    log = data.read_table(
        f, {"user_id": "uid", "item_id": "song", "timestamp": "when", "plays": "n", "praise": "liked"}
    )
    assert log.interactions["praise"].tolist() == [1, 0]
    assert log.interactions["kind"].tolist() == ["music", "music"]


def test_bad_value_names_file_row_and_column(tmp_path):
    f = _write(tmp_path / "log.csv", "user,item,plays\na,x,3\nb,y,lots\nc,z,2\n")
    with pytest.raises(InputError) as err:
        data.read_table(f, {"user_id": "user", "item_id": "item", "plays": "plays"})
    msg = str(err.value)
    assert "log.csv" in msg and "row 3" in msg and "'plays'" in msg and "lots" in msg
    log = data.read_table(f, {"user_id": "user", "item_id": "item", "plays": "plays"}, skip_bad_rows=True)
    assert log.n_bad_rows == 1 and log.interactions["user_id"].tolist() == ["a", "c"]


def test_malformed_line_and_negative_count(tmp_path):
    f = _write(tmp_path / "t.tsv", "u1\tA\t3\nu1\tB\nu2\tA\t-4\n")
    with pytest.raises(InputError, match=r"row 2"):
        data.read_taste_profile(f)
    log = data.read_taste_profile(f, skip_bad_rows=True)
    assert log.n_bad_rows == 2 and len(log.interactions) == 1


def test_missing_column_is_reported(tmp_path):
    f = _write(tmp_path / "log.csv", "user,item\na,x\n")
    with pytest.raises(InputError, match="column 'plays' not found"):
        data.read_table(f, {"user_id": "user", "item_id": "item", "plays": "plays"})


def test_lastfm_counts_and_latin1_tags(lastfm_dir):
    log = data.read_lastfm(lastfm_dir)
    assert len(log.interactions) == 92_834 and log.n_users == 1_892 and log.n_items == 17_632
    assert log.interactions["plays"].max() == 352_698
    tags = log.items["tags"]
    assert tags.map(len).gt(0).sum() > 10_000
    every_tag = {t for lst in data.read_lastfm(lastfm_dir, max_tags=10_000).items["tags"] for t in lst}
    assert {"rock français", "español", "fußball"} & every_tag  # Latin-1 decoded


# ---------------------------------------------------------------- behaviour scores and labels
def test_behaviour_scores_by_hand():
    frame = pd.DataFrame(
        {
            "user_id": ["a"] * 5 + ["b", "b"],
            "item_id": [*list("vwxyz"), "v", "w"],
            "plays": [1, 2, 3, 4, 5, 10, 10],
            "praise": [0, 0, 0, 1, 0, 0, 0],
            "collect": [0, 0, 0, 0, 1, 0, 1],
        }
    )
    scores = data.behaviour_scores(frame)
    # user a: quintiles 1..5; +4 praise on y, +6 collect on z. user b: tied plays -> both top quintile (5)
    assert scores.tolist() == [1, 2, 3, 4 + 4, 5 + 6, 5, 5 + 6]


def test_rating_and_dance_points():
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "item_id": ["x", "y", "x"],
            "rating": [2.0, 5.0, np.nan],
            "dance_score": [90, np.nan, 30],
        }
    )
    # a/x: max(rating 2, dance ceil(90/20)=5) = 5; a/y: rating 5; b/x: no plays/rating -> 3, dance 2 -> 3
    assert data.behaviour_scores(frame).tolist() == [5, 5, 3]


def test_labels_balance_negatives_to_positives():
    inter = pd.DataFrame(
        {"user": [0] * 6 + [1] * 3, "item": [0, 1, 2, 3, 4, 5, 0, 1, 2], "score": [5, 9, 1, 1, 1, 3, 4, 1, 1]}
    )
    lab = data.label_interactions(inter, n_items=10, seed=3)
    u0 = lab[lab["user"] == 0]
    assert sorted(u0.loc[u0.label == 1, "item"]) == [0, 1]
    assert (u0.label == 0).sum() == 2 and set(u0.loc[u0.label == 0, "item"]) <= {2, 3, 4}
    u1 = lab[lab["user"] == 1]
    assert u1.label.tolist().count(1) == 1 and u1.label.tolist().count(0) == 1
    # same seed, same labels
    pd.testing.assert_frame_equal(lab, data.label_interactions(inter, n_items=10, seed=3))


def test_labels_fill_from_unobserved_when_short():
    inter = pd.DataFrame({"user": [0, 0, 0], "item": [0, 1, 2], "score": [5, 6, 7]})
    lab = data.label_interactions(inter, n_items=6, seed=1)
    negs = lab.loc[lab.label == 0, "item"].tolist()
    assert len(negs) == 3 and set(negs) <= {3, 4, 5}


def test_activity_filter_reports_density():
    frame = pd.DataFrame(
        {"user_id": ["a", "a", "b", "c"], "item_id": ["x", "y", "x", "z"], "plays": [60, 50, 5, 200]}
    )
    sub, size = data.activity_filter(data.InteractionLog(frame), min_user_plays=100)
    assert sorted(sub.interactions["user_id"].unique()) == ["a", "c"]
    assert (size.n_users, size.n_items, size.n_interactions) == (2, 3, 3)
    assert size.density == pytest.approx(3 / 6)


# ---------------------------------------------------------------- splits
@pytest.fixture(scope="module")
def world():
    return simulate_world(120, 150, mean_items=20, seed=3)


def test_simulator_is_seeded_and_has_the_schema(world):
    again = simulate_world(120, 150, mean_items=20, seed=3)
    pd.testing.assert_frame_equal(world.log.interactions, again.log.interactions)
    inter = world.log.interactions
    assert set(data.INTERACTION_COLUMNS) <= set(inter.columns)
    assert set(inter["kind"]) == {"music", "dance"}
    assert (
        inter["dance_score"].notna().any() and (inter.loc[inter.kind == "music", "dance_score"].isna()).all()
    )
    assert inter.duplicated(["user_id", "item_id"]).sum() == 0
    # overdispersed plays: variance well above the mean
    assert inter["plays"].var() > 5 * inter["plays"].mean()
    # preference drives praise: praised items have higher true preference than unpraised ones
    u = inter["user_id"].str[1:].astype(int).to_numpy()
    i = inter["item_id"].str[1:].astype(int).to_numpy()
    pref = np.einsum("ij,ij->i", world.user_factors[u], world.item_factors[i])
    assert pref[inter.praise.to_numpy() == 1].mean() > pref[inter.praise.to_numpy() == 0].mean()


def test_simulator_streams_the_same_world(tmp_path, world):
    streamed = simulate_world(120, 150, mean_items=20, seed=3, out=tmp_path / "w", chunk_users=37)
    got = pd.read_parquet(tmp_path / "w" / "interactions.parquet")
    assert streamed.n_interactions == len(world.log.interactions) == len(got)


def test_chronological_split(world):
    s = splits.split_log(world.log, "chronological", seed=1)
    tr, te = s.train.interactions, s.test.interactions
    last_train = tr.groupby("user")["timestamp"].max()
    first_test = te.groupby("user")["timestamp"].min()
    assert (last_train.reindex(first_test.index) <= first_test).all()
    n = pd.concat([tr, te]).groupby("user").size()
    n_test = te.groupby("user").size().reindex(n.index, fill_value=0)
    expected = np.where(n < 5, 0, np.maximum(1, np.floor(0.2 * n + 0.5)))
    assert (n_test.to_numpy() == expected).all()
    assert s.train.matrix.multiply(s.test.matrix).nnz == 0
    assert s.train.item_features is not None and "tags" in s.train.item_features.columns
    assert s.train.user_features is not None and "age" in s.train.user_features.columns


def test_random_split_is_seeded(world):
    a = splits.split_log(world.log, "random", seed=42)
    b = splits.split_log(world.log, "random", seed=42)
    c = splits.split_log(world.log, "random", seed=43)
    assert (a.test.matrix != b.test.matrix).nnz == 0
    assert (a.test.matrix != c.test.matrix).nnz > 0
    assert a.test.matrix.nnz == c.test.matrix.nnz  # same per-user counts, other items


def test_loo_and_small_users_stay_in_train():
    frame = pd.DataFrame(
        {
            "user_id": ["a"] * 6 + ["b"] * 3,
            "item_id": [f"x{i}" for i in range(6)] + ["x0", "x1", "x2"],
            "timestamp": pd.date_range("2024-01-01", periods=9, freq="D"),
        }
    )
    s = splits.split_log(data.InteractionLog(frame), "loo")
    assert s.test.matrix.nnz == 1
    assert s.test.item_ids[s.test.matrix[0].indices[0]] == "x5"
    assert s.train.matrix[1].nnz == 3 and len(s.test_users) == 1


def test_chronological_needs_timestamps(lastfm_dir, tmp_path):
    frame = pd.DataFrame({"user_id": ["a"] * 5, "item_id": list("vwxyz")})
    with pytest.raises(UserError, match="needs timestamps"):
        splits.split_log(data.InteractionLog(frame), "chronological")


def test_holdout_carves_validation_from_train(world):
    s = splits.split_log(world.log, "random", seed=1)
    v = splits.holdout(s.train, seed=2)
    assert v.train.matrix.nnz + v.test.matrix.nnz == s.train.matrix.nnz
    assert v.test.matrix.multiply(s.test.matrix).nnz == 0


def test_lastfm_seed42_random_split(lastfm_dir):
    s = splits.split_log(data.read_lastfm(lastfm_dir), "random", seed=42)
    n = np.diff(s.train.matrix.indptr) + np.diff(s.test.matrix.indptr)
    n_test = np.diff(s.test.matrix.indptr)
    assert (n_test[n < 5] == 0).all() and (n_test[n >= 5] >= 1).all()
    assert s.train.matrix.nnz + s.test.matrix.nnz == 92_834
    assert len(s.test_users) == int((n >= 5).sum())


# ---------------------------------------------------------------- the study store
def test_import_split_and_load_back(study, tmp_path, world):
    simulate_world(60, 80, mean_items=10, seed=2, out=tmp_path / "sim")
    info = data.import_file(study, tmp_path / "sim", "sim", source="simulated")
    assert info.n_users == 60 and info.path.is_dir()
    assert data.list_datasets(study)["name"].tolist() == ["sim"]
    sp_info = splits.split_dataset(study, "sim", "chronological")
    assert sp_info.seed == study.config.seed
    s = splits.load_split(study, sp_info.name)
    assert s.train.matrix.nnz == sp_info.n_train and s.test.matrix.nnz == sp_info.n_test
    log = data.load_log(study, "sim")
    assert len(log.interactions) == info.n_interactions
    with pytest.raises(UserError, match="already exists"):
        data.import_file(study, tmp_path / "sim", "sim", source="simulated")


def test_failed_import_leaves_the_store_unchanged(study, tmp_path):
    bad = _write(tmp_path / "bad.csv", "user,item,plays\na,x,1\nb,y,oops\n")
    with pytest.raises(InputError):
        data.import_file(study, bad, "bad", mapping={"user_id": "user", "item_id": "item", "plays": "plays"})
    assert data.list_datasets(study).empty
    assert not (data.datasets_dir(study) / "bad").exists()
    info = data.import_file(
        study,
        bad,
        "bad",
        mapping={"user_id": "user", "item_id": "item", "plays": "plays"},
        skip_bad_rows=True,
    )
    assert info.n_bad_rows == 1 and info.n_interactions == 1


def test_import_with_activity_filter(study, tmp_path):
    rows = "\n".join(f"u{u}\ts{i}\t{(u + 1) * 10}" for u in range(5) for i in range(4))
    f = _write(tmp_path / "tp.txt", rows + "\n")
    info = data.import_file(study, f, "tp100", source="taste-profile", min_user_plays=100)
    # user u totals 40(u+1) plays: u2, u3, u4 have at least 100
    assert info.n_users == 3 and info.density == pytest.approx(1.0)


def test_external_split(study, tmp_path):
    tr = _write(tmp_path / "tr.csv", "user,item\na,x\na,y\nb,x\n")
    te = _write(tmp_path / "te.csv", "user,item\na,z\nb,y\n")
    mapping = {"user_id": "user", "item_id": "item"}
    data.import_file(study, tr, "ext.train", mapping=mapping)
    data.import_file(study, te, "ext.test", mapping=mapping)
    info = splits.split_external(study, "ext", "ext.train", "ext.test")
    s = splits.load_split(study, info.name)
    assert (info.n_train, info.n_test, info.n_test_users) == (3, 2, 2)
    assert list(s.train.item_ids) == ["x", "y", "z"]
    assert s.test.matrix[0].indices.tolist() == [2]


def test_activity_filter_keeps_the_log_order():
    """DuckDB's parallel joins return rows in a varying order; the subset keeps the log's (2 orders in 15
    runs before)."""
    rng = np.random.default_rng(0)
    n = 200_000
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, 3000, n).astype(str),
            "item_id": rng.integers(0, 5000, n).astype(str),
            "plays": rng.integers(1, 50, n),
        }
    )
    sub, _ = data.activity_filter(data.InteractionLog(frame), min_user_plays=1500, min_item_users=2)
    kept = frame.merge(sub.interactions[["user_id", "item_id"]].drop_duplicates(), on=["user_id", "item_id"])
    assert 0 < len(sub.interactions) < n
    np.testing.assert_array_equal(sub.interactions["user_id"].to_numpy(), kept["user_id"].to_numpy())
    np.testing.assert_array_equal(sub.interactions["item_id"].to_numpy(), kept["item_id"].to_numpy())
