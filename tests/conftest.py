"""Shared fixtures. Tests that need ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from dancerec.workspace import Study

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
LASTFM_DIR = SHARED_DATA / "hetrec2011-lastfm-2k"


@pytest.fixture
def study(tmp_path: Path) -> Study:
    """A fresh, empty study workspace."""
    return Study.init(tmp_path / "study", name="test", seed=7)


@pytest.fixture
def lastfm_dir() -> Path:
    if not (LASTFM_DIR / "user_artists.dat").exists():
        pytest.skip("shared Last.fm-2k data not available (../shared/data/hetrec2011-lastfm-2k)")
    return LASTFM_DIR
