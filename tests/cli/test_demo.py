"""`smil demo`, the README's first command, on tiny settings."""

import json

import pytest

from smil_keras.cli.main import main


@pytest.mark.slow
def test_demo_builds_data_trains_evaluates_and_scores_a_held_out_video(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--train-videos", "4", "--test-videos", "4",
                 "--frames", "3", "--image-size", "32", "--epochs", "1"])
    printed = capsys.readouterr().out
    assert code == 0
    for section in ("1/4", "2/4", "3/4", "4/4"):
        assert f"=== {section}" in printed
    assert "| model | self-blend | all | auc | frame_auc |" in printed
    (result,) = json.loads((out / "prediction.json").read_text())
    assert result["status"] == "ok" and 0.0 <= result["fake_probability"] <= 1.0
    assert "truth fake" in printed  # the held-out video is a partially attacked one
    for path in ("run/config.yaml", "run/best.keras", "eval/metrics.csv", "eval/metrics.md"):
        assert (out / path).is_file(), path
    assert list((out / "pictures").glob("*/gradcam_*.png"))
