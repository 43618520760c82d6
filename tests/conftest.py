"""Shared test fixtures.

Real media lives in ``../shared/fixtures`` beside the repository (override with
``SMIL_FIXTURES``). It is referenced by path, never copied; tests that need it are skipped
with a clear message when the folder is absent.
"""

import os
import pathlib

import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = pathlib.Path(os.environ.get("SMIL_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def _write_random_bags(folder, labels, size, per_shard=None, prefix="bags", seed=0):
    from smil_keras.bags import BagRecord, BagShardWriter  # TensorFlow: only where used

    rng = np.random.default_rng(seed)
    with BagShardWriter(folder, prefix, videos_per_shard=per_shard or len(labels)) as writer:
        for b, label in enumerate(labels):
            crops = list(rng.integers(0, 256, (3, size, size, 3), dtype=np.uint8))
            writer.write(BagRecord(f"{prefix}{b}", f"{prefix}{b}.mp4", crops, label=label))
    return [pathlib.Path(shard) for shard in writer.shards]


@pytest.fixture(scope="session")
def write_random_bags():
    """The function ``write_random_bags(folder, labels, size, per_shard=None, prefix="bags",
    seed=0)``: one bag of 3 random ``size`` x ``size`` faces per label (1 fake, 0 real, -1
    unknown), ``per_shard`` bags a shard (all in one by default), named ``{prefix}{index}``;
    returns the shard paths in order. The tiny trainings' data."""
    return _write_random_bags


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
def jax_env(tmp_path_factory):
    """Environment for a subprocess on Keras' JAX backend (CPU); skips the test when JAX is not
    installed. The subprocesses share one persistent compilation cache (a session temporary
    folder), so a program that several runs compile (a resumed training, the same tiny model in
    another process) is compiled once: it halves the JAX tests' time and changes no result."""
    pytest.importorskip("jax")
    return {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax_cache")),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",  # tiny models compile fast: cache all
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


@pytest.fixture(scope="session")
def jax_without_tensorflow_env(tmp_path_factory, jax_env):
    """`jax_env` where importing TensorFlow fails, as on the lent GPU machines."""
    folder = tmp_path_factory.mktemp("no_tensorflow")
    (folder / "sitecustomize.py").write_text(_NO_TENSORFLOW)  # run by Python at start-up
    return {**jax_env, "PYTHONPATH": str(folder)}
