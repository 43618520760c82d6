"""Bad inputs give a non-zero exit status and a message naming the path and the problem."""

import keras
import pytest

from smil_keras.cli.main import build_parser, main
from smil_keras.cli.train import resolve_config
from smil_keras.models import build_detector


@pytest.fixture(scope="module")
def not_a_detector(tmp_path_factory):
    """A valid .keras file holding a model that is not an S-MIL detector."""
    path = tmp_path_factory.mktemp("models") / "classifier.keras"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.save(path)
    return path


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "detector.keras"
    build_detector("s-mil", backbone="tiny", image_size=32, filters=4).save(path)
    return path


def run_cli(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_missing_model_file(command, tmp_path, capsys):
    missing = tmp_path / "nope.keras"
    argv = {
        "predict": ["predict", str(tmp_path), "--model", str(missing)],
        "evaluate": ["evaluate", "--model", str(missing), "--data", str(tmp_path)],
        "export": ["export", "--model", str(missing), "--out", str(tmp_path / "out")],
    }[command]
    if command == "predict":
        (tmp_path / "clip.mp4").write_bytes(b"x")
    code, err = run_cli(argv, capsys)
    assert code == 1
    assert "model file not found" in err and "nope.keras" in err


def test_a_file_that_is_not_a_keras_model(tmp_path, capsys):
    fake = tmp_path / "model.keras"
    fake.write_text("not a zip archive")
    code, err = run_cli(["export", "--model", str(fake), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and str(fake) in err and "could not be loaded" in err
    weights = tmp_path / "model.h5"
    weights.write_text("x")
    code, err = run_cli(["export", "--model", str(weights), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and str(weights) in err and ".keras" in err


def test_a_keras_model_that_is_not_a_detector(not_a_detector, tmp_path, capsys):
    code, err = run_cli(["export", "--model", str(not_a_detector), "--out", str(tmp_path)], capsys)
    assert code == 1
    assert str(not_a_detector) in err and "not an S-MIL detector" in err


def test_predict_on_a_folder_without_videos(detector_file, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos here")
    code, err = run_cli(["predict", str(empty), "--model", str(detector_file)], capsys)
    assert code == 1 and "no video files in folder" in err and str(empty) in err


def test_predict_on_a_missing_path(detector_file, tmp_path, capsys):
    code, err = run_cli(["predict", str(tmp_path / "gone.mp4"), "--model", str(detector_file)],
                        capsys)
    assert code == 1 and "gone.mp4" in err


def test_evaluate_without_shards(detector_file, tmp_path, capsys):
    code, err = run_cli(["evaluate", "--model", str(detector_file), "--data", str(tmp_path)],
                        capsys)
    assert code == 1 and str(tmp_path) in err


def test_train_without_shards(tmp_path, capsys):
    code, err = run_cli(["train", "--train", str(tmp_path / "missing"), "--run-dir",
                         str(tmp_path / "run"), "--backbone", "tiny", "--weights", "none"], capsys)
    assert code == 1 and "missing" in err


def test_train_flags_override_the_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 3\nbatch_size: 16\nbackbone: tiny\nweights: null\n")
    args = build_parser().parse_args(
        ["train", "--config", str(config), "--epochs", "5", "--xla",
         "--set", "instances=null", "model_kwargs={filters: 8}"]
    )
    resolved = resolve_config(args)
    assert (resolved.epochs, resolved.batch_size, resolved.backbone) == (5, 16, "tiny")
    assert resolved.weights is None and resolved.instances is None and resolved.jit_compile
    assert resolved.model_kwargs == {"filters": 8}


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "export", "demo"])
def test_every_command_prints_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_demo_on_a_folder_without_videos(tmp_path, capsys):
    code, err = run_cli(["demo", "--videos", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and "no video files in folder" in err

