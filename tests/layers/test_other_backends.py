"""The backend-neutral layer tests, run again in a subprocess on the JAX and PyTorch backends."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import keras
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Core math, gradients (jax.grad, torch.autograd), the S-MIL-T functional model, the padding
# convention of even kernel sizes, symbolic shapes, mask validation (eager and jit-compiled) and
# empty bags; the rest of the folder is backend-neutral too but slow eagerly.
LAYER_TESTS = [
    "tests/layers/test_smil_pooling.py",
    "tests/layers/test_sharpness.py",
    "tests/layers/test_spatial_temporal_encoder.py::test_matches_numpy_convolution",
    "tests/layers/test_mil_pooling.py",
    "tests/layers/test_bad_masks.py",
    "tests/layers/test_masking_and_stability.py::test_empty_bag_of_zero_instances_is_a_fully_masked_bag",
]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])  # each named as its Python package
def test_layer_tests_pass_on_another_backend(backend):
    if importlib.util.find_spec(backend) is None:
        # .ci/run installs jax (the test extra), not torch (PyPI's wheel pulls ~3 GB of CUDA).
        pytest.skip(
            f"{backend} is not installed: cannot run the layer tests on the {backend} backend"
        )
    if keras.backend.backend() == backend:
        pytest.skip(f"this session already runs on the {backend} backend")
    env = {**os.environ, "KERAS_BACKEND": backend}
    command = [sys.executable, "-m", "pytest", *LAYER_TESTS, "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    report = f"{backend} backend run failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    assert result.returncode == 0, report
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, report
