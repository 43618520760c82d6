"""Bad inputs give the documented exit status (0 done, 1 some inputs failed, 2 usage or fatal
error) and a one-line message naming the path and the problem; start-up is quiet and fast."""

import json
import os
import subprocess
import sys
import textwrap

import cv2
import keras
import numpy as np
import pytest

from smil_keras.cli import console, predict
from smil_keras.cli.main import build_parser, main
from smil_keras.cli.train import resolve_config
from smil_keras.evaluation import video_predictor
from smil_keras.faces import Face, FaceDetector
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
    assert code == 2
    assert "model file not found" in err and "nope.keras" in err


def test_a_file_that_is_not_a_keras_model(tmp_path, capsys):
    fake = tmp_path / "model.keras"
    fake.write_text("not a zip archive")
    code, err = run_cli(["export", "--model", str(fake), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and str(fake) in err and "corrupt or truncated" in err
    weights = tmp_path / "model.h5"
    weights.write_text("x")
    code, err = run_cli(["export", "--model", str(weights), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and str(weights) in err and ".keras" in err


def test_a_keras_model_that_is_not_a_detector(not_a_detector, tmp_path, capsys):
    code, err = run_cli(["export", "--model", str(not_a_detector), "--out", str(tmp_path)], capsys)
    assert code == 2
    assert str(not_a_detector) in err and "not an S-MIL detector" in err


def test_predict_on_a_folder_without_videos(detector_file, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos here")
    code, err = run_cli(["predict", str(empty), "--model", str(detector_file)], capsys)
    assert code == 2 and "no video files in folder" in err and str(empty) in err


def test_predict_on_a_missing_path(detector_file, tmp_path, capsys):
    code, err = run_cli(
        ["predict", str(tmp_path / "gone.mp4"), "--model", str(detector_file)], capsys
    )
    assert code == 2 and "video not found" in err and "gone.mp4" in err


def test_evaluate_without_shards(detector_file, tmp_path, capsys):
    code, err = run_cli(
        ["evaluate", "--model", str(detector_file), "--data", str(tmp_path)], capsys
    )
    assert code == 2 and str(tmp_path) in err
    code, err = run_cli(
        ["evaluate", "--model", str(detector_file), "--data", str(tmp_path / "gone")], capsys
    )
    assert code == 2 and "not found" in err and "gone" in err


def test_evaluate_needs_one_distinct_name_per_model(detector_file, tmp_path, capsys):
    code, err = run_cli(
        [
            "evaluate",
            "--model",
            str(detector_file),
            str(detector_file),
            "--name",
            "a",
            "--data",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 2 and "2 models but 1 names" in err
    code, err = run_cli(
        [
            "evaluate",
            "--model",
            str(detector_file),
            str(detector_file),
            "--name",
            "a",
            "a",
            "--data",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 2 and "its own name" in err


def test_train_without_shards(tmp_path, capsys):
    code, err = run_cli(
        [
            "train",
            "--train",
            str(tmp_path / "missing"),
            "--run-dir",
            str(tmp_path / "run"),
            "--backbone",
            "tiny",
            "--weights",
            "none",
        ],
        capsys,
    )
    assert code == 2 and "missing" in err
    assert err.startswith("smil train: error:") and err.count("\n") == 1


def test_train_flags_override_the_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 3\nbatch_size: 16\nbackbone: tiny\nweights: null\n")
    args = build_parser().parse_args(
        [
            "train",
            "--config",
            str(config),
            "--epochs",
            "5",
            "--xla",
            "--set",
            "instances=12",
            "model_kwargs={filters: 8}",
        ]
    )
    resolved = resolve_config(args)
    assert (resolved.epochs, resolved.batch_size, resolved.backbone) == (5, 16, "tiny")
    assert resolved.weights is None and resolved.instances == 12 and resolved.jit_compile
    assert resolved.model_kwargs == {"filters": 8}


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "export", "demo"])
def test_every_command_prints_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_demo_on_a_folder_without_videos(tmp_path, capsys):
    code, err = run_cli(["demo", "--videos", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "no video files in folder" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "clip.mp4", "--frames", "0"],
        ["predict", "clip.mp4", "--threshold", "1.5"],
        ["evaluate", "--model", "m.keras", "--batch-size", "-1"],
    ],
)
def test_out_of_range_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--model", "m.keras"] if argv[0] == "predict" else [*argv, "--data", "d"])
    assert exit_info.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_help_documents_the_exit_codes_and_how_to_see_the_libraries_output(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit status" in out and "--verbose" in out and "SMIL_VERBOSE=1" in out
    for code in ("0  done", "1  some inputs failed", "2  usage or fatal error"):
        assert code in out


def _run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def test_a_command_module_that_fails_to_import_is_an_error_not_a_missing_command():
    # A packaging error (a module missing from the wheel, a broken import) must show, not
    # silently remove the command from `smil --help`.
    result = _run_python("""
        import sys
        sys.modules["smil_keras.cli.export"] = None  # as if the module were missing
        from smil_keras.cli.main import main
        main(["--help"])
    """)
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr and "smil_keras.cli.export" in result.stderr


def test_wrong_paths_are_answered_before_tensorflow_is_imported(detector_file, tmp_path):
    result = _run_python(f"""
        import sys
        from smil_keras.cli.main import main
        codes = [
            main(["predict", {str(tmp_path / "missing.mp4")!r}, "--model", "x.keras"]),
            main(["predict", {str(tmp_path)!r}, "--model", {str(tmp_path / "x.keras")!r}]),
            main(["evaluate", "--model", {str(detector_file)!r}, "--data",
                  {str(tmp_path / "gone")!r}]),
        ]
        print(codes, [name for name in ("tensorflow", "keras") if name in sys.modules])
    """)
    assert result.stdout.split("\n")[0] == "[2, 2, 2] []", result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        f"smil predict: error: video not found: {tmp_path / 'missing.mp4'}",
        f"smil predict: error: model file not found: {tmp_path / 'x.keras'}",
        f"smil evaluate: error: --data path not found: {tmp_path / 'gone'}",
    ]


def test_native_output_goes_nowhere_while_python_messages_still_show(capfd):
    with console.quiet_native_output():
        os.write(2, b"native library chatter\n")  # what C++ code writes to the stderr descriptor
        print("a message from Python", file=sys.stderr, flush=True)
    os.write(2, b"native again\n")
    err = capfd.readouterr().err
    assert "native library chatter" not in err
    assert "a message from Python" in err and "native again" in err


def _write_video(path, frames, fps=10):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A clip with a pattern, a blank clip, a file that is not a video, and a truncated clip."""
    folder = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    pattern = _write_video(
        folder / "pattern.mp4", [rng.integers(0, 256, (64, 64, 3), np.uint8) for _ in range(6)]
    )
    blank = _write_video(folder / "blank.mp4", [np.full((64, 64, 3), 128, np.uint8)] * 6)
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(b"this is not a video")
    truncated = folder / "truncated.mp4"  # its index (the "moov atom") is at the end: cut off
    truncated.write_bytes(pattern.read_bytes()[: pattern.stat().st_size // 2])
    return {"pattern": pattern, "blank": blank, "corrupt": corrupt, "truncated": truncated}


class PatternDetector(FaceDetector):
    """A face in the middle of every frame that is not one flat colour."""

    def detect(self, frames):
        return [
            [Face(i, (16, 16, 32, 32), 0.99, {})] if frame.std() > 10 else []
            for i, frame in enumerate(frames)
        ]


def test_predict_names_each_video_without_a_score_and_why(
    detector_file, videos, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(video_predictor, "MTCNNDetector", PatternDetector)
    out = tmp_path / "scores.json"
    argv = [str(videos[name]) for name in ("pattern", "blank", "corrupt")]
    code = main(
        ["predict", *argv, "--model", str(detector_file), "--frames", "3", "--json", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 1  # the corrupt file failed; the batch went on
    table = [line for line in captured.out.splitlines() if not line.startswith(" ")]  # videos
    assert [line.split()[:2] for line in table[1:4]] == [
        ["pattern.mp4", "ok"],
        ["blank.mp4", "no_faces"],
        ["corrupt.mp4", "error"],
    ]
    results = json.loads(out.read_text())
    assert [r["status"] for r in results] == ["ok", "no_faces", "error"]
    assert "no face found" in results[1]["reason"]
    assert "cannot be opened as a video" in results[2]["reason"]
    assert "2 of 3 videos have no score:" in captured.err
    for result in results[1:]:
        assert f"  {result['video']}: {result['status']}: {result['reason']}" in captured.err

    # A video without a face is a result, not a failure: exit status 0.
    code = main(["predict", *argv[:2], "--model", str(detector_file), "--frames", "3"])
    assert code == 0


def test_start_up_is_quiet_unless_asked(detector_file, videos):
    """In a fresh process: no TensorFlow/CUDA start-up lines and no FFmpeg chatter for corrupt
    and truncated files by default; SMIL_VERBOSE=1 shows them, and the library's logs."""
    argv = [
        "-m",
        "smil_keras.cli.main",
        "predict",
        str(videos["corrupt"]),
        str(videos["truncated"]),
        "--model",
        str(detector_file),
        "--frames",
        "3",
    ]
    quiet, verbose = (
        subprocess.run(
            [sys.executable, *argv],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "SMIL_VERBOSE": flag},
        )
        for flag in ("", "1")
    )
    assert quiet.returncode == verbose.returncode == 1
    lines = [line.split("\r")[-1] for line in quiet.stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith("scoring videos")]
    assert lines == [
        "2 of 2 videos have no score:",
        f"  {videos['corrupt']}: error: cannot be opened as a video (not a video, "
        "unsupported or corrupt)",
        f"  {videos['truncated']}: error: cannot be opened as a video (not a "
        "video, unsupported or corrupt)",
    ], quiet.stderr
    assert "moov atom not found" in verbose.stderr  # FFmpeg on the truncated file
    assert "INFO smil_keras.evaluation.video_predictor: cannot read video" in verbose.stderr


def test_an_unexpected_error_is_one_line_and_its_traceback_is_there_with_verbose(
    monkeypatch, capsys
):
    def broken(args):
        raise RuntimeError("something no check foresaw")

    monkeypatch.setattr(predict, "run", broken)
    assert main(["predict", "clip.mp4", "--model", "m.keras"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "smil predict: error: unexpected RuntimeError: something no check foresaw "
        "(run again with --verbose for the traceback)\n"
    )
    assert main(["predict", "clip.mp4", "--model", "m.keras", "--verbose"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith(
        "smil predict: error: unexpected RuntimeError: something no check foresaw\n"
    )
