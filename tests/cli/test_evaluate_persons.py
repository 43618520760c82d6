"""`smil evaluate --persons` asks `evaluate` for person-ordered bags and person-level metrics
(the metrics themselves: tests/evaluation/test_person_metrics.py)."""

import pytest

import smil_keras.evaluation
from smil_keras.cli.main import main


@pytest.mark.parametrize("flag, expected", [([], False), (["--persons"], True)])
def test_evaluate_passes_persons_to_evaluate(flag, expected, tmp_path, monkeypatch):
    model = tmp_path / "detector.keras"
    model.write_bytes(b"")  # never loaded: load_detector is replaced below
    shards = tmp_path / "bags"
    shards.mkdir()
    calls = []

    def fake_evaluate(models, data, **kwargs):
        calls.append(kwargs)
        return {"metrics": [{"model": "m", "all": 0.5}], "fake_fraction": [], "frames": []}

    monkeypatch.setattr(smil_keras.evaluation, "evaluate", fake_evaluate)
    monkeypatch.setattr(smil_keras.evaluation, "load_detector", lambda path: object())
    arguments = ["evaluate", "--model", str(model), "--data", str(shards)]
    assert main([*arguments, "--out", str(tmp_path / "eval"), *flag]) == 0
    assert [call["persons"] for call in calls] == [expected]
