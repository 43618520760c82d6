"""A verdict per person in `smil predict`: bags ordered person by person, each person's fake
probability, the table, the JSON and the pictures.

The two-person clip is made here from `skimage.data.astronaut()` (on the left in frames 0-5)
and its mirror image (on the right in frames 3-7), so where each face is is known. The
per-person numbers are checked against the detector run here on each person's faces alone.
"""

import contextlib
import io
import json

import cv2
import keras
import numpy as np
import pytest
import skimage.data

from smil_keras.cli.main import main
from smil_keras.datasets.partial_attack import write_video
from smil_keras.datasets.photo_clip import ASTRONAUT_FACE_BOX, animate_photo
from smil_keras.evaluation import VideoPredictor
from smil_keras.evaluation.exported_detector import ExportedDetector
from smil_keras.evaluation.video_predictor import person_order
from smil_keras.export import export_saved_model
from smil_keras.faces import Face, FaceDetector, box_iou, crop_face
from smil_keras.models import build_detector, explain_model
from smil_keras.video import sample_frames

FRAMES = 8
SIDE = 160  # each person's half of the 320 x 160 frames
LEFT_FRAMES = [0, 1, 2, 3, 4, 5]  # the astronaut
RIGHT_FRAMES = [3, 4, 5, 6, 7]  # her mirror image


def _people(seed=0):
    """Two animated clips of `FRAMES` frames: the astronaut and her mirror image, with boxes."""
    photo = skimage.data.astronaut()
    x, y, w, h = ASTRONAUT_FACE_BOX
    mirrored_box = (photo.shape[1] - x - w, y, w, h)
    left = animate_photo(photo, ASTRONAUT_FACE_BOX, FRAMES, SIDE, np.random.default_rng(seed))
    right = animate_photo(
        photo[:, ::-1].copy(), mirrored_box, FRAMES, SIDE, np.random.default_rng(seed + 1)
    )
    return left, right


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The two-person clip; returns its path and where each person was placed, by frame."""
    (left, left_boxes), (right, right_boxes) = _people()
    blank = np.full((SIDE, SIDE, 3), 128, np.uint8)
    frames = [
        np.concatenate(
            [left[t] if t in LEFT_FRAMES else blank, right[t] if t in RIGHT_FRAMES else blank],
            axis=1,
        )
        for t in range(FRAMES)
    ]
    path = tmp_path_factory.mktemp("clips") / "two_people.mp4"
    write_video(path, frames, fps=10)
    placed = {
        "left": {t: left_boxes[t] for t in LEFT_FRAMES},
        "right": {t: (b[0] + SIDE, *b[1:]) for t, b in enumerate(right_boxes) if t in RIGHT_FRAMES},
    }
    return {"path": path, "placed": placed}


@pytest.fixture(scope="module")
def detector():
    """A tiny S-MIL-T whose scores depend on the faces: its head's weights made 10 times larger
    than at initialisation (which leaves every probability near 0.5)."""
    keras.utils.set_random_seed(3)
    model = build_detector("s-mil-t", backbone="tiny", image_size=32, filters=8)
    for name in ("encoder", "pooling_k1", "pooling_k2", "pooling_k3", "pooling"):
        for weight in model.get_layer(name).weights:
            if "bias" not in weight.path:
                weight.assign(weight * 10.0)
    return model


@pytest.fixture(scope="module")
def predicted(clip, detector, tmp_path_factory):
    """`smil predict` (MTCNN faces) on the clip with --json and --visualize, run once."""
    folder = tmp_path_factory.mktemp("predict")
    model = folder / "detector.keras"
    detector.save(model)
    out, pictures = folder / "scores.json", folder / "pictures"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            [
                "predict",
                str(clip["path"]),
                "--model",
                str(model),
                "--frames",
                str(FRAMES),
                "--json",
                str(out),
                "--visualize",
                str(pictures),
                "--gradcam-faces",
                "0",
            ]
        )
    (result,) = json.loads(out.read_text())
    return {"code": code, "result": result, "table": stdout.getvalue(), "pictures": pictures}


def _person_crops(video, faces, view):
    """The view's crops of `faces` (JSON dicts), cut here from the decoded video."""
    sample = sample_frames(video, FRAMES)
    frames = dict(zip(sample.indices, sample.frames, strict=True))
    crops = [crop_face(frames[f["frame"]], f["box"], view.margin, view.image_size) for f in faces]
    return np.stack(crops).astype("float32")[None]


