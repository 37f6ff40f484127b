"""Issue 13, faults and outputs: safe spreadsheet cells, atomic files, busy/damaged stores, Ctrl-C."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from dancerec.survey.importer import ImportOptions, import_file
from dancerec.survey.store import load_responses
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.errors import UserError
from dancerec.safeio import neutralise_cell, neutralise_frame
from dancerec.workspace import CommittedInterrupt, Study, atomic_output, deferred_signals

runner = CliRunner()
EVIL = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def _seed(study: Study, tmp_path: Path, groups: list[str]) -> None:
    lines = ["respondent_id,group,CON1,CON2"]
    lines += [f'r{i},"{g.replace(chr(34), chr(34) * 2)}",3,4' for i, g in enumerate(groups)]
    path = tmp_path / "evil.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_file(study, path)


@pytest.mark.parametrize("value", EVIL)
def test_formula_cells_are_prefixed(value):
    assert neutralise_cell(value) == "'" + value


def test_plain_text_and_numbers_untouched():
    assert neutralise_cell("A") == "A" and neutralise_cell(-0.5) == -0.5 and neutralise_cell(None) is None
    assert neutralise_cell("a\x07b", xlsx=True) == "a\\x07b"


def test_neutralise_frame_covers_columns_and_index():
    frame = pd.DataFrame({"=x": ["=1", "ok"], "n": [-1.0, 2.0]}, index=pd.Index(["@a", "b"], name="id"))
    out = neutralise_frame(frame)
    assert list(out.columns) == ["'=x", "n"] and list(out.index) == ["'@a", "b"]
    assert out["'=x"].tolist() == ["'=1", "ok"] and out["n"].tolist() == [-1.0, 2.0]


def test_survey_export_csv_has_no_live_formulas(study, tmp_path):
    groups = EVIL[:5]
    _seed(study, tmp_path, groups)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["survey", "export", "--study", str(study.root), "--out", str(out)])
    assert res.exit_code == 0, res.output
    exported = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert sorted(exported["group"]) == sorted("'" + g for g in groups)


def test_survey_export_xlsx_writes_strings_not_formulas(study, tmp_path):
    _seed(study, tmp_path, EVIL[:3])
    out = tmp_path / "out.xlsx"
    res = runner.invoke(app, ["survey", "export", "--study", str(study.root), "--out", str(out)])
    assert res.exit_code == 0, res.output
    ws = openpyxl.load_workbook(out).active
    kinds = {c.data_type for row in ws.iter_rows() for c in row}
    assert "f" not in kinds
    header = [c.value for c in ws[1]]
    col = header.index("group") + 1
    assert sorted(ws.cell(r, col).value for r in range(2, 5)) == sorted("'" + g for g in EVIL[:3])


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "report.csv"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(OSError), atomic_output(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".csv"
        tmp.write_text("new", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "new"
    with pytest.raises(UserError, match="is a folder"), atomic_output(tmp_path):
        pass


def test_disk_full_during_export_is_one_line_and_leaves_no_file(study, tmp_path, monkeypatch):
    _seed(study, tmp_path, ["A", "B"])

    def full(frame, path):
        Path(path).write_text("partial", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("dancerec.cli.survey.export_table", full)
    out = tmp_path / "x" / "out.csv"
    res = runner.invoke(app, ["survey", "export", "--study", str(study.root), "--out", str(out)])
    assert res.exit_code == 1 and "disk full" in res.output and "Traceback" not in res.output
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_json_to_a_folder_and_truncated_store_are_one_line_errors(study, tmp_path):
    _seed(study, tmp_path, ["A"])
    res = runner.invoke(app, ["survey", "score", "--study", str(study.root), "--json", str(tmp_path)])
    assert res.exit_code == 1 and "is a folder" in res.output
    data = study.db_path.read_bytes()
    study.db_path.write_bytes(data[: len(data) // 3])
    res = runner.invoke(app, ["survey", "score", "--study", str(study.root)])
    assert res.exit_code == 1 and "damaged" in res.output and "Traceback" not in res.output


def _hold(path: Path, read_only: bool) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r}, read_only={read_only})
        print("held", flush=True)
        time.sleep(30)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_busy_study_gives_a_clear_message_after_waiting(study, monkeypatch):
    monkeypatch.setenv("DANCEREC_BUSY_TIMEOUT", "0.5")
    proc = _hold(study.db_path, read_only=False)
    try:
        t0 = time.monotonic()
        with pytest.raises(UserError, match="study busy"):
            Study.open(study.root)
        assert time.monotonic() - t0 >= 0.5
    finally:
        proc.kill()
        proc.wait()


def test_readers_share_the_study(study, tmp_path, monkeypatch):
    _seed(study, tmp_path, ["A", "B"])
    monkeypatch.setenv("DANCEREC_BUSY_TIMEOUT", "0.5")
    proc = _hold(study.db_path, read_only=True)
    try:
        assert len(load_responses(Study.open(study.root))) == 2  # opened and read beside a reader
    finally:
        proc.kill()
        proc.wait()


def test_deferred_signals_hold_ctrl_c():
    with deferred_signals() as got:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    assert got == [signal.SIGINT]


class _InterruptingCommit:
    """A connection whose commit receives Ctrl-C half-way (the signal arrives during COMMIT)."""

    def __init__(self, con):
        self._con = con

    def __getattr__(self, name):
        return getattr(self._con, name)

    def commit(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return self._con.commit()


def test_ctrl_c_during_commit_reports_that_data_is_stored(study, tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    path.write_text("respondent_id,group,CON1\nr1,A,3\n", encoding="utf-8")
    real = Study.connect

    def connect(self, read_only=False, timeout=None):
        con = real(self, read_only, timeout)
        return con if read_only else _InterruptingCommit(con)

    monkeypatch.setattr(Study, "connect", connect)
    res = runner.invoke(app, ["survey", "import", str(path), "--study", str(study.root)])
    assert res.exit_code == 130 and "ARE stored" in res.output
    monkeypatch.setattr(Study, "connect", real)
    assert list(load_responses(study).index) == ["r1"]
    monkeypatch.setattr(Study, "connect", connect)
    with pytest.raises(CommittedInterrupt), study.transaction() as con:
        con.execute("CREATE TABLE kept (x INTEGER)")
    monkeypatch.setattr(Study, "connect", real)
    with study.read() as con:
        assert con.execute("SELECT count(*) FROM kept").fetchone()[0] == 0  # table exists: committed


def test_ctrl_c_before_commit_rolls_back(study, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("respondent_id,group,CON1\nr1,A,3\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), study.transaction() as con:
        con.execute("CREATE TABLE scratch (x INTEGER)")
        raise KeyboardInterrupt
    import_file(study, path, ImportOptions())
    with study.read() as con:
        assert (
            con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name='scratch'"
            ).fetchone()[0]
            == 0
        )


def test_fault_messages_are_one_line():
    import pickle
    import zipfile

    from dancerec.cli.main import _fault_message

    cases = {
        OSError(errno.ENOSPC, "No space left on device", "/x/out.csv"): "disk full",
        FileNotFoundError(2, "No such file or directory", "/s/artifacts/m/state.npz"): "missing file",
        zipfile.BadZipFile("File is not a zip file"): "damaged",
        EOFError("Ran out of input"): "damaged",
        pickle.UnpicklingError("invalid load key"): "damaged",
    }
    for exc, needle in cases.items():
        msg = _fault_message(exc)
        assert msg is not None and needle in msg and "\n" not in msg
    assert _fault_message(ValueError("a bug")) is None  # real bugs keep their traceback


def test_control_characters_in_xlsx_export_do_not_crash(tmp_path):
    from dancerec.survey.scoring import export_table

    frame = pd.DataFrame({"group": ["A\x07B", "=1+1", "C\x00"], "score": [1.0, 2.0, 3.0]})
    out = tmp_path / "g.xlsx"
    export_table(neutralise_frame(frame, xlsx=True), out)
    values = [c.value for c in openpyxl.load_workbook(out).active["A"]][1:]
    assert values == ["A\\x07B", "'=1+1", "C\\x00"]


@pytest.mark.slow
def test_sigterm_during_import_reports_truthfully(study, tmp_path):
    """SIGTERM mid-import: exit 143 and a message that matches what the store holds afterwards."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_import_memory import write_export

    export = tmp_path / "big.csv"
    n = write_export(export, 4_000_000)
    code = textwrap.dedent(
        f"""
        import signal, sys
        import dancerec.cli.main as m
        signal.signal(signal.SIGTERM, m._on_sigterm)
        sys.argv = ["dancerec", "survey", "import", {str(export)!r}, "--study", {str(study.root)!r}]
        print("ready", flush=True)
        m.main()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    stored = len(load_responses(study))
    print("sigterm outcome:", proc.returncode, stored, err.strip()[-120:])
    if proc.returncode == 0:  # finished before the signal arrived: nothing to check
        assert stored == n
        return
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    if "ARE stored" in err:
        assert stored == n
    else:
        assert "study is unchanged" in err and stored == 0


def test_only_duckdbs_query_interrupted_counts_as_an_interrupt():
    """DuckDB turns a signal's KeyboardInterrupt during a query into RuntimeError("Query interrupted")
    (checked by hand with duckdb 2.0.1: a SIGALRM handler raising KeyboardInterrupt during a long query);
    any other RuntimeError is a real failure and keeps its traceback."""
    from dancerec.cli.main import _interrupted_query

    class Other(RuntimeError):
        pass

    assert _interrupted_query(RuntimeError("Query interrupted"))
    assert not _interrupted_query(RuntimeError("some other failure"))
    assert not _interrupted_query(Other("Query interrupted"))


def test_sigterm_during_a_query_exits_143_and_leaves_the_study_unchanged(study, tmp_path, monkeypatch):
    """The chunk insert cancelled as DuckDB cancels a query on SIGTERM: exit 143, a truthful line."""
    import dancerec.survey.import_store as import_store

    import dancerec.cli.main as cli_main

    path = tmp_path / "a.csv"
    path.write_text("respondent_id,group,CON1\nr1,A,3\n", encoding="utf-8")

    def interrupted(*args, **kwargs):
        cli_main._signal["last"] = signal.SIGTERM
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(import_store, "insert", interrupted)
    monkeypatch.setitem(cli_main._signal, "last", signal.SIGINT)
    res = runner.invoke(app, ["survey", "import", str(path), "--study", str(study.root)])
    assert res.exit_code == 128 + signal.SIGTERM, res.output
    assert "study is unchanged" in res.output and "Traceback" not in res.output
    assert len(load_responses(study)) == 0
