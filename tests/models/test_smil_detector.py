import json
import logging
import pathlib
import re
import zipfile

import keras
import numpy as np
import pytest

from smil_keras.faces import FaceView
from smil_keras.models import (
    HEADS,
    VARIANTS,
    SMILDetector,
    build_backbone,
    build_detector,
    explain_model,
)

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
        SMILDetector(build_backbone("tiny", image_size=IMAGE_SIZE), variant="smil")
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
    for expected, actual in zip(
        source.backbone.get_weights(), model.backbone.get_weights(), strict=True
    ):
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


# --- The view: how the detector sees a face, saved with it ---


def test_the_default_view_is_the_backbones_input_size_and_preprocessing():
    model = SMILDetector(build_backbone("tiny", image_size=IMAGE_SIZE), variant="xn-avg")
    assert model.view == FaceView(
        image_size=IMAGE_SIZE, margin=1.3, instances=8, preprocessing="tiny"
    )
    assert model.image_size == IMAGE_SIZE
    # A keras.applications backbone: its preprocess_input's network name.
    application = build_detector("xn-avg", backbone="mobilenetv2", image_size=IMAGE_SIZE)
    assert application.view.preprocessing == "mobilenetv2"
    assert application.view.image_size == IMAGE_SIZE


def test_build_detector_margin_and_instances_make_the_view_and_it_survives_a_keras_file(
    random_faces, tmp_path
):
    model = build_detector(
        "s-mil", backbone="tiny", image_size=IMAGE_SIZE, filters=8, margin=1.5, instances=12
    )
    expected = FaceView(image_size=IMAGE_SIZE, margin=1.5, instances=12, preprocessing="tiny")
    assert model.view == expected
    assert model.get_config()["view"] == {
        "image_size": IMAGE_SIZE,
        "margin": 1.5,
        "instances": 12,
        "preprocessing": "tiny",
    }
    json.dumps(model.get_config()["view"])  # plain JSON in the .keras file's config
    model.save(tmp_path / "detector.keras")
    loaded = keras.saving.load_model(tmp_path / "detector.keras")
    assert loaded.view == expected
    # Another detector built on this one's view sees faces the same way.
    again = build_detector("xn-max", backbone="tiny", view=loaded.view)
    assert again.view == expected and again.image_size == IMAGE_SIZE


def test_build_detector_refuses_arguments_that_contradict_the_view():
    view = FaceView(image_size=IMAGE_SIZE, margin=1.5, preprocessing="tiny")
    with pytest.raises(ValueError, match=r"margin=1\.3 contradicts view\.margin=1\.5"):
        build_detector("s-mil", backbone="tiny", view=view, margin=1.3)
    with pytest.raises(ValueError, match="image_size=64 contradicts view.image_size=32"):
        build_detector("s-mil", backbone="tiny", view=view, image_size=64)
    with pytest.raises(ValueError, match="margin must be a positive number"):
        build_detector("s-mil", backbone="tiny", image_size=IMAGE_SIZE, margin=0)
    # Agreeing values are fine.
    assert build_detector("s-mil", backbone="tiny", view=view, margin=1.5).view == view


def test_a_view_that_does_not_describe_the_backbone_is_refused():
    backbone = build_backbone("tiny", image_size=IMAGE_SIZE)
    with pytest.raises(ValueError, match="view.image_size=64, but the backbone"):
        SMILDetector(backbone, "s-mil", view=FaceView(image_size=64, preprocessing="tiny"))
    with pytest.raises(ValueError, match="view.preprocessing='xception'.*'tiny'"):
        SMILDetector(backbone, "s-mil", view=FaceView(image_size=IMAGE_SIZE))


