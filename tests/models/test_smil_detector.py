import numpy as np
import pytest

import keras
from smil_keras.models import VARIANTS, SMILDetector, build_detector

IMAGE_SIZE = 32
TEMPORAL = ("s-mil-t", "lstm")  # the order of faces matters


def run(model, faces, mask):
    return np.asarray(model({"faces": faces, "mask": mask}))


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_is_a_probability_per_video_for_any_number_of_faces(detector, random_faces, variant):
    model = detector(variant)
    assert isinstance(model, SMILDetector)
    assert model.image_size == IMAGE_SIZE
    for num_faces in (1, 3, 7):
        out = run(model, random_faces(2, num_faces), np.ones((2, num_faces), bool))
        assert out.shape == (2, 1)
        assert np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_masked_padding_faces_do_not_change_the_output(detector, random_faces, variant):
    model = detector(variant)
    faces = random_faces(1, 4, seed=1)
    expected = run(model, faces, np.ones((1, 4), bool))
    garbage = random_faces(1, 3, seed=2)
    # Padding at the end, as the data pipeline does it.
    padded = np.concatenate([faces, garbage], axis=1)
    mask = np.array([[True] * 4 + [False] * 3])
    np.testing.assert_allclose(run(model, padded, mask), expected, atol=1e-5)
    # In a batch next to a full bag, the padded bag's output is unchanged.
    batch = np.concatenate([padded, random_faces(1, 7, seed=3)])
    batch_mask = np.concatenate([mask, np.ones((1, 7), bool)])
    np.testing.assert_allclose(run(model, batch, batch_mask)[:1], expected, atol=1e-5)
    if variant not in TEMPORAL:
        # Order-free poolings also ignore masked faces in the middle of a bag.
        middle = np.concatenate([faces[:, :2], garbage, faces[:, 2:]], axis=1)
        middle_mask = np.array([[True, True, False, False, False, True, True]])
        np.testing.assert_allclose(run(model, middle, middle_mask), expected, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_saved_keras_file_reloads_with_the_same_outputs(detector, random_faces, variant, tmp_path):
    model = detector(variant)
    path = tmp_path / f"{variant}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SMILDetector)
    assert loaded.variant == variant and loaded.image_size == IMAGE_SIZE
    assert loaded.get_config() == model.get_config()
    faces, mask = random_faces(2, 5, seed=4), np.array([[True] * 5, [True] * 3 + [False] * 2])
    np.testing.assert_allclose(run(loaded, faces, mask), run(model, faces, mask), atol=1e-6)


def test_s_mil_t_has_one_encoder_branch_and_pooling_per_kernel_size(detector):
    model = detector("s-mil-t")
    assert model.kernel_sizes == (1, 2, 3)
    assert [c.kernel_size for c in model.get_layer("encoder").convolutions] == [(1,), (2,), (3,)]
    assert all(c.filters == 16 for c in model.get_layer("encoder").convolutions)
    for k in (1, 2, 3):
        model.get_layer(f"pooling_k{k}")
    # S-MIL is the k = 1 version (sec. 4.1).
    assert detector("s-mil").get_layer("encoder").kernel_sizes == (1,)


def test_paper_defaults_are_512_filters_and_kernels_1_2_3():
    model = build_detector(backbone="tiny", image_size=IMAGE_SIZE)
    assert model.variant == "s-mil-t"
    assert model.filters == 512 and model.kernel_sizes == (1, 2, 3)


def test_dropout_is_active_in_training_only(random_faces):
    model = build_detector("xn-avg", backbone="tiny", image_size=IMAGE_SIZE, dropout=0.5)
    faces, mask = random_faces(2, 4), np.ones((2, 4), bool)
    inputs = {"faces": faces, "mask": mask}
    np.testing.assert_allclose(np.asarray(model(inputs)), np.asarray(model(inputs)))
    assert not np.allclose(np.asarray(model(inputs, training=True)), np.asarray(model(inputs)))


def test_unknown_variant_and_backbone_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown variant 'smil'.*'s-mil'.*'lstm'"):
        build_detector("smil", backbone="tiny", image_size=IMAGE_SIZE)
    with pytest.raises(ValueError, match="Unknown backbone 'xceptionnet'.*'xception'"):
        build_detector("s-mil", backbone="xceptionnet", image_size=IMAGE_SIZE)
    with pytest.raises(ValueError, match="k = 1 version"):
        build_detector("s-mil", backbone="tiny", image_size=IMAGE_SIZE, kernel_sizes=(1, 2))


def test_backbone_weights_path_reaches_the_detector(tmp_path):
    source = build_detector("xn-max", backbone="tiny", image_size=IMAGE_SIZE)
    path = str(tmp_path / "backbone.weights.h5")
    source.backbone.save_weights(path)
    model = build_detector("s-mil", backbone="tiny", image_size=IMAGE_SIZE, weights=path)
    for expected, actual in zip(source.backbone.get_weights(), model.backbone.get_weights()):
        np.testing.assert_array_equal(actual, expected)


def test_a_short_fit_reduces_the_loss_on_partially_fake_bags():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    faces = rng.uniform(0, 120, (16, 4, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    labels = np.array([[1.0], [0.0]] * 8, "float32")
    # A fake video has one "manipulated" face (brighter) among real ones.
    faces[labels[:, 0] == 1, 0] += 120.0
    inputs = {"faces": faces, "mask": np.ones((16, 4), bool)}
    model = build_detector("s-mil", backbone="tiny", image_size=IMAGE_SIZE, filters=16)
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    before = model.evaluate(inputs, labels, verbose=0)
    history = model.fit(inputs, labels, batch_size=8, epochs=8, verbose=0)
    after = model.evaluate(inputs, labels, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert after < 0.5 * before