def test_json_has_each_person_with_the_frames_where_their_face_was_placed(clip, predicted):
    assert predicted["code"] == 0
    result = predicted["result"]
    assert result["status"] == "ok"
    persons = result["persons"]
    assert [p["person"] for p in persons] == [0, 1]  # in order of first appearance
    assert persons[0]["frames"] == LEFT_FRAMES and persons[1]["frames"] == RIGHT_FRAMES
    for person, side in zip(persons, ("left", "right"), strict=True):
        theirs = [f for f in result["faces"] if f["person"] == person["person"]]
        assert [f["frame"] for f in theirs] == person["frames"]
        for face in theirs:  # the face found is the one placed there
            assert box_iou(face["box"], clip["placed"][side][face["frame"]]) > 0.5
        assert person["face_probabilities"] == [f["fake_probability"] for f in theirs]
        assert person["attention"] == [f["attention"] for f in theirs]
        assert person["label"] == ("fake" if person["fake_probability"] >= 0.5 else "real")
    assert [f["frame"] for f in result["faces"]] == sorted(f["frame"] for f in result["faces"])
    assert sum(f["attention"] for f in result["faces"]) == pytest.approx(1.0, abs=1e-5)


def test_each_persons_probability_is_the_detector_on_that_persons_faces_alone(
    clip, detector, predicted
):
    result = predicted["result"]
    alone = []
    for person in result["persons"]:
        theirs = [f for f in result["faces"] if f["person"] == person["person"]]
        crops = _person_crops(clip["path"], theirs, detector.view)
        expected = detector({"faces": crops, "mask": np.ones(crops.shape[:2], bool)})
        alone.append(float(np.asarray(expected)[0, 0]))
        assert person["fake_probability"] == pytest.approx(alone[-1], abs=1e-5)
    assert abs(alone[0] - alone[1]) > 1e-3  # the check tells the two people apart

    # The video: the detector on the bag ordered person by person, knowing who is who.
    ordered = sorted(result["faces"], key=lambda f: (f["person"], f["frame"]))
    crops = _person_crops(clip["path"], ordered, detector.view)
    ids = np.array([[f["person"] for f in ordered]], "int32")
    inputs = {"faces": crops, "mask": np.ones(ids.shape, bool), "person_ids": ids}
    outputs = {k: np.asarray(v) for k, v in explain_model(detector)(inputs).items()}
    assert result["fake_probability"] == pytest.approx(outputs["fake_probability"][0, 0], abs=1e-5)
    np.testing.assert_allclose(
        [f["attention"] for f in ordered], outputs["attention"][0], atol=1e-5
    )
    np.testing.assert_allclose(
        [f["fake_probability"] for f in ordered], outputs["face_probability"][0], atol=1e-5
    )


def test_table_shows_each_person_under_the_video(predicted):
    lines = predicted["table"].splitlines()
    video = next(i for i, line in enumerate(lines) if line.startswith("two_people.mp4"))
    for offset, person in enumerate(predicted["result"]["persons"], start=1):
        cells = lines[video + offset].split()
        assert cells[:2] == ["person", str(person["person"])]
        assert float(cells[2]) == pytest.approx(person["fake_probability"], abs=5e-5)
        assert cells[3] == person["label"] and int(cells[4]) == len(person["frames"])
        assert " ".join(cells[5:]) == ", ".join(str(f) for f in person["frames"])