def _without_view(keras_file, out_file):
    """A copy of a .keras archive whose config lacks "view", as saved before the view existed."""
    with zipfile.ZipFile(keras_file) as source, zipfile.ZipFile(out_file, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                del config["config"]["view"]
                data = json.dumps(config).encode()
            target.writestr(item, data)


@pytest.mark.parametrize("variant", ["s-mil-t", "lstm"])
def test_a_detector_saved_before_the_view_loads_with_the_default_view(
    detector, random_faces, variant, tmp_path, caplog
):
    model = detector(variant)
    config = model.get_config()
    del config["view"]
    default = FaceView(image_size=IMAGE_SIZE, margin=1.3, instances=8, preprocessing="tiny")
    with caplog.at_level(logging.WARNING, logger="smil_keras.models.smil_detector"):
        assert SMILDetector.from_config(config).view == default
    assert "saved before detectors carried their view" in caplog.text
    assert "margin=1.3" in caplog.text
    caplog.clear()
    assert SMILDetector.from_config(model.get_config()).view == model.view
    assert not caplog.records  # a detector with its view loads without a word
    # A whole .keras file without it: the weights load and the outputs are unchanged.
    model.save(tmp_path / "new.keras")
    _without_view(tmp_path / "new.keras", tmp_path / "old.keras")
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert loaded.view == default
    faces, mask = random_faces(2, 5, seed=8), np.array([[True] * 5, [True] * 2 + [False] * 3])
    np.testing.assert_allclose(run(loaded, faces, mask), run(model, faces, mask), atol=1e-6)


# --- Variants: one registry of heads ---


def test_variants_are_the_registry_of_heads_in_the_papers_order():
    assert tuple(HEADS) == VARIANTS
    assert VARIANTS == ("s-mil", "s-mil-t", "mil", "att-mil", "xn-avg", "xn-max", "lstm")
    assert all(callable(builder) for builder in HEADS.values())


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_head_builds_on_any_embeddings_and_gives_the_three_outputs(variant):
    embeddings = keras.Input((None, 6))
    mask = keras.Input((None,), dtype="bool")
    outputs = HEADS[variant](embeddings, mask, filters=4, attention_units=4, lstm_units=4)
    head = keras.Model([embeddings, mask], outputs)
    rng = np.random.default_rng(0)
    values = head(
        [
            rng.normal(size=(2, 5, 6)).astype("float32"),
            np.array([[True] * 5, [True] * 2 + [False] * 3]),
        ]
    )
    values = {name: np.asarray(value) for name, value in values.items()}
    assert values["fake_probability"].shape == (2, 1)
    assert values["face_probability"].shape == values["attention"].shape == (2, 5)
    np.testing.assert_allclose(values["attention"].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(values["attention"][1, 2:] == 0) and np.all(
        values["face_probability"][1, 2:] == 0
    )


def test_the_architecture_docs_table_lists_exactly_the_registered_variants():
    text = (pathlib.Path(__file__).parents[2] / "ARCHITECTURE.md").read_text()
    table = text[text.index("| variant |") :].split("\n\n")[0]
    names = re.findall(r"^\s*\| `([a-z-]+)` \|", table, flags=re.MULTILINE)
    assert tuple(names) == VARIANTS


def test_explanation_outputs_are_public_and_on_the_detectors_graph(detector, random_faces):
    model = detector("s-mil-t")
    outputs = model.explanation_outputs
    assert set(outputs) == {"fake_probability", "face_probability", "attention"}
    outputs.clear()  # a copy: the detector's own stays intact
    assert len(model.explanation_outputs) == 3
    own = keras.Model(model.input, model.explanation_outputs)
    inputs = {"faces": random_faces(1, 4, seed=5), "mask": np.ones((1, 4), bool)}
    expected = explain_model(model)(inputs)
    for name, value in own(inputs).items():
        np.testing.assert_allclose(np.asarray(value), np.asarray(expected[name]), atol=1e-6)


# --- Mixed precision: the head follows the backbone ---


@pytest.fixture
def global_policy():
    """Sets the global dtype policy for one test and restores float32 after it."""
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("variant", ["s-mil-t", "att-mil", "lstm"])
def test_under_mixed_bfloat16_the_head_computes_in_bfloat16_and_poolings_in_float32(
    global_policy, random_faces, variant
):
    kwargs = {
        "backbone": "tiny",
        "image_size": IMAGE_SIZE,
        "filters": 8,
        "attention_units": 4,
        "lstm_units": 4,
    }
    reference = build_detector(variant, **kwargs)  # float32
    global_policy("mixed_bfloat16")
    model = build_detector(variant, **kwargs)
    model.set_weights(reference.get_weights())
    assert model.get_layer("face_encoder").compute_dtype == "bfloat16"
    reduced = {"s-mil-t": "encoder", "lstm": "lstm"}.get(variant)
    if reduced:
        assert model.get_layer(reduced).compute_dtype == "bfloat16"
    for layer in model.layers:
        if layer.name.startswith("pooling") or layer.name == "classifier":
            assert layer.compute_dtype == "float32", layer.name
    inputs = {
        "faces": random_faces(2, 4, seed=6),
        "mask": np.array([[True] * 4, [True] * 2 + [False] * 2]),
    }
    outputs = explain_model(model)(inputs)
    assert all(
        keras.backend.standardize_dtype(value.dtype) == "float32" for value in outputs.values()
    )
    expected = explain_model(reference)(inputs)
    for name in outputs:  # bfloat16 keeps 8 bits of mantissa: close, not equal
        np.testing.assert_allclose(np.asarray(outputs[name]), np.asarray(expected[name]), atol=2e-2)


def test_the_head_follows_the_backbones_policy_not_the_global_one(global_policy):
    global_policy("mixed_bfloat16")
    backbone = build_backbone("tiny", image_size=IMAGE_SIZE)
    global_policy("float32")
    model = SMILDetector(backbone, variant="s-mil", filters=8)
    assert model.get_layer("encoder").compute_dtype == "bfloat16"
    assert model.get_layer("pooling").compute_dtype == "float32"
    float_model = SMILDetector(build_backbone("tiny", image_size=IMAGE_SIZE), "s-mil", filters=8)
    assert float_model.get_layer("encoder").compute_dtype == "float32"
