"""`dancerec indices cfa` loads only what a CFA needs (issue 14, speed): no sympy, scikit-learn,
statsmodels, scipy.stats, torch, matplotlib or pydantic; and the lazily loaded command groups still all work."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

BFI = Path(__file__).parent / "fixtures" / "R" / "data" / "bfi.csv"
# pydantic: typer 0.29 coerces every option through it (55-60 ms per command; pyproject caps typer)
HEAVY = (
    "sympy",
    "sklearn",
    "statsmodels",
    "scipy.stats",
    "torch",
    "matplotlib",
    "factor_analyzer",
    "pydantic",
)

_PROBE = """
import sys
from dancerec.cli.main import app
try:
    app(sys.argv[1:], prog_name="dancerec")
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = {heavy!r}
print(",".join(sorted(m for m in heavy if m in sys.modules)))
print(",".join(sorted(m for m in sys.modules if m.startswith("dancerec.cli."))))
"""


def test_indices_cfa_imports_no_heavy_library(tmp_path):
    data = tmp_path / "bfi.csv"
    pd.read_csv(BFI, index_col=0).iloc[:300, :15].to_csv(data, index=False)
    model = tmp_path / "m.lav"
    model.write_text("\n".join(f"{f} =~ {f}1 + {f}2 + {f}3 + {f}4 + {f}5" for f in "ACE"))
    args = ["indices", "cfa", "--data", str(data), "--model", str(model), "--missing", "listwise"]
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    heavy, groups = out.stdout.strip().splitlines()[-2:]
    assert heavy == ""  # none of the heavy libraries was imported
    assert "dancerec.cli.indices" in groups.split(",")
    for other in ("survey", "recommender", "link", "report"):
        assert f"dancerec.cli.{other}" not in groups.split(",")


def test_semopy_loaded_lightly_is_the_full_packages_model():
    code = (
        "from dancerec.indices._semopy import model_class\n"
        "M = model_class()\n"
        "import sys\n"
        "light = 'sympy' not in sys.modules and 'scipy.stats' not in sys.modules\n"
        "import semopy\n"
        "print(light, semopy.Model is M, hasattr(semopy, 'ModelMeans'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr[-2000:]


def test_root_help_lists_every_group():
    from typer.testing import CliRunner

    from dancerec.cli.main import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("survey", "indices", "recommender", "link", "report", "init", "demo"):
        assert group in result.output
    assert "Reliability and validity indices" in result.output  # a group's help, loaded on demand
