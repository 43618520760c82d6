"""`benchmarks/person_bags.py`: multi-person media only, unseen people in test, and a smoke run."""

import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "person_bags.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("person_bags", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_media_are_real_and_grouped_as_in_the_partial_attack_benchmark(script, fixtures_dir):
    assert set(script.QUICK_GROUPS) <= set(script.PERSON_MEDIA)
    for group, item in script.PERSON_MEDIA.items():
        assert item in script.IDENTITIES[group]  # one identity split for both benchmarks
        assert "FAKE" not in item and "manipulated" not in item
        assert (fixtures_dir / item).is_file(), item


@pytest.mark.slow  # ~35 s of CPU: face detection on 16 photo clips, two one-epoch trainings
def test_quick_run_compares_person_and_frame_order(script, fixtures_dir, tmp_path, capsys):
    result = script.main(["--quick", "--fixtures", str(fixtures_dir), "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    (seed,) = result["seeds"]
    assert set(seed["train"]).isdisjoint(seed["test"])
    assert seed["test_bags"]["clips"] == 4 and seed["train_bags"]["clips"] == 12
    rows = {row["model"]: row for row in seed["rows"]}
    assert list(rows) == list(script.ROWS)
    for name in ("person order", "frame order, scored by person"):
        assert 0 <= rows[name]["person_accuracy"] <= 1 and 0 <= rows[name]["all"] <= 1
    assert rows["frame order"]["person_accuracy"] is None  # frame order: no person verdicts
    assert rows["frame order"]["frame_auc"] == rows["frame order, scored by person"]["frame_auc"]
    for name in script.ROWS:
        assert f"| {name} |" in result["table"] and f"| {name} |" in printed
    assert (tmp_path / "table.md").is_file() and (tmp_path / "results.json").is_file()
    assert (tmp_path / "seed0" / "eval_persons" / "persons_person_order.csv").is_file()
