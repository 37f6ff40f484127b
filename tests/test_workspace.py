from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from dancerec.errors import NotAStudyError, SchemaError, StudyExistsError, UserError
from dancerec.workspace import (
    DB_FILE,
    STUDY_FILE,
    Migration,
    Study,
    StudyConfig,
    migrate,
    pseudonymise,
    schema_versions,
)


def test_init_creates_the_layout_and_config(tmp_path):
    Study.init(tmp_path / "s", name="pilot", instrument="mine.toml", group_column="arm", seed=11)
    assert (tmp_path / "s" / STUDY_FILE).is_file()
    assert (tmp_path / "s" / DB_FILE).is_file()
    assert (tmp_path / "s" / "artifacts").is_dir()
    reopened = Study.open(tmp_path / "s")
    assert reopened.config.name == "pilot"
    assert reopened.config.instrument == "mine.toml"
    assert reopened.config.group_column == "arm"
    assert reopened.config.seed == 11
    with reopened.read() as con:
        assert schema_versions(con)["core"] == 1


def test_second_init_refuses_and_changes_nothing(study):
    before = study.config_path.read_bytes()
    with pytest.raises(StudyExistsError, match="already a dancerec study"):
        Study.init(study.root, seed=99)
    assert study.config_path.read_bytes() == before


def test_open_refuses_a_folder_that_is_not_a_study(tmp_path):
    with pytest.raises(NotAStudyError, match="is not a dancerec study"):
        Study.open(tmp_path)


def test_locate_uses_the_environment_variable(study, monkeypatch, tmp_path):
    monkeypatch.setenv("DANCEREC_STUDY", str(study.root))
    assert Study.locate().root == study.root
    monkeypatch.delenv("DANCEREC_STUDY")
    monkeypatch.chdir(study.root)
    assert Study.locate().config.name == "test"


def test_config_round_trip_and_bad_toml(study):
    study.config.groups = {"A": "run-1", "B": "run-2"}
    study.save_config()
    assert Study.open(study.root).config.groups == {"A": "run-1", "B": "run-2"}
    study.config_path.write_text("[study\nname=", encoding="utf-8")
    with pytest.raises(UserError, match="not valid TOML"):
        Study.open(study.root)


def test_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('[study]\nname = "x"\nsed = 3\n', encoding="utf-8")
    with pytest.raises(UserError, match="unknown key"):
        StudyConfig.from_toml(path)


def test_transaction_rolls_back_on_error(study):
    with study.transaction() as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        con.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), study.transaction() as con:
        con.execute("INSERT INTO t VALUES (2)")
        con.execute("CREATE TABLE u (y INTEGER)")
        raise RuntimeError("boom")
    with study.read() as con:
        assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
        assert "u" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}


def test_a_killed_process_leaves_the_store_as_it_was(study):
    """A writer killed mid-transaction (no rollback, no close) must leave no trace."""
    with study.transaction() as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    script = textwrap.dedent(
        f"""
        import os
        from dancerec.workspace import Study
        s = Study.open({str(study.root)!r})
        with s.transaction() as con:
            con.execute("INSERT INTO t SELECT * FROM range(1000)")
            os._exit(9)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == 9
    with Study.open(study.root).read() as con:
        assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def _components(tmp_module, migrations):
    tmp_module.MIGRATIONS = migrations
    return {"core": "dancerec.workspace:CORE_MIGRATIONS", "fake": f"{tmp_module.__name__}:MIGRATIONS"}


@pytest.fixture
def fake_module(monkeypatch):
    import types

    module = types.ModuleType("dancerec_fake_schema")
    monkeypatch.setitem(sys.modules, "dancerec_fake_schema", module)
    return module


def test_migrations_apply_in_order_and_only_once(tmp_path, fake_module):
    v1 = Migration(1, "table", "CREATE TABLE thing (id INTEGER)")
    v2 = Migration(2, "column", "ALTER TABLE thing ADD COLUMN label VARCHAR")
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    assert migrate(con, _components(fake_module, [v1])) == {"core": (0, 1), "fake": (0, 1)}
    con.execute("INSERT INTO thing VALUES (1)")
    # a later dancerec adds migration 2: only that one runs, and data survives
    assert migrate(con, _components(fake_module, [v1, v2])) == {"fake": (1, 2)}
    assert migrate(con, _components(fake_module, [v1, v2])) == {}
    assert con.execute("SELECT id, label FROM thing").fetchall() == [(1, None)]
    assert schema_versions(con)["fake"] == 2


def test_a_failing_migration_changes_nothing(tmp_path, fake_module):
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    con.begin()
    migrate(con, _components(fake_module, [Migration(1, "t", "CREATE TABLE thing (id INTEGER)")]))
    con.commit()
    broken = [
        Migration(1, "t", "CREATE TABLE thing (id INTEGER)"),
        Migration(2, "ok", "ALTER TABLE thing ADD COLUMN a INTEGER"),
        Migration(3, "broken", "ALTER TABLE no_such_table ADD COLUMN b INTEGER"),
    ]
    con.begin()
    with pytest.raises(duckdb.Error):
        migrate(con, _components(fake_module, broken))
    con.rollback()
    assert schema_versions(con)["fake"] == 1
    assert [c[0] for c in con.execute("DESCRIBE thing").fetchall()] == ["id"]


def test_a_newer_schema_is_refused(tmp_path, fake_module):
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    migrate(con, _components(fake_module, [Migration(1, "t", "CREATE TABLE a (x INT)")]))
    con.execute("UPDATE schema_version SET version = 5 WHERE component = 'fake'")
    with pytest.raises(SchemaError, match="version 5"):
        migrate(con, _components(fake_module, [Migration(1, "t", "CREATE TABLE a (x INT)")]))


def test_pseudonyms_are_keyed_and_stable(study):
    assert study.pseudonymise("user-1") == study.pseudonymise("user-1")
    assert study.pseudonymise("user-1") != study.pseudonymise("user-2")
    assert pseudonymise("user-1", b"other key") != study.pseudonymise("user-1")
    # HMAC-SHA256 reference value computed independently with the standard library
    assert pseudonymise("42", b"k") == "7955074f51169f1f"


def test_record_file_logs_checksum(study, tmp_path):
    f = tmp_path / "data.csv"
    f.write_bytes(b"abc")
    with study.transaction() as con:
        digest = study.record_file(con, f, "survey")
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
