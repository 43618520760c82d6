import keras
import numpy as np
import pytest

from smil_keras.models import (
    ApplicationPreprocessing,
    TinyBackbone,
    backbone_names,
    build_backbone,
)


def pixels(n, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_tiny_backbone_maps_faces_to_small_embeddings():
    backbone = build_backbone("tiny", image_size=32)
    assert isinstance(backbone, TinyBackbone)
    assert backbone.output_shape == (None, 64)
    assert 10_000 < backbone.count_params() < 40_000
    assert np.asarray(backbone(pixels(3, 32))).shape == (3, 64)


def test_tiny_backbone_rescales_pixels_to_minus_one_one_inside_the_model():
    rescale = TinyBackbone(image_size=32).get_layer("rescale")
    out = np.asarray(rescale(np.array([0.0, 127.5, 255.0], "float32")))
    np.testing.assert_allclose(out, [-1.0, 0.0, 1.0], atol=1e-6)


def test_tiny_backbone_config_round_trip_keeps_architecture_and_outputs():
    backbone = TinyBackbone(image_size=40, filters=(8, 16))
    clone = TinyBackbone.from_config(backbone.get_config())
    clone.set_weights(backbone.get_weights())
    assert clone.get_config() == backbone.get_config()
    assert clone.output_shape == (None, 16)
    x = pixels(2, 40)
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(backbone(x)), atol=1e-6)


@pytest.mark.parametrize("application", ["Xception", "ResNet50", "MobileNetV2"])
def test_application_preprocessing_matches_the_networks_numpy_preprocess_input(application):
    module = {"Xception": "xception", "ResNet50": "resnet50", "MobileNetV2": "mobilenet_v2"}
    reference = getattr(keras.applications, module[application]).preprocess_input
    x = pixels(2, 8)
    expected = reference(x.copy())  # NumPy code path of keras.applications
    layer = ApplicationPreprocessing(application)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-4)
    restored = ApplicationPreprocessing.from_config(layer.get_config())
    np.testing.assert_allclose(np.asarray(restored(x)), expected, rtol=1e-5, atol=1e-4)


def test_xception_preprocessing_is_the_closed_form_scaling():
    x = pixels(1, 4)
    out = np.asarray(ApplicationPreprocessing("xception")(x))
    np.testing.assert_allclose(out, x / 127.5 - 1.0, atol=1e-6)


def test_tiny_weights_path_loads_those_weights(tmp_path):
    source = build_backbone("tiny", image_size=32)
    path = str(tmp_path / "tiny.weights.h5")
    source.save_weights(path)
    loaded = build_backbone("tiny", image_size=32, weights=path)
    fresh = build_backbone("tiny", image_size=32)
    x = pixels(2, 32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(source(x)), atol=1e-6)
    assert not np.allclose(np.asarray(fresh(x)), np.asarray(source(x)))


def test_xception_builds_small_with_preprocessing_inside_and_loads_a_weights_file(tmp_path):
    backbone = build_backbone("xception", image_size=71, weights=None)
    assert backbone.input_shape == (None, 71, 71, 3)
    assert backbone.output_shape == (None, 2048)
    assert isinstance(backbone.get_layer("preprocess"), ApplicationPreprocessing)
    x = pixels(1, 71)
    path = str(tmp_path / "xception.weights.h5")
    backbone.save_weights(path)
    loaded = build_backbone("xception", image_size=71, weights=path)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(backbone(x)), atol=1e-5)


def test_unknown_backbone_error_lists_the_valid_names():
    with pytest.raises(ValueError, match="Unknown backbone 'resnet9000'.*'tiny'.*'xception'"):
        build_backbone("resnet9000", image_size=32)
    assert {"tiny", "xception", "resnet50", "efficientnetb0"} <= set(backbone_names())


def test_bad_weights_are_clear_errors(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError(f"a test tried to download {args or kwargs}")

    # Offline: a missing weights file fails before anything could be fetched.
    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", no_download)
    with pytest.raises(ValueError, match="is not a file"):
        build_backbone("tiny", image_size=32, weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match="Unknown keras.applications network"):
        ApplicationPreprocessing("NotANet")


def test_a_local_weights_file_loads_into_a_keras_applications_backbone(tmp_path):
    # The `weights` argument goes to the keras.applications constructor, as "imagenet" would;
    # a local file keeps the test offline.
    source = build_backbone("mobilenetv2", image_size=32)
    path = tmp_path / "mobilenetv2.weights.h5"
    source.save_weights(path)
    loaded = build_backbone("mobilenetv2", image_size=32, weights=path)
    assert loaded.output_shape == (None, 1280)
    for expected, got in zip(source.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(images), source(images), atol=1e-5)
