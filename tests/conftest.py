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


_NO_TENSORFLOW = """\
import importlib.abc, sys
class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ImportError("TensorFlow is blocked: the lent GPU machines have none")
sys.meta_path.insert(0, NoTensorFlow())
"""


@pytest.fixture(scope="session")
def jax_without_tensorflow_env(tmp_path_factory):
    """Environment for a subprocess on Keras' JAX backend (CPU) where importing TensorFlow
    fails, as on the lent GPU machines; skips the test when JAX is not installed."""
    pytest.importorskip("jax")
    folder = tmp_path_factory.mktemp("no_tensorflow")
    (folder / "sitecustomize.py").write_text(_NO_TENSORFLOW)  # run by Python at start-up
    return {**os.environ, "PYTHONPATH": str(folder), "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
