"""Smoke run of `benchmarks/data_parallel_step.py` on Keras' JAX backend with TensorFlow blocked,
as on the lent GPU machine: two host devices, so the data-parallel model really splits the batch."""

import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "data_parallel_step.py"


@pytest.mark.slow
def test_data_parallel_step_compares_both_steps_on_two_host_devices(jax_without_tensorflow_env):
    env = {
        **jax_without_tensorflow_env,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "PYTHONPATH": f"{jax_without_tensorflow_env['PYTHONPATH']}:{SCRIPT.parents[1]}",
    }
    arguments = "--backbone tiny --image-size 32 --bags 2 --faces-per-bag 3 --filters 8"
    arguments += " --warmup 1 --steps 1 --repeats 2"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments.split()],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 device(s)" in result.stdout
    rows = [line.strip("|").split("|") for line in result.stdout.splitlines() if line[:2] == "| "]
    body = {row[0].strip(): row for row in rows[1:]}
    assert set(body) == {"plain", "data-parallel"}
    assert body["plain"][1].strip() == "1" and body["data-parallel"][1].strip() == "2"
    assert all(float(row[2]) > 0 for row in body.values())  # faces/s
    assert "overhead" not in result.stdout  # the one-device target is not claimed for 2 devices
