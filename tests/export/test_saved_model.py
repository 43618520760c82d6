"""SavedModel export: signatures, dynamic bag size, padding, agreement with Keras, the view it
carries, input checks and the output folder."""

import json
import shutil

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from smil_keras.errors import ModelFileError
from smil_keras.export import export_saved_model, read_view
from smil_keras.faces import FaceView
from smil_keras.models import build_detector, explain_model

SIZE = 32
VIEW = FaceView(image_size=SIZE, margin=1.5, instances=12, preprocessing="tiny")


@pytest.fixture(scope="module")
def detector():
    return build_detector("s-mil-t", backbone="tiny", filters=8, view=VIEW)


@pytest.fixture(scope="module")
def export_dir(detector, tmp_path_factory):
    return export_saved_model(detector, tmp_path_factory.mktemp("export") / "1")


@pytest.fixture(scope="module")
def exported(detector, export_dir):
    return explain_model(detector), tf.saved_model.load(str(export_dir))


def bags(batch, faces, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, faces, SIZE, SIZE, 3), dtype=np.uint8)


def test_signatures_have_the_serving_contract(exported):
    _, loaded = exported
    assert set(loaded.signatures) == {"serving_default", "serving_jpeg", "serving_persons"}
    serve = loaded.signatures["serving_default"]
    _, inputs = serve.structured_input_signature
    assert inputs["faces"].dtype == tf.uint8
    assert inputs["faces"].shape.as_list() == [None, None, SIZE, SIZE, 3]
    assert inputs["mask"].dtype == tf.bool and inputs["mask"].shape.as_list() == [None, None]
    assert set(serve.structured_outputs) == {"fake_probability", "face_probability", "attention"}


