"""The backend-neutral layer tests, run again in a subprocess on the JAX backend."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Core math, gradients (jax.grad), the S-MIL-T functional model and the padding convention
# of even kernel sizes; the rest of the folder is backend-neutral too but slow on eager JAX.
JAX_TESTS = [
    "tests/layers/test_smil_pooling.py",
    "tests/layers/test_sharpness.py",
    "tests/layers/test_spatial_temporal_encoder.py::test_matches_numpy_convolution",
]


@pytest.mark.slow
def test_layer_tests_pass_on_jax_backend():
    pytest.importorskip("jax", reason="jax is not installed: cannot run the layer tests on the JAX backend")
    if keras.backend.backend() == "jax":
        pytest.skip("this session already runs on the JAX backend")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    command = [sys.executable, "-m", "pytest", *JAX_TESTS, "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    report = f"JAX backend run failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    assert result.returncode == 0, report
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, report
