"""The backend-neutral MTCNN against the `mtcnn` package it ports (its networks, helpers,
results)."""

import cv2
import numpy as np
import pytest

from smil_keras.faces import box_iou
from smil_keras.faces.mtcnn_cascade import crop_patches, nms, pyramid_scales, run_cascade
from smil_keras.faces.mtcnn_networks import build_mtcnn_networks, inference_function

tf = pytest.importorskip("tensorflow")  # the reference, `mtcnn` 1.0, is TensorFlow code
mtcnn = pytest.importorskip("mtcnn")


@pytest.fixture(scope="module")
def models():
    return build_mtcnn_networks()


@pytest.fixture(scope="module")
def reference():
    return mtcnn.MTCNN()


def test_networks_compute_what_mtcnns_models_compute(models, reference):
    rng = np.random.default_rng(0)
    inputs = {
        "pnet": rng.integers(0, 256, (2, 40, 57, 3)).astype(np.uint8),
        "rnet": rng.uniform(0, 255, (5, 24, 24, 3)).astype(np.float32),
        "onet": rng.uniform(0, 255, (5, 48, 48, 3)).astype(np.float32),
    }
    for stage in reference.stages:
        name = type(stage).__name__[len("Stage") :].lower()  # StagePNet -> pnet
        pixels = inputs[name]
        want = stage.model((pixels.astype(np.float32) - 127.5) / 128.0)  # mtcnn normalises first
        got = inference_function(models[name])(pixels)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w.numpy(), atol=1e-5)


def test_networks_ignore_the_mixed_precision_policy():
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        pnet = build_mtcnn_networks()["pnet"]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {layer.compute_dtype for layer in pnet.layers[1:]} == {"float32"}


def test_pyramid_is_mtcnns():
    from mtcnn.utils.images import build_scale_pyramid

    for height, width in [(24, 30), (240, 320), (360, 640), (1080, 1920), (500, 400)]:
        want = build_scale_pyramid(width, height, min_face_size=20, scale_factor=0.709)
        np.testing.assert_allclose(pyramid_scales(height, width), want)
        assert height * pyramid_scales(height, width)[-1] >= 12  # every level fits PNet's window


def test_crop_patches_sample_as_tf_crop_and_resize():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 60, 80, 3)).astype(np.uint8)
    images = np.stack([cv2.GaussianBlur(image, (5, 5), 1.5) for image in images])
    n = 40
    x1, y1, side = rng.uniform(-20, 70, n), rng.uniform(-20, 50, n), rng.uniform(5, 40, n)
    rows = np.column_stack([rng.integers(0, 3, n), x1, y1, x1 + side, y1 + side, np.ones(n)])
    for size in (24, 48):
        normalised = (images.astype(np.float32) - 127.5) / 128.0
        boxes = rows[:, [2, 1, 4, 3]] / np.array([60, 80, 60, 80])
        want = tf.image.crop_and_resize(normalised, boxes, rows[:, 0].astype(int), (size, size))
        want = want.numpy() * 128.0 + 127.5  # back to pixel values; the fill value 0 -> 127.5
        got = crop_patches(images, rows, size)
        assert got.shape == (n, size, size, 3) and got.dtype == np.float32
        # OpenCV rounds its bilinear samples to uint8 (and interpolates in 1/32 pixel steps).
        np.testing.assert_allclose(got, want, atol=1.0)
        assert np.mean(np.abs(got - want)) < 0.3


@pytest.mark.parametrize("method", ["union", "min"])
def test_nms_keeps_what_mtcnn_keeps(method):
    from mtcnn.utils.bboxes import smart_nms_from_bboxes

    rng = np.random.default_rng(2)
    n = 200
    x1, y1, side = rng.uniform(0, 100, n), rng.uniform(0, 100, n), rng.uniform(10, 40, n)
    rows = np.column_stack(
        [rng.integers(0, 3, n), x1, y1, x1 + side, y1 + side, rng.uniform(size=n)]
    )
    rows = rows[np.argsort(rows[:, 5])[::-1]]
    want = smart_nms_from_bboxes(rows, threshold=0.5, method=method, initial_sort=False)
    got = nms(rows, 0.5, method=method)
    assert 0 < len(got) < n
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "photo",
    [
        "face_recognition/obama.jpg",
        "face_recognition/two_people.jpg",
        "dlib/2007_007763.jpg",
        "facenet_pytorch/multiface.jpg",
        "mtcnn/ivan.jpg",
        "negatives/dlib_dogs.jpg",
    ],
)
def test_cascade_finds_the_faces_mtcnn_finds(models, reference, fixtures_dir, photo):
    image = cv2.cvtColor(cv2.imread(str(fixtures_dir / "images" / photo)), cv2.COLOR_BGR2RGB)
    scale = min(1.0, 640 / max(image.shape[:2]))  # as MTCNNDetector detects
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    want = np.asarray(
        reference.detect_faces(image, box_format="xyxy", output_type="numpy", fit_to_image=False)
    ).reshape(-1, 16)
    networks = {name: inference_function(model) for name, model in models.items()}
    got = run_cascade(networks, image[None])
    assert got.shape == want.shape
    xywh = lambda row: (row[1], row[2], row[3] - row[1], row[4] - row[2])  # noqa: E731
    for row in want:
        overlaps = [box_iou(xywh(row), xywh(other)) for other in got]
        match = got[int(np.argmax(overlaps))]
        assert max(overlaps) > 0.85
        assert match[5] == pytest.approx(row[5], abs=0.02)
        side = row[3] - row[1]
        assert np.abs(match[6:] - row[6:]).max() < 0.06 * side  # landmarks