@pytest.mark.parametrize("num_faces", [1, 5])
def test_served_outputs_equal_keras_for_any_bag_size(exported, num_faces):
    explainer, loaded = exported
    faces = bags(2, num_faces, seed=num_faces)
    mask = np.ones((2, num_faces), bool)
    mask[1, num_faces // 2 + 1 :] = False
    served = loaded.signatures["serving_default"](faces=tf.constant(faces), mask=tf.constant(mask))
    expected = explainer({"faces": faces.astype("float32"), "mask": mask})
    assert served["fake_probability"].shape == (2, 1)
    assert served["face_probability"].shape == served["attention"].shape == (2, num_faces)
    for name in ("fake_probability", "face_probability", "attention"):
        np.testing.assert_allclose(served[name].numpy(), np.asarray(expected[name]), atol=1e-5)


def test_padding_does_not_change_the_video_score(exported):
    _, loaded = exported
    serve = loaded.signatures["serving_default"]
    faces = bags(1, 4)
    alone = serve(faces=tf.constant(faces), mask=tf.ones((1, 4), tf.bool))
    padded_faces = np.concatenate([faces, bags(1, 3, seed=9)], axis=1)
    padded = serve(faces=tf.constant(padded_faces), mask=tf.constant([[True] * 4 + [False] * 3]))
    np.testing.assert_allclose(padded["fake_probability"], alone["fake_probability"], atol=1e-6)
    np.testing.assert_allclose(padded["attention"][:, 4:], 0.0)


def test_jpeg_signature_decodes_crops_and_treats_empty_strings_as_padding(exported):
    explainer, loaded = exported
    faces = bags(1, 2)[0]
    jpeg = [[tf.io.encode_jpeg(face, quality=100).numpy() for face in faces] + [b""]]
    served = loaded.signatures["serving_jpeg"](jpeg=tf.constant(jpeg))
    # OpenCV's decoder: the pixels the crops were stored from (TensorFlow's default
    # INTEGER_FAST decoding differs by a few levels)
    decoded = np.stack(
        [
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
            for data in jpeg[0][:2]
        ]
    )
    expected = explainer({"faces": decoded[None].astype("float32"), "mask": np.ones((1, 2), bool)})
    for name in ("fake_probability", "face_probability", "attention"):
        np.testing.assert_allclose(
            served[name].numpy()[:, :2], np.asarray(expected[name]), atol=1e-5
        )
    assert served["attention"].numpy()[0, 2] == 0.0


def test_jpeg_signature_resizes_crops_of_another_size(exported):
    explainer, loaded = exported
    faces = np.full((2, SIZE, SIZE, 3), 128, np.uint8)
    faces[0, 8:24, 8:24], faces[1, 8:24, 8:24] = (200, 60, 30), (20, 90, 220)  # JPEG-friendly
    doubled = faces.repeat(2, axis=1).repeat(2, axis=2)  # each pixel becomes a 2x2 block
    jpeg = [[tf.io.encode_jpeg(face, quality=100).numpy() for face in doubled]]
    served = loaded.signatures["serving_jpeg"](jpeg=tf.constant(jpeg))
    expected = explainer({"faces": faces[None].astype("float32"), "mask": np.ones((1, 2), bool)})
    np.testing.assert_allclose(
        served["fake_probability"], np.asarray(expected["fake_probability"]), atol=2e-3
    )


# --- A verdict per person ---

PERSON_IDS = np.array([[0, 0, 1, 1, 1], [1, 0, 1, -1, -1]], np.int32)


def test_the_persons_signature_takes_person_ids_and_returns_per_person_outputs(exported):
    _, loaded = exported
    serve = loaded.signatures["serving_persons"]
    _, inputs = serve.structured_input_signature
    assert inputs["faces"].dtype == tf.uint8
    assert inputs["faces"].shape.as_list() == [None, None, SIZE, SIZE, 3]
    assert inputs["mask"].dtype == tf.bool and inputs["mask"].shape.as_list() == [None, None]
    assert inputs["person_ids"].dtype == tf.int32
    assert inputs["person_ids"].shape.as_list() == [None, None]
    assert set(serve.structured_outputs) == {
        "fake_probability",
        "face_probability",
        "attention",
        "person_probability",
        "person_mask",
    }
    # serving_default keeps its inputs and outputs
    _, inputs = loaded.signatures["serving_default"].structured_input_signature
    assert set(inputs) == {"faces", "mask"}


def test_served_person_probabilities_equal_keras_and_each_person_alone(exported):
    explainer, loaded = exported
    faces, mask = bags(2, 5, seed=3), PERSON_IDS >= 0
    served = loaded.signatures["serving_persons"](
        faces=tf.constant(faces), mask=tf.constant(mask), person_ids=tf.constant(PERSON_IDS)
    )
    inputs = {"faces": faces.astype("float32"), "mask": mask, "person_ids": PERSON_IDS}
    expected = explainer(inputs)
    for name in ("fake_probability", "face_probability", "attention", "person_probability"):
        np.testing.assert_allclose(served[name].numpy(), np.asarray(expected[name]), atol=1e-5)
    assert served["person_mask"].dtype == tf.bool
    np.testing.assert_array_equal(
        served["person_mask"].numpy(), [[True, True, False, False, False]] * 2
    )
    serve = loaded.signatures["serving_default"]
    for b, person in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        alone = faces[b : b + 1, PERSON_IDS[b] == person]
        video = serve(faces=tf.constant(alone), mask=tf.ones(alone.shape[:2], tf.bool))
        np.testing.assert_allclose(
            served["person_probability"].numpy()[b, person],
            video["fake_probability"].numpy()[0, 0],
            atol=1e-5,
        )


@pytest.mark.parametrize(
    "person_ids, message",
    [
        (np.zeros((2, 4), np.int32), r"person_ids must be int32 \(batch, M\).*\[2 5\].*\[2 4\]"),
        (np.zeros((2, 5, 1), np.int32), r"person_ids must be int32 \(batch, M\)"),
        (np.full((2, 5), 5, np.int32), r"person indices 0 \.\. M - 1.*M =\] \[5\]"),
    ],
    ids=["M", "rank", "id >= M"],
)
def test_the_persons_signature_checks_person_ids(exported, person_ids, message):
    serve = exported[1].signatures["serving_persons"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve(
            faces=tf.zeros((2, 5, SIZE, SIZE, 3), tf.uint8),
            mask=tf.ones((2, 5), tf.bool),
            person_ids=tf.constant(person_ids),
        )


# --- The view travels with the SavedModel ---


def test_the_saved_model_carries_the_detectors_view(export_dir, exported):
    assert read_view(export_dir) == VIEW
    assert json.loads((export_dir / "assets.extra" / "view.json").read_text()) == {
        "image_size": SIZE,
        "margin": 1.5,
        "instances": 12,
        "preprocessing": "tiny",
    }
    _, loaded = exported  # also readable from the loaded SavedModel, without any file
    assert FaceView.from_config(json.loads(loaded.view[0].numpy())) == VIEW


def test_read_view_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="SavedModel folder not found"):
        read_view(tmp_path / "nothing")
    with pytest.raises(ModelFileError, match="not a SavedModel folder"):
        read_view(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"")
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "view.json").write_text('{"image_size": 0}')
    with pytest.raises(ModelFileError, match=r"view.json: not a valid view: image_size"):
        read_view(tmp_path)


