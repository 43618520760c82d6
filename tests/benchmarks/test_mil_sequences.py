"""`benchmarks/mil_sequences.py`: sequence bags as the issue defines them, and a smoke run."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def script(load_benchmark):
    return load_benchmark("mil_sequences")


def test_positive_bags_hold_k_targets_in_one_run_or_scattered_negatives_none(script):
    rng = np.random.default_rng(0)
    digits = np.arange(200) % 10
    images = rng.random((200, 64)).astype("float32")
    for k in script.RUN_LENGTHS:
        for arrangement in script.ARRANGEMENTS:
            x, y, labels = script.make_sequence_bags(images, digits, 60, k, arrangement, rng)
            assert x.shape == (60, script.BAG_LENGTH, 64) and labels.shape == (60, 20)
            assert y.sum() == 30
            np.testing.assert_array_equal(labels.sum(1), np.where(y == 1, k, 0))
            runs = [np.flatnonzero(row) for row in labels[y == 1]]
            contiguous = [r.max() - r.min() == k - 1 for r in runs]
            if arrangement == "contiguous":
                assert all(contiguous)
            elif k == 8:  # 8 of 20 places drawn at random: consecutive in a few bags at most
                assert sum(contiguous) <= 2


def test_degrading_shifts_by_at_most_one_pixel_and_adds_noise(script):
    rng = np.random.default_rng(1)
    image = np.zeros((1, 64), "float32")
    image[0, 3 * 8 + 3] = 1.0  # one lit pixel at (3, 3)
    clean = np.stack([script.degrade(image, rng, noise=0.0)[0] for _ in range(200)])
    lit = {divmod(int(i), 8) for i in clean.argmax(1)}
    assert lit == {(3 + dy, 3 + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    noisy = script.degrade(np.repeat(image, 2000, 0), rng, noise=0.4, shift=0)
    assert abs(noisy[:, 0].std() - 0.4) < 0.03


def test_every_head_is_the_librarys_own(script):
    from smil_keras.models import HEADS

    assert set(script.VARIANTS) == set(HEADS)
    for variant in script.VARIANTS:
        assert script.head_builder(variant) is HEADS[variant]


@pytest.mark.slow  # seconds of CPU; more on a busy machine
def test_quick_run_records_a_learning_curve_per_head_and_draws_them(script, tmp_path, capsys):
    results, ceilings = script.main(["--quick", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    settings = script.settings_for((2,), script.ARRANGEMENTS)
    assert list(results) == settings
    for setting in settings:
        for variant in script.VARIANTS:
            (curve,) = results[setting][variant]  # one seed
            assert curve.shape == (2, 2) and np.all((curve >= 0) & (curve <= 1))
            assert f"| {variant} |" in printed
        ((instance_auc, bag_auc),) = ceilings[setting]
        assert 0 <= instance_auc <= 1 and 0 <= bag_auc <= 1
    saved = json.loads((tmp_path / "curves.json").read_text())
    assert sorted(saved) == ["contiguous-2", "scattered-2"]
    assert (tmp_path / "mil_sequences.png").stat().st_size > 10_000
