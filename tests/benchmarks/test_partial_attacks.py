"""`benchmarks/partial_attacks.py`: no person in both splits, and a smoke run on real photos."""

import pytest


@pytest.fixture(scope="module")
def script(load_benchmark):
    return load_benchmark("partial_attacks")


def test_splits_share_no_identity_and_no_file(script):
    names = tuple(script.IDENTITIES)
    files = [item for items in script.IDENTITIES.values() for item in items]
    assert len(files) == len(set(files))  # a file belongs to one group only
    tests = set()
    for seed in range(5):
        train, test = script.split_identities(names, seed)
        assert set(train).isdisjoint(test) and set(train) | set(test) == set(names)
        assert len(test) == round(len(names) / 3)
        tests.add(tuple(test))
    assert len(tests) > 1  # each seed its own split


def test_only_real_media_are_attacked(script, fixtures_dir):
    for items in script.IDENTITIES.values():
        for item in items:
            assert "FAKE" not in item and "manipulated" not in item and "dfdc_train" not in item
            if item != script.ASTRONAUT:
                assert (fixtures_dir / item).is_file(), item


@pytest.mark.slow  # a minute of CPU: face detection on the photos, 7 one-epoch trainings
def test_quick_run_trains_and_evaluates_every_variant(script, fixtures_dir, tmp_path, capsys):
    result = script.main(["--quick", "--fixtures", str(fixtures_dir), "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    (seed,) = result["seeds"]
    assert set(seed["train"]).isdisjoint(seed["test"])
    for variant in script.VARIANTS:
        (row,) = [r for r in seed["metrics"] if r["model"] == variant]
        assert 0 <= row["all"] <= 1 and 0 <= row["auc"] <= 1
        assert f"| {variant} |" in result["metrics"] and f"| {variant} |" in printed
    assert "| variant | 0 (" in result["fake_fraction"]  # the real videos' bin first
    for name in ("metrics.md", "fake_fraction.md", "results.json", "partial_attacks.png"):
        assert (tmp_path / name).is_file(), name
