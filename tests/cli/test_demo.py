"""`smil demo`, the README's first command, on tiny settings."""

import json

import pytest

from smil_keras.cli.main import main


@pytest.mark.slow
def test_demo_builds_data_trains_both_models_evaluates_and_scores_a_held_out_video(
    tmp_path, capsys
):
    out = tmp_path / "demo"
    tiny = {
        "--train-videos": 4,
        "--test-videos": 4,
        "--frames": 3,
        "--image-size": 32,
        "--epochs": 1,
    }
    code = main(["demo", "--out", str(out), *(str(x) for item in tiny.items() for x in item)])
    printed = capsys.readouterr().out
    assert code == 0
    for section in ("1/5", "2/5", "3/5", "4/5", "5/5"):
        assert f"=== {section}" in printed
    assert "| model | self-blend | all | auc | frame_auc |" in printed
    assert "| S-MIL-T (tiny) |" in printed and "| XN-avg (tiny) |" in printed
    assert "S-MIL-T vs XN-avg (same backbone, data and training" in printed  # the comparison
    (result,) = json.loads((out / "prediction.json").read_text())
    assert result["status"] == "ok" and 0.0 <= result["fake_probability"] <= 1.0
    assert "truth fake" in printed  # the held-out video is a partially attacked one
    assert "(truth: partially attacked)" in printed and "called " in printed
    for path in (
        "run/config.yaml",
        "run/best.keras",
        "run_xn_avg/best.keras",
        "eval/metrics.csv",
        "eval/metrics.md",
    ):
        assert (out / path).is_file(), path
    assert list((out / "pictures").glob("*/gradcam_*.png"))


def test_a_path_given_as_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code = main(["demo", "--out", str(tmp_path / "file")])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"smil demo: error: --out {tmp_path / 'file'} exists and is not a folder"]


def test_the_conclusion_compares_with_xn_avg_and_says_what_limits_a_weak_detector(capsys):
    from argparse import Namespace

    from smil_keras.cli import demo

    args = Namespace(train_videos=48, frames=8, epochs=30)
    metrics = {
        "S-MIL-T": {"auc": 0.6, "all": 0.55, "frame_auc": 0.7},
        "XN-avg": {"auc": 0.5, "all": 0.5, "frame_auc": 0.65},
    }
    demo._conclude(metrics, args)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith(
        "test AUC 0.600 vs 0.500, video accuracy 0.550 vs 0.500, frame AUC 0.700 vs 0.650"
    )
    assert lines[1].startswith("note: test AUC 0.600 is below the 0.9")
    assert "(here 48 clips x 8 frames, 30 epochs)" in lines[1]

    demo._conclude({"S-MIL-T": {"auc": 0.95, "all": 0.9, "frame_auc": 0.9}}, args)
    assert capsys.readouterr().out.strip() == ""  # no baseline, no shortfall: nothing to add
