"""Evaluation and prediction see a face the way the detector was trained to: its view's margin.

A detector trained on margin-1.5 faces is evaluated (`smil evaluate`, `score_bags`) and scores
videos (`smil predict`, `VideoPredictor`) on margin-1.5 views, checked against crops cut here
with `crop_face`, and against the default 1.3 view, which gives other faces and numbers.
"""

import csv
import json

import cv2
import keras
import numpy as np
import pytest

import smil_keras.data
from smil_keras.bags import BagRecord, BagShardWriter
from smil_keras.cli.main import main
from smil_keras.data import make_bag_dataset
from smil_keras.errors import ViewMismatchError
from smil_keras.evaluation import VideoPredictor, score_bags, video_predictor
from smil_keras.faces import Face, FaceDetector, crop_face, stored_crop
from smil_keras.models import build_detector, explain_model
from smil_keras.video import sample_frames

SIZE = 30
MARGIN = 1.5
BOX = (40, 30, 20, 20)  # MARGIN * 20 = SIZE: the view is cut without resizing
FRAMES = 4

# The module (the package's `score_bags` is the function of the same name).


def _frame(rng, height=96, width=128):
    """A frame of 8-pixel blobs of random colour: JPEG keeps it, a shifted view changes it."""
    cells = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return cv2.resize(cells, (width, height), interpolation=cv2.INTER_CUBIC)


class FixedBoxDetector(FaceDetector):
    """One face at `BOX` in every frame."""

    def detect(self, frames):
        return [[Face(i, BOX, 0.99, {})] for i in range(len(frames))]


@pytest.fixture(scope="module")
def detector():
    keras.utils.set_random_seed(0)  # a detector whose scores depend on the faces
    return build_detector("s-mil", backbone="tiny", image_size=SIZE, filters=16, margin=MARGIN)


@pytest.fixture(scope="module")
def detector_file(detector, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "margin_1_5.keras"
    detector.save(path)
    return path


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    """Three labelled videos of three frames, stored as `smil extract` stores the view's faces."""
    rng = np.random.default_rng(0)
    stored_size, stored_margin = stored_crop(SIZE, MARGIN)
    folder = tmp_path_factory.mktemp("bags")
    frames = {}
    with BagShardWriter(folder, videos_per_shard=2) as writer:
        for video in range(3):
            frames[f"v{video}"] = [_frame(rng) for _ in range(3)]
            crops = [
                crop_face(frame, BOX, stored_margin, stored_size) for frame in frames[f"v{video}"]
            ]
            writer.write(
                BagRecord(
                    f"v{video}",
                    f"v{video}.mp4",
                    crops,
                    boxes=[BOX] * 3,
                    label=video % 2,
                    face_labels=[video % 2] * 3,
                    margin=stored_margin,
                )
            )
    return {"folder": folder, "frames": frames}


def _probability(model, crops):
    faces = np.stack(crops).astype("float32")[None]
    return float(np.asarray(model({"faces": faces, "mask": np.ones(faces.shape[:2], bool)}))[0, 0])


def test_evaluate_scores_bags_on_the_detectors_margin(
    detector, detector_file, bags, tmp_path, monkeypatch
):
    datasets = []

    def spy(*args, **kwargs):  # keeps the dataset score_bags builds, to look at its faces
        datasets.append(make_bag_dataset(*args, **kwargs))
        return datasets[-1]

    # score_bags imports make_bag_dataset from smil_keras.data when called (no TensorFlow at
    # import time), so the spy replaces it there.
    monkeypatch.setattr(smil_keras.data, "make_bag_dataset", spy)
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(detector_file),
                "--name",
                "m15",
                "--data",
                str(bags["folder"]),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with (out / "videos_m15.csv").open() as file:
        scored = {row["video_id"]: float(row["fake_probability"]) for row in csv.DictReader(file)}
    assert sorted(scored) == ["v0", "v1", "v2"]

    # The faces scored are crop_face's margin-1.5 views of the faces (up to JPEG), not 1.3 ones.
    (dataset,) = datasets
    faces = np.concatenate([inputs["faces"].numpy() for inputs, _ in dataset])
    assert faces.shape == (3, 3, SIZE, SIZE, 3)
    for video, bag in enumerate(faces):
        frames = bags["frames"][f"v{video}"]
        wanted = np.stack([crop_face(frame, BOX, MARGIN, SIZE) for frame in frames])
        default = np.stack([crop_face(frame, BOX, 1.3, SIZE) for frame in frames])
        # JPEG changes these frames by about 3 levels on average; a view one pixel off, or the
        # margin-1.3 view, by more than 10.
        assert np.abs(bag - wanted.astype(float)).mean() < 5
        assert np.abs(bag - default.astype(float)).mean() > 10
        # ... and the probabilities written are the detector's on those faces.
        assert scored[f"v{video}"] == pytest.approx(_probability(detector, bag), abs=2e-6)


def test_score_bags_refuses_a_margin_other_than_the_view(detector, bags):
    with pytest.raises(ViewMismatchError, match=r"margin=1\.5.*margin=1\.3"):
        score_bags(detector, bags["folder"], margin=1.3, progress=False)
    agreeing = score_bags(detector, bags["folder"], margin=MARGIN, progress=False)
    assert len(agreeing) == 3


def _write_video(path, frames, fps=10):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame[..., ::-1])
    writer.release()
    return path