def test_a_saved_model_exported_before_views_is_refused_with_what_to_do(tmp_path, export_dir):
    old = tmp_path / "old"
    shutil.copytree(export_dir, old)
    (old / "assets.extra" / "view.json").unlink()  # as written before SavedModels had a view
    with pytest.raises(ModelFileError) as raised:
        read_view(old)
    message = str(raised.value)
    assert message.startswith(f"bad model file {old}: no assets.extra/view.json")
    assert f"smil export --model DETECTOR.keras --out {old} --overwrite" in message
    # The other way out it names: the view file written by hand, which read_view then reads.
    (old / "assets.extra" / "view.json").write_text(message[message.index("{") :])
    assert read_view(old) == FaceView(image_size=299, margin=1.3, instances=8)


# --- Wrong inputs are refused with what is expected ---

WRONG_INPUTS = {
    "image size": ((1, 2, 40, 40, 3), (1, 2), r"faces must be uint8 \(batch, M, 32, 32, 3\)"),
    "rank": ((2, SIZE, SIZE, 3), (2, 1), r"faces must be uint8 \(batch, M, 32, 32, 3\)"),
    "rank 6": ((1, 2, SIZE, SIZE, 3, 1), (1, 2), r"got shape\] \[1 2 32 32 3 1\]"),
    "channels": ((1, 2, SIZE, SIZE, 1), (1, 2), r"faces must be .*got shape\] \[1 2 32 32 1\]"),
    "mask batch": (
        (2, 3, SIZE, SIZE, 3),
        (1, 3),
        r"mask must be bool \(batch, M\).*\[2 3\].*\[1 3\]",
    ),
    "mask M": ((2, 3, SIZE, SIZE, 3), (2, 4), r"mask must be bool \(batch, M\).*\[2 3\].*\[2 4\]"),
    "mask rank": ((2, 3, SIZE, SIZE, 3), (2,), r"mask must be bool \(batch, M\)"),
    "mask rank 3": ((2, 3, SIZE, SIZE, 3), (2, 3, 1), r"mask must be .*got shape\] \[2 3 1\]"),
}


@pytest.mark.parametrize("case", WRONG_INPUTS)
def test_the_serving_signature_checks_shapes_and_says_what_it_expects(exported, case):
    faces_shape, mask_shape, message = WRONG_INPUTS[case]
    serve = exported[1].signatures["serving_default"]  # TF Serving's path: no Python checks
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve(faces=tf.zeros(faces_shape, tf.uint8), mask=tf.ones(mask_shape, tf.bool))


@pytest.mark.parametrize("jpeg", [[b"", b""], [[[b""]]], b""], ids=["rank 1", "rank 3", "rank 0"])
def test_the_jpeg_signature_checks_its_rank(exported, jpeg):
    serve = exported[1].signatures["serving_jpeg"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"jpeg must be string \(batch, M\)"):
        serve(jpeg=tf.constant(jpeg))


# --- The output folder ---


def test_export_refuses_a_file_and_a_folder_with_other_files(detector, tmp_path):
    a_file = tmp_path / "model"
    a_file.write_text("mine")
    with pytest.raises(FileExistsError, match="is a file"):
        export_saved_model(detector, a_file)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="holds no SavedModel"):
            export_saved_model(detector, folder, overwrite=overwrite)
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine", "model"]  # no partial


def test_export_replaces_a_saved_model_only_with_overwrite(detector, tmp_path):
    out = tmp_path / "serving" / "smil" / "1"  # parents are created
    export_saved_model(detector, out)
    (out / "stale.txt").write_text("from the old export")
    with pytest.raises(FileExistsError, match="already holds a SavedModel.*overwrite"):
        export_saved_model(detector, out)
    other = build_detector("xn-avg", backbone="tiny", image_size=SIZE, margin=1.2)
    export_saved_model(other, out, overwrite=True)
    assert not (out / "stale.txt").exists()
    assert read_view(out).margin == 1.2
    assert sorted(path.name for path in out.parent.iterdir()) == ["1"]  # no partial folder left
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_saved_model(other, empty) == empty  # an empty folder is fine


def test_export_refuses_a_model_that_is_not_a_detector(tmp_path):
    classifier = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(TypeError, match="explain_model needs a SMILDetector"):
        export_saved_model(classifier, tmp_path / "1")
    assert list(tmp_path.iterdir()) == []
