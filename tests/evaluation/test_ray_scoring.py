"""Offline scoring into a JSON Lines file (`score_videos`, `smil predict --out`), locally and on
Ray (issue 15 §3): one line per video, resumable, bad videos recorded, a dying worker reported.

A tiny detector (tiny backbone, 32 px faces) scores short synthetic clips; a stand-in face
detector finds one face in the middle of every frame that is not one flat colour. Scores are
checked against the loaded `.keras` detector run here on faces cut here from frames read with
OpenCV.
"""

import json
import os
import sys

import cv2
import numpy as np
import pytest

from smil_keras.bags import FolderLock
from smil_keras.cli.main import main
from smil_keras.datasets.partial_attack import write_video
from smil_keras.errors import LockedError
from smil_keras.evaluation import ExportedDetector, load_detector, score_videos, video_predictor
from smil_keras.export import export_saved_model
from smil_keras.faces import Face, FaceDetector, crop_face
from smil_keras.models import build_detector

SIZE = 32
FRAMES = 3
BOX = (16, 16, 32, 32)
REAL_VIDEO = "videos/ffpp/original_sequences/youtube/c23/videos/519.mp4"


class PatternDetector(FaceDetector):
    """A face in the middle of every frame that is not one flat colour."""

    def detect(self, frames):
        return [
            [Face(i, BOX, 0.99, {})] if frame.std() > 10 else [] for i, frame in enumerate(frames)
        ]

    def get_config(self):
        return {}


class CrashOnWhite(PatternDetector):
    """Kills its process on a white frame, as a crash in a native decoder would, after adding a
    line to the file `deaths`."""

    def __init__(self, deaths):
        self.deaths = str(deaths)

    def detect(self, frames):
        if any(frame.min() > 240 for frame in frames):
            with open(self.deaths, "a", encoding="utf-8") as file:
                file.write("died\n")
            os._exit(3)
        return super().detect(frames)

    def get_config(self):
        return {"deaths": self.deaths}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three clips with a pattern, a blank clip, a file that is not a video, a white clip."""
    folder = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    clips = {f"pattern{k}": list(rng.integers(0, 256, (6, 64, 64, 3), np.uint8)) for k in range(3)}
    clips["blank"] = [np.full((64, 64, 3), 128, np.uint8)] * 6
    clips["white"] = [np.full((64, 64, 3), 255, np.uint8)] * 6
    for name, frames in clips.items():
        write_video(folder / f"{name}.mp4", frames)
    (folder / "corrupt.mp4").write_bytes(b"this is not a video")
    return {name: str(folder / f"{name}.mp4") for name in [*clips, "corrupt"]}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny detector as a `.keras` file and as an exported SavedModel folder."""
    folder = tmp_path_factory.mktemp("models")
    detector = build_detector("s-mil", backbone="tiny", image_size=SIZE, filters=4)
    detector.save(folder / "detector.keras")
    export_saved_model(detector, folder / "saved_model")
    return {"keras": str(folder / "detector.keras"), "saved_model": str(folder / "saved_model")}


@pytest.fixture
def pattern_faces(monkeypatch):
    """The stand-in face detector wherever `VideoPredictor` builds its default."""
    monkeypatch.setattr(video_predictor, "MTCNNDetector", PatternDetector)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip(
        "ray", reason='Ray is not installed (optional: pip install "smil-keras[ray]")'
    )
    # This test module is not importable by name in Ray's workers: ship its code by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def expected_probability(model, video, frames):
    """The detector's fake probability on the faces cut here from `frames` of `video`."""
    capture = cv2.VideoCapture(video)
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame[..., ::-1])
    faces = np.stack([crop_face(decoded[i], BOX, 1.3, SIZE) for i in frames]).astype("float32")
    output = model({"faces": faces[None], "mask": np.ones((1, len(frames)), bool)})
    return float(np.asarray(output)[0, 0])


