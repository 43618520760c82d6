"""Smoke run of `benchmarks/mil_digits.py --quick` (one seed, one epoch)."""

import importlib.util
import pathlib

import numpy as np
import pytest

BENCHMARK = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "mil_digits.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("mil_digits", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bags_follow_the_mil_definition_and_witness_rate():
    benchmark = _load_benchmark()
    digits = np.arange(100) % 10
    images = np.random.default_rng(0).random((100, 64)).astype("float32")
    rng = np.random.default_rng(1)
    for rate in benchmark.WITNESS_RATES:
        x, mask, y, labels = benchmark.make_bags(images, digits, 40, rate, rng)
        sizes = mask.sum(-1)
        assert sizes.min() >= benchmark.MIN_BAG and sizes.max() <= benchmark.MAX_BAG
        assert np.all(mask == (labels >= 0)) and np.all(x[~mask] == 0)
        witnesses = (labels == 1).sum(-1)
        np.testing.assert_array_equal(y, witnesses > 0)  # positive iff at least one target digit
        expected = 1 if rate == "one" else np.maximum(1, np.round(rate * sizes[y == 1]))
        np.testing.assert_array_equal(witnesses[y == 1], expected)


@pytest.mark.slow  # about 10 s of CPU, over 20 s on a busy machine
def test_quick_run_reports_every_pooling(capsys):
    benchmark = _load_benchmark()
    results = benchmark.main(["--quick"])
    table = capsys.readouterr().out
    for name in benchmark.POOLINGS:
        assert f"| {name} |" in table
        (rate,) = results
        ((bag_auc, instance_auc),) = results[rate][name]
        assert 0.0 <= bag_auc <= 1.0 and 0.0 <= instance_auc <= 1.0
