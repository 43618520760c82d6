"""MTCNN on real photos: counts from PROVENANCE.md, coordinates, options, batching."""

import copy
import inspect
import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from smil_keras.faces import Face, FaceDetector, MTCNNDetector, box_iou


@pytest.fixture(scope="module")
def detector():
    # 0.97 rather than the default 0.9: MTCNN scores a fold of Obama's suit 0.956 (at 640 px);
    # every real face in these photos scores at least 0.983.
    return MTCNNDetector(min_confidence=0.97)


@pytest.fixture(scope="module")
def load(fixtures_dir):
    def load(relative):
        image = cv2.imread(str(fixtures_dir / "images" / relative))
        assert image is not None, relative
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    return load


def variant(detector, **options):
    """The module's detector with other options, sharing its loaded networks."""
    other = copy.copy(detector)
    for name, value in options.items():
        setattr(other, name, value)
    return other


@pytest.mark.parametrize(
    "photo,expected,tolerance",
    [
        ("face_recognition/obama.jpg", 1, 0),
        ("face_recognition/obama_small.jpg", 1, 0),
        ("face_recognition/two_people.jpg", 2, 0),
        ("face_recognition/kit_with_rose.jpg", 2, 0),
        ("dlib/2008_002506.jpg", 3, 0),
        ("dlib/2007_007763.jpg", 7, 1),
        ("facenet_pytorch/multiface.jpg", 6, 1),
        ("facenet_pytorch/paul_rudd_1.jpg", 1, 0),
        ("dfdc_frames/lynaeydofd_fr0_REAL.jpg", 1, 0),
        ("negatives/mtcnn_no-faces.jpg", 0, 0),
        ("negatives/dlib_dogs.jpg", 0, 0),
    ],
)
def test_finds_the_faces_listed_in_provenance(detector, load, photo, expected, tolerance):
    image = load(photo)
    found = detector.detect([image])[0]
    assert abs(len(found) - expected) <= tolerance, [f.confidence for f in found]
    height, width = image.shape[:2]
    for face in found:
        x, y, w, h = face.box
        assert all(isinstance(v, int) for v in face.box)
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= width and y + h <= height
        assert face.confidence >= 0.97 and face.frame_index == 0 and face.track_id == -1
        eyes_y = max(face.landmarks["left_eye"][1], face.landmarks["right_eye"][1])
        mouth_y = min(face.landmarks["mouth_left"][1], face.landmarks["mouth_right"][1])
        assert face.landmarks["left_eye"][0] < face.landmarks["right_eye"][0] and eyes_y < mouth_y
        for lx, ly in face.landmarks.values():
            assert x - 0.1 * w <= lx <= x + 1.1 * w and y - 0.1 * h <= ly <= y + 1.1 * h
    assert [f.confidence for f in found] == sorted((f.confidence for f in found), reverse=True)


def test_downscaled_detection_maps_back_to_full_resolution(detector, load):
    image = load("face_recognition/obama.jpg")  # 910x1137: detected at 640 px, i.e. scale 0.56
    assert detector.detection_scale(image.shape) == pytest.approx(640 / 1137)
    small = detector.detect([image])[0][0]
    full = variant(detector, detect_max_side=None).detect([image])[0][0]
    assert box_iou(small.box, full.box) > 0.8
    for name, (x, y) in full.landmarks.items():
        assert (
            np.hypot(x - small.landmarks[name][0], y - small.landmarks[name][1])
            < 0.05 * full.box[2]
        )


def test_frames_without_a_face_at_the_reduced_size_get_a_second_look(detector, load):
    image = load("face_recognition/obama.jpg")  # 910x1137; at 24 px MTCNN cannot find a face
    assert variant(detector, detect_max_side=24, second_look=False).detect([image]) == [[]]
    full = variant(detector, detect_max_side=None).detect([image])[0]
    assert len(full) == 1
    again = variant(detector, detect_max_side=24).detect([image, image])
    for position, faces in enumerate(again):
        assert [(f.box, f.frame_index) for f in faces] == [(full[0].box, position)]
        assert faces[0].confidence == pytest.approx(full[0].confidence)