def read_lines(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def check_scores(results, videos, model):
    """ok clips scored as the detector scores them, the blank one without faces, the corrupt
    one an error; in input order."""
    names = ["pattern0", "pattern1", "pattern2", "blank", "corrupt"]
    assert [r["video"] for r in results] == [os.path.abspath(videos[n]) for n in names]
    assert [r["status"] for r in results] == ["ok", "ok", "ok", "no_faces", "error"]
    for result in results[:3]:
        frames = [face["frame"] for face in result["faces"]]
        assert len(frames) == FRAMES and all(face["box"] == list(BOX) for face in result["faces"])
        expected = expected_probability(model, result["video"], frames)
        assert result["fake_probability"] == pytest.approx(expected, abs=1e-5)
        assert sum(face["attention"] for face in result["faces"]) == pytest.approx(1, abs=1e-5)
    assert results[3]["fake_probability"] is None and "no face" in results[3]["reason"]
    assert results[4]["reason"]


def test_local_engine_writes_a_line_per_video_and_a_rerun_scores_only_new_ones(
    videos, models, pattern_faces, tmp_path
):
    out = tmp_path / "scores.jsonl"
    first = [videos["pattern0"], videos["blank"]]
    score_videos(first, models["keras"], out, num_frames=FRAMES, progress=False)
    before = out.read_bytes()
    assert len(read_lines(out)) == 2
    inputs = [videos[n] for n in ("pattern0", "pattern1", "pattern2", "blank", "corrupt")]
    results = score_videos(inputs, models["keras"], out, num_frames=FRAMES, progress=False)
    check_scores(results, videos, load_detector(models["keras"]))
    assert out.read_bytes().startswith(before)  # lines written before are kept as they are
    lines = read_lines(out)
    assert sorted(line["video"] for line in lines) == sorted(r["video"] for r in results)
    assert {line["video"]: line for line in lines} == {r["video"]: r for r in results}


def test_ray_scores_like_the_local_engine_resumes_and_drops_a_torn_line(
    videos, models, local_ray, tmp_path
):
    out = tmp_path / "scores.jsonl"
    names = ["pattern0", "pattern1", "pattern2", "blank", "corrupt"]
    # A previous run scored pattern1 (a made-up probability: it must not be scored again) and
    # was killed while writing the next line.
    done = {
        "video": os.path.abspath(videos["pattern1"]),
        "status": "ok",
        "fake_probability": 0.125,
        "label": "real",
        "faces": [],
    }
    out.write_text(json.dumps(done) + "\n" + '{"video": "/data/cut-sh')
    results = score_videos(
        [videos[n] for n in names],
        models["saved_model"],
        out,
        engine="ray",
        workers=2,
        num_frames=FRAMES,
        face_detector=PatternDetector(),
        progress=False,
    )
    lines = read_lines(out)
    assert lines[0] == done  # kept, not scored again; the torn line is gone
    assert sorted(line["video"] for line in lines) == sorted(r["video"] for r in results)
    assert {line["video"]: line for line in lines} == {r["video"]: r for r in results}
    # The SavedModel on Ray scores as the .keras detector here.
    results[1] = score_videos(
        [videos["pattern1"]], models["keras"], tmp_path / "p1.jsonl", num_frames=FRAMES,
        face_detector=PatternDetector(), progress=False,
    )[0]  # fmt: skip
    check_scores(results, videos, load_detector(models["keras"]))


@pytest.mark.slow
def test_cli_on_ray_writes_the_lines_of_the_local_engine(
    fixtures_dir, videos, models, local_ray, tmp_path, capsys
):
    """MTCNN on a real face (one frame), on Ray and locally; a corrupt file is an error line."""
    inputs = [str(fixtures_dir / REAL_VIDEO), videos["corrupt"]]
    argv = ["predict", *inputs, "--model", models["keras"], "--frames", "1", "--out"]
    assert main([*argv, str(tmp_path / "local.jsonl")]) == 1
    capsys.readouterr()
    code = main([*argv, str(tmp_path / "ray.jsonl"), "--engine", "ray", "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 1  # the corrupt file is an error; the batch went on
    assert "2 videos: 1 scored, 0 without faces, 1 errors" in captured.out
    assert f"  {os.path.abspath(videos['corrupt'])}: error: " in captured.err
    local = {line["video"]: line for line in read_lines(tmp_path / "local.jsonl")}
    remote = read_lines(tmp_path / "ray.jsonl")
    assert len(remote) == 2 and {line["video"]: line for line in remote}.keys() == local.keys()
    for line in remote:
        expected = local[line["video"]]
        assert line["status"] == expected["status"] and len(line["faces"]) == len(expected["faces"])
        if line["status"] == "ok":
            assert len(line["faces"]) >= 1
            assert line["fake_probability"] == pytest.approx(expected["fake_probability"], abs=1e-5)
            assert [f["box"] for f in line["faces"]] == [f["box"] for f in expected["faces"]]


@pytest.mark.slow  # worker deaths and restarts: each restart imports TensorFlow
def test_a_worker_that_dies_on_a_video_is_reported_not_recorded_and_the_batch_goes_on(
    videos, models, local_ray, tmp_path, monkeypatch
):
    from smil_keras.bags import ray_engine

    monkeypatch.setattr(ray_engine, "RETRIES", 0)  # a retry restarts the worker: seconds
    out = tmp_path / "scores.jsonl"
    deaths = tmp_path / "deaths.txt"
    # Two videos per row on 2 workers: pattern0 shares its row with the white clip.
    inputs = [videos["pattern0"], videos["white"], videos["pattern1"], videos["pattern2"]]
    results = score_videos(
        inputs,
        models["keras"],
        out,
        engine="ray",
        workers=2,
        num_frames=FRAMES,
        face_detector=CrashOnWhite(deaths),
        progress=False,
    )
    assert [r["status"] for r in results] == ["ok", "error", "ok", "ok"]
    # It killed its worker once in its row of two, once in its row of one (no retry).
    assert deaths.read_text().count("died") == 2
    assert "the Ray worker scoring it died on each of" in results[1]["reason"]
    # Not written: a rerun tries it again. The others are scored once each.
    assert sorted(line["video"] for line in read_lines(out)) == sorted(
        os.path.abspath(videos[n]) for n in ("pattern0", "pattern1", "pattern2")
    )


def test_exported_detector_gives_the_keras_detectors_outputs(models):
    exported = ExportedDetector(models["saved_model"])
    model = load_detector(models["keras"])
    assert exported.view == model.view
    faces = np.random.default_rng(1).integers(0, 256, (2, 3, SIZE, SIZE, 3), np.uint8)
    mask = np.array([[True, True, True], [True, True, False]])
    outputs = exported({"faces": faces, "mask": mask})
    expected = model({"faces": faces.astype("float32"), "mask": mask})
    np.testing.assert_allclose(outputs["fake_probability"], np.asarray(expected), atol=1e-6)
    assert outputs["attention"].shape == (2, 3)
    np.testing.assert_allclose(outputs["attention"].sum(axis=1), [1, 1], atol=1e-6)
    # With person ids: each person's probability is the detector's on that person's faces alone.
    person_ids = np.array([[0, 1, 0], [0, 1, -1]], np.int32)
    people = exported({"faces": faces, "mask": mask, "person_ids": person_ids})
    np.testing.assert_array_equal(people["person_mask"][:, :2], [[True, True], [True, True]])
    for bag, person in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        alone = person_ids[bag] == person
        expected = model(
            {"faces": faces[bag : bag + 1, alone].astype("float32"), "mask": mask[[bag]][:, alone]}
        )
        assert people["person_probability"][bag, person] == pytest.approx(
            float(np.asarray(expected)[0, 0]), abs=1e-5
        )


def test_a_file_that_is_not_results_is_refused_and_left_as_it_is(videos, models, tmp_path):
    out = tmp_path / "notes.jsonl"
    out.write_text('{"video": "a.mp4", "status": "ok"}\nsome notes\n{"vid')
    with pytest.raises(ValueError, match=r"notes.jsonl, line 2: not a video result"):
        score_videos([videos["pattern0"]], models["keras"], out, progress=False)
    assert out.read_text() == '{"video": "a.mp4", "status": "ok"}\nsome notes\n{"vid'
    binary = tmp_path / "model.keras"
    binary.write_bytes(b"PK\x03\x04 no newline at all")
    with pytest.raises(ValueError, match="line 1: not a video result"):
        score_videos([videos["pattern0"]], models["keras"], binary, progress=False)
    assert binary.read_bytes() == b"PK\x03\x04 no newline at all"


def test_a_second_writer_of_the_same_file_is_refused(videos, models, tmp_path):
    out = tmp_path / "scores.jsonl"
    with FolderLock(tmp_path, "scores.jsonl.lock"), pytest.raises(LockedError):
        score_videos([videos["pattern0"]], models["keras"], out, progress=False)
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--engine", "ray"], "--engine ray writes its results to --out"),
        (["--workers", "2"], "--workers is for --engine ray"),
        (["--address", "auto", "--out", "s.jsonl"], "--address is for --engine ray"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(videos, extra, message, capsys):
    assert main(["predict", videos["pattern0"], "--model", "m.keras", *extra]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", videos["pattern0"], "--model", "m.keras", "--gpus-per-worker", "-1"])
    assert exit_info.value.code == 2 and "expected a number >= 0" in capsys.readouterr().err


def test_a_saved_model_is_refused_for_grad_cam_and_a_folder_must_hold_one(
    videos, models, tmp_path, capsys
):
    video = videos["pattern0"]
    code = main(["predict", video, "--model", models["saved_model"], "--visualize", str(tmp_path)])
    assert code == 2 and "Grad-CAM maps need the .keras detector" in capsys.readouterr().err
    code = main(["predict", video, "--model", str(tmp_path)])
    assert code == 2
    assert f"{tmp_path} is a folder without saved_model.pb" in capsys.readouterr().err


def test_engine_ray_without_ray_says_how_to_install_it(videos, models, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as when absent
    monkeypatch.delitem(sys.modules, "smil_keras.evaluation.ray_scoring", raising=False)
    monkeypatch.delitem(sys.modules, "smil_keras.bags.ray_engine", raising=False)
    out = tmp_path / "scores.jsonl"
    with pytest.raises(ImportError, match='pip install "smil-keras\\[ray\\]"'):
        score_videos([videos["pattern0"]], models["keras"], out, engine="ray", progress=False)
    assert not out.exists()  # refused before anything is written