def test_pictures_box_each_person_in_a_colour_of_their_own(predicted):
    result = predicted["result"]
    colours = {}
    for face in result["faces"]:
        picture = cv2.imread(
            str(predicted["pictures"] / "two_people" / f"frame_{face['frame']:06d}.png")
        )
        x, y, w, h = face["box"]
        colour = tuple(int(c) for c in picture[y + h // 2, x, ::-1])  # the box's left side
        colours.setdefault(face["person"], set()).add(colour)
    assert all(len(seen) == 1 for seen in colours.values()), colours  # one colour per person
    assert colours[0] != colours[1]
    assert (predicted["pictures"] / "two_people" / "faces.png").is_file()


class FixedBoxes(FaceDetector):
    """The same faces at `boxes` in every frame."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, frames):
        return [[Face(i, box, 0.99, {}) for box in self.boxes] for i in range(len(frames))]


@pytest.fixture(scope="module")
def still_clips(tmp_path_factory):
    """Still shots (light flicker only) of one person, and of two: `(path, boxes)` each."""
    (left, left_boxes), (right, right_boxes) = _people(seed=5)
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("still")
    clips = {}
    for name, image, boxes in (
        ("one", left[0], [left_boxes[0]]),
        (
            "two",
            np.concatenate([left[0], right[0]], axis=1),
            [left_boxes[0], (right_boxes[0][0] + SIDE, *right_boxes[0][1:])],
        ),
    ):
        frames = [
            np.clip(image.astype(np.int16) + rng.integers(-4, 5), 0, 255).astype(np.uint8)
            for _ in range(FRAMES)
        ]
        write_video(folder / f"{name}.mp4", frames, fps=10)
        clips[name] = (folder / f"{name}.mp4", boxes)
    return clips


def test_one_person_video_gives_exactly_the_numbers_of_the_frame_ordered_bag(detector, still_clips):
    path, boxes = still_clips["one"]
    result = VideoPredictor(detector, FixedBoxes(boxes), num_frames=FRAMES).predict(path)
    assert len(result["persons"]) == 1 and result["persons"][0]["frames"] == list(range(FRAMES))
    crops = _person_crops(path, result["faces"], detector.view)  # frame order, no person ids
    expected = explain_model(detector)({"faces": crops, "mask": np.ones(crops.shape[:2], bool)})
    assert result["fake_probability"] == pytest.approx(
        float(np.asarray(expected["fake_probability"])[0, 0]), abs=1e-5
    )
    np.testing.assert_allclose(
        [f["attention"] for f in result["faces"]], np.asarray(expected["attention"])[0], atol=1e-5
    )
    assert result["persons"][0]["fake_probability"] == pytest.approx(
        result["fake_probability"], abs=1e-5
    )


@pytest.mark.slow  # exports a SavedModel
def test_an_exported_saved_model_gives_the_same_persons_as_the_keras_detector(
    detector, still_clips, tmp_path
):
    path, boxes = still_clips["two"]
    keras_result = VideoPredictor(detector, FixedBoxes(boxes), num_frames=FRAMES).predict(path)
    export_saved_model(detector, tmp_path / "saved")
    exported = ExportedDetector(tmp_path / "saved")
    result = VideoPredictor(exported, FixedBoxes(boxes), num_frames=FRAMES).predict(path)
    for name in ("fake_probability", "face_probabilities"):
        np.testing.assert_allclose(
            [p[name] for p in result["persons"]],
            [p[name] for p in keras_result["persons"]],
            atol=1e-5,
        )
    assert result["fake_probability"] == pytest.approx(keras_result["fake_probability"], abs=1e-5)

    # A SavedModel exported before `serving_persons` existed: each person's faces scored alone.
    exported._serve_persons = None
    older = VideoPredictor(exported, FixedBoxes(boxes), num_frames=FRAMES).predict(path)
    np.testing.assert_allclose(
        [p["fake_probability"] for p in older["persons"]],
        [p["fake_probability"] for p in keras_result["persons"]],
        atol=1e-5,
    )


def test_person_order_groups_faces_by_track_in_order_of_first_appearance():
    # (frame, track): track 7 appears first, then 2; 5 comes later; given out of frame order.
    given = [(2, 2), (0, 7), (1, 2), (0, 2), (3, 5), (1, 7), (3, 7)]
    faces = [Face(frame, (0, 0, 9, 9), 1.0, track_id=track) for frame, track in given]
    order, person_ids = person_order(faces)
    np.testing.assert_array_equal(person_ids, [1, 0, 1, 1, 2, 0, 0])
    # Person 0 (track 7) at frames 0, 1, 3; person 1 (track 2) at 0, 1, 2; person 2 (track 5).
    np.testing.assert_array_equal(order, [1, 5, 6, 3, 2, 0, 4])
    untracked = [Face(t, (0, 0, 9, 9), 1.0) for t in (1, 0, 2)]  # never linked: one person
    order, person_ids = person_order(untracked)
    np.testing.assert_array_equal(person_ids, [0, 0, 0])
    np.testing.assert_array_equal(order, [1, 0, 2])
