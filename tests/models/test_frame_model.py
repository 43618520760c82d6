import numpy as np
import pytest

from smil_keras.models import VARIANTS, explain_model, frame_model

# Poolings that score each face on its own: a bag of one face gets that face's score.
PER_FACE = ("s-mil", "mil", "att-mil", "xn-avg", "xn-max")


@pytest.mark.parametrize("variant", PER_FACE)
def test_frame_score_is_the_faces_own_score_inside_a_bag(detector, random_faces, variant):
    model = detector(variant)
    faces = random_faces(1, 4, seed=11)
    explanation = explain_model(model)({"faces": faces, "mask": np.ones((1, 4), bool)})
    in_bag = np.asarray(explanation["face_probability"])
    scores = np.asarray(frame_model(model)(faces[0]))
    assert scores.shape == (4, 1)
    np.testing.assert_allclose(scores[:, 0], in_bag[0], rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_frame_score_is_the_detector_on_a_bag_of_one_face(detector, random_faces, variant):
    model = detector(variant)
    faces = random_faces(3, 1, seed=12)
    expected = np.asarray(model({"faces": faces, "mask": np.ones((3, 1), bool)}))
    np.testing.assert_allclose(np.asarray(frame_model(model)(faces[:, 0])), expected, atol=1e-6)
