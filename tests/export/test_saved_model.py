"""SavedModel export: signatures, dynamic bag size, padding, and agreement with Keras."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from smil_keras.export import export_saved_model
from smil_keras.models import build_detector, explain_model

SIZE = 32


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    detector = build_detector("s-mil-t", backbone="tiny", image_size=SIZE, filters=8)
    out = export_saved_model(detector, tmp_path_factory.mktemp("export") / "1")
    return explain_model(detector), tf.saved_model.load(str(out))


def bags(batch, faces, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, faces, SIZE, SIZE, 3), dtype=np.uint8)


def test_signatures_have_the_serving_contract(exported):
    _, loaded = exported
    assert set(loaded.signatures) == {"serving_default", "serving_jpeg"}
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
    mask[1, num_faces // 2 + 1:] = False
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
    padded = serve(faces=tf.constant(padded_faces),
                   mask=tf.constant([[True] * 4 + [False] * 3]))
    np.testing.assert_allclose(padded["fake_probability"], alone["fake_probability"], atol=1e-6)
    np.testing.assert_allclose(padded["attention"][:, 4:], 0.0)


def test_jpeg_signature_decodes_crops_and_treats_empty_strings_as_padding(exported):
    explainer, loaded = exported
    faces = bags(1, 2)[0]
    jpeg = [[tf.io.encode_jpeg(face, quality=100).numpy() for face in faces] + [b""]]
    served = loaded.signatures["serving_jpeg"](jpeg=tf.constant(jpeg))
    # OpenCV's decoder: the pixels the crops were stored from (TensorFlow's default
    # INTEGER_FAST decoding differs by a few levels)
    decoded = np.stack([cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
                        for data in jpeg[0][:2]])
    expected = explainer({"faces": decoded[None].astype("float32"), "mask": np.ones((1, 2), bool)})
    for name in ("fake_probability", "face_probability", "attention"):
        np.testing.assert_allclose(served[name].numpy()[:, :2], np.asarray(expected[name]),
                                   atol=1e-5)
    assert served["attention"].numpy()[0, 2] == 0.0


def test_jpeg_signature_resizes_crops_of_another_size(exported):
    explainer, loaded = exported
    faces = np.full((2, SIZE, SIZE, 3), 128, np.uint8)
    faces[0, 8:24, 8:24], faces[1, 8:24, 8:24] = (200, 60, 30), (20, 90, 220)  # JPEG-friendly
    doubled = faces.repeat(2, axis=1).repeat(2, axis=2)  # each pixel becomes a 2x2 block
    jpeg = [[tf.io.encode_jpeg(face, quality=100).numpy() for face in doubled]]
    served = loaded.signatures["serving_jpeg"](jpeg=tf.constant(jpeg))
    expected = explainer({"faces": faces[None].astype("float32"), "mask": np.ones((1, 2), bool)})
    np.testing.assert_allclose(served["fake_probability"], np.asarray(expected["fake_probability"]),
                               atol=2e-3)
