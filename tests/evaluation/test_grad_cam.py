"""Grad-CAM against its closed form on a backbone whose last feature map is average-pooled."""

import keras
import numpy as np

from smil_keras.evaluation import draw_faces, grad_cam, overlay_heatmap
from smil_keras.models import build_detector


def test_grad_cam_equals_the_closed_form_for_a_linear_face_classifier():
    # XN-avg scores a face alone as sigmoid(w . GAP(A) + b), A the tiny backbone's last
    # feature map. The gradient of the score w.r.t. A[i, j, k] is s (1 - s) w_k / (h w), the
    # same at every position, so the normalised Grad-CAM map is ReLU(sum_k w_k A[..., k]) / max.
    keras.utils.set_random_seed(1)
    detector = build_detector("xn-avg", backbone="tiny", image_size=32)
    faces = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    features = keras.Model(detector.backbone.input, detector.backbone.get_layer("relu3").output)
    weights = np.asarray(detector.get_layer("pooling").classifier_kernel)[:, 0]
    expected = np.maximum(np.einsum("nhwk,k->nhw", np.asarray(features(faces)), weights), 0)
    expected /= np.maximum(expected.max(axis=(1, 2), keepdims=True), 1e-12)

    heatmaps = grad_cam(detector, faces)
    assert heatmaps.shape == (3, 4, 4)  # 32 px after three stride-2 convolutions
    np.testing.assert_allclose(heatmaps, expected, atol=1e-5)


def test_grad_cam_on_a_named_layer_and_overlay():
    detector = build_detector("s-mil-t", backbone="tiny", image_size=32, filters=8)
    faces = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    heatmaps = grad_cam(detector, faces, layer_name="conv2")
    assert heatmaps.shape == (2, 8, 8)
    assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0
    assert overlay_heatmap(faces[0], heatmaps[0]).shape == (32, 32, 3)


def test_draw_faces_colours_boxes_by_score():
    frame = np.zeros((120, 200, 3), np.uint8)
    faces = [
        {"box": [10, 40, 50, 50], "fake_probability": 0.9, "attention": 0.7},
        {"box": [120, 40, 50, 50], "fake_probability": 0.1, "attention": 0.3},
    ]
    image = draw_faces(frame, faces)
    fake_edge, real_edge = image[70, 10], image[70, 120]  # left edges of the two boxes
    assert fake_edge[0] > fake_edge[1]  # red: fake
    assert real_edge[1] > real_edge[0]  # green: real
    assert not frame.any()  # the input frame is left untouched
