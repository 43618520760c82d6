"""Shared test fixtures.

Real media lives in ``../shared/fixtures`` beside the repository (override with
``SMIL_FIXTURES``). It is referenced by path, never copied; tests that need it are skipped
with a clear message when the folder is absent.
"""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = pathlib.Path(os.environ.get("SMIL_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir():
    """The shared real-media folder; skips the test when it is absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES} (set SMIL_FIXTURES to their folder)")
    return FIXTURES