def test_predict_cuts_faces_with_the_detectors_margin(
    detector, detector_file, tmp_path, monkeypatch
):
    rng = np.random.default_rng(1)
    video = _write_video(tmp_path / "clip.mp4", [_frame(rng) for _ in range(8)])
    monkeypatch.setattr(video_predictor, "MTCNNDetector", FixedBoxDetector)  # smil predict's
    out = tmp_path / "scores.json"
    assert (
        main(
            [
                "predict",
                str(video),
                "--model",
                str(detector_file),
                "--frames",
                str(FRAMES),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    (result,) = json.loads(out.read_text())

    # Independently: the same sampled frames, cut here with crop_face at margin 1.5.
    sample = sample_frames(video, FRAMES)
    crops = [crop_face(frame, BOX, MARGIN, SIZE) for frame in sample.frames]
    expected = explain_model(detector)(
        {"faces": np.stack(crops)[None].astype("float32"), "mask": np.ones((1, FRAMES), bool)}
    )
    assert result["status"] == "ok"
    assert [face["frame"] for face in result["faces"]] == list(sample.indices)
    explained = {name: np.asarray(value)[0] for name, value in expected.items()}
    assert result["fake_probability"] == pytest.approx(explained["fake_probability"][0], abs=1e-6)
    np.testing.assert_allclose(
        [face["fake_probability"] for face in result["faces"]],
        explained["face_probability"],
        atol=1e-6,
    )
    np.testing.assert_allclose(
        [face["attention"] for face in result["faces"]], explained["attention"], atol=1e-6
    )
    # The default margin-1.3 crops give other per-face scores: the check above tells them apart.
    default_view = [crop_face(frame, BOX, 1.3, SIZE) for frame in sample.frames]
    default = explain_model(detector)(
        {
            "faces": np.stack(default_view)[None].astype("float32"),
            "mask": np.ones((1, FRAMES), bool),
        }
    )
    differences = np.asarray(default["face_probability"])[0] - explained["face_probability"]
    assert np.abs(differences).max() > 1e-4


def test_video_predictor_refuses_a_margin_other_than_the_view(detector):
    with pytest.raises(ViewMismatchError, match=r"margin=1\.5.*margin=1\.3"):
        VideoPredictor(detector, face_detector=FixedBoxDetector(), margin=1.3)
    assert VideoPredictor(detector, face_detector=FixedBoxDetector(), margin=1.5).view.margin == 1.5
