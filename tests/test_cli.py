from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from dancerec import __version__
from dancerec.cli.common import to_jsonable, write_json
from dancerec.cli.main import app

runner = CliRunner()


def run(*args: str, **kw):
    return runner.invoke(app, list(args), catch_exceptions=False, **kw)


def test_help_describes_every_group():
    result = run("--help")
    assert result.exit_code == 0
    for group in ("init", "demo", "survey", "indices", "recommender", "link", "report"):
        assert group in result.output
    for group in ("survey", "indices", "recommender", "link", "report"):
        sub = run(group, "--help")
        assert sub.exit_code == 0, group
        assert len(sub.output.strip()) > 100


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_init_twice_refuses_with_exit_1(tmp_path):
    target = tmp_path / "mystudy"
    first = run("init", str(target))
    assert first.exit_code == 0
    assert "created study" in first.output
    second = run("init", str(target))
    assert second.exit_code == 1
    assert "already a dancerec study" in second.stderr
    assert "Traceback" not in second.output


def test_usage_error_is_exit_2(tmp_path):
    result = run("init", str(tmp_path / "x"), "--seed", "notanumber")
    assert result.exit_code == 2


def test_not_a_study_is_a_one_line_user_error(tmp_path):
    """Exercised through a real process: stderr gets one line, no traceback; --debug shows it."""
    cmd = [sys.executable, "-m", "dancerec", "init", str(tmp_path / "s")]
    assert subprocess.run(cmd, capture_output=True, check=False).returncode == 0
    again = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.strip().startswith("error:")
    assert "Traceback" not in again.stderr
    debug = subprocess.run([*cmd[:3], "--debug", *cmd[3:]], capture_output=True, text=True, check=False)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr


def test_demo_leaves_a_usable_study(tmp_path):
    result = run("demo", "--study", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    from dancerec.workspace import Study

    assert Study.open(tmp_path / "demo").config.name == "demo"


def test_json_output_is_strict_json(tmp_path):
    payload = {
        "n": np.int64(3),
        "x": np.float64("nan"),
        "frame": pd.DataFrame({"a": [1.5, math.inf]}),
        "path": Path("a/b"),
        "arr": np.arange(2),
    }
    out = tmp_path / "r.json"
    write_json(out, payload)
    loaded = json.loads(out.read_text())  # strict: NaN would not be valid JSON for other tools
    assert loaded == {"n": 3, "x": None, "frame": [{"a": 1.5}, {"a": None}], "path": "a/b", "arr": [0, 1]}
    assert to_jsonable({1: (1, 2)}) == {"1": [1, 2]}


def test_error_text_in_square_brackets_is_printed_verbatim(tmp_path):
    """Messages naming a TOML table such as [groups] must not be eaten as rich markup."""
    target = tmp_path / "study[groups]"
    assert run("init", str(target)).exit_code == 0
    again = run("init", str(target))
    assert again.exit_code == 1
    assert "study[groups] is already a dancerec study" in again.stderr