def test_batch_gives_the_same_faces_as_one_frame_at_a_time(detector, load):
    multiface, obama = load("facenet_pytorch/multiface.jpg"), load("face_recognition/obama.jpg")
    frames = [multiface, obama, multiface, np.ascontiguousarray(multiface[:, ::-1])]
    batched = variant(detector, batch_size=2).detect(frames)
    assert len(batched) == 4
    for position, (frame, faces) in enumerate(zip(frames, batched, strict=True)):
        alone = detector.detect([frame])[0]
        assert len(faces) == len(alone)
        assert all(f.frame_index == position for f in faces)
        for a, b in zip(
            sorted(faces, key=lambda f: f.box), sorted(alone, key=lambda f: f.box), strict=True
        ):
            assert box_iou(a.box, b.box) > 0.9


def test_max_faces_per_frame_keeps_the_most_confident(detector, load):
    image = load("facenet_pytorch/multiface.jpg")
    every = detector.detect([image])[0]
    kept = variant(detector, max_faces_per_frame=2).detect([image])[0]
    assert len(every) > 2
    top_two = sorted((f.confidence for f in every), reverse=True)[:2]
    assert [f.confidence for f in kept] == pytest.approx(top_two)


def test_non_default_min_face_size_works(detector, load):
    # mtcnn 1.0.0 itself returns no face at all for min_face_size > ~24 (see MTCNNDetector).
    multiface = load("facenet_pytorch/multiface.jpg")  # faces ~100 px
    assert len(variant(detector, min_face_size=40).detect([multiface])[0]) >= 5
    assert (
        len(
            variant(detector, min_face_size=12).detect([load("face_recognition/obama_small.jpg")])[
                0
            ]
        )
        == 1
    )
    crowd = load("dlib/2007_007763.jpg")  # seven faces of 36-57 px
    default = variant(detector, detect_max_side=None).detect([crowd])[0]
    large_only = variant(detector, detect_max_side=None, min_face_size=60).detect([crowd])[0]
    assert 0 < len(large_only) < len(default)


def test_images_too_small_for_mtcnn_have_no_face(detector):
    assert detector.detect([np.zeros((10, 10, 3), np.uint8), np.zeros((30, 20, 3), np.uint8)]) == [
        [],
        [],
    ]
    assert detector.detect([]) == []


def test_bad_frames_are_rejected(detector):
    with pytest.raises(ValueError, match="frame 0"):
        detector.detect([np.zeros((50, 50), np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        detector.detect([np.zeros((50, 50, 3), np.float32)])


def test_config_holds_every_constructor_argument(detector):
    assert isinstance(detector, FaceDetector)
    config = detector.get_config()
    assert set(config) == set(inspect.signature(MTCNNDetector).parameters)
    assert config["min_confidence"] == 0.97 and config["detect_max_side"] == 640


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="min_face_size"):
        MTCNNDetector(min_face_size=0)
    with pytest.raises(ValueError, match="min_confidence"):
        MTCNNDetector(min_confidence=1.5)


def test_face_is_a_plain_dataclass():
    face = Face(3, (1, 2, 3, 4), 0.5)
    assert face.landmarks == {} and face.track_id == -1


@pytest.mark.slow
def test_jax_backend_without_tensorflow_finds_the_same_faces(
    detector, load, fixtures_dir, jax_without_tensorflow_env
):
    # The networks are Keras 3 models and the cascade NumPy: no TensorFlow needed (the lent GPU
    # machines have JAX and no TensorFlow). A subprocess, since the backend is fixed at import.
    photo = fixtures_dir / "images" / "facenet_pytorch" / "multiface.jpg"
    script = textwrap.dedent(f"""
        import json
        import cv2
        from smil_keras.faces import MTCNNDetector
        image = cv2.cvtColor(cv2.imread({str(photo)!r}), cv2.COLOR_BGR2RGB)
        faces = MTCNNDetector(min_confidence=0.97).detect([image, image[:, ::-1].copy()])
        print(json.dumps([[[f.box, f.confidence] for f in frame] for frame in faces]))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=jax_without_tensorflow_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    on_jax = json.loads(done.stdout.strip().splitlines()[-1])
    image = load("facenet_pytorch/multiface.jpg")
    on_tensorflow = detector.detect([image, np.ascontiguousarray(image[:, ::-1])])
    for jax_faces, tf_faces in zip(on_jax, on_tensorflow, strict=True):
        assert len(jax_faces) == len(tf_faces) >= 5
        for (box, confidence), face in zip(jax_faces, tf_faces, strict=True):
            assert tuple(box) == face.box and confidence == pytest.approx(face.confidence, abs=1e-4)
