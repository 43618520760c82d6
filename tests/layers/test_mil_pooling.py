"""The base class `MILPooling` and what every layer of the package shares.

Every layer has `compute_output_shape`, so a symbolic call gives the eager call's shapes without
tracing `call` (on any backend); the four poolings are `MILPooling`s under their registered names
(old `.keras` files name them); a subclass that writes only its equation gets the masking, the
classifier, the details and the config from the base class.
"""

import keras
import numpy as np
import pytest
from keras import ops

import smil_keras.layers
from smil_keras.errors import MaskError
from smil_keras.layers import (
    AttentionMILPooling,
    MILPooling,
    NoisyOrMILPooling,
    ScorePooling,
    SMILPooling,
    SpatialTemporalEncoder,
)

RNG = np.random.default_rng(16)
BATCH, SIZE, DIM = 2, 5, 4
LAYERS = {
    "s-mil": lambda details: SMILPooling(return_details=details),
    "s-mil-unweighted": lambda details: SMILPooling(weighted=False, return_details=details),
    "noisy-or": lambda details: NoisyOrMILPooling(return_details=details),
    "attention": lambda details: AttentionMILPooling(units=3, return_details=details),
    "mean": lambda details: ScorePooling(mode="mean", return_details=details),
    "max": lambda details: ScorePooling(mode="max", return_details=details),
    "encoder": lambda details: SpatialTemporalEncoder(kernel_sizes=(1, 3), filters=6),
}


def _shapes(outputs):
    if isinstance(outputs, dict):
        return {key: tuple(value.shape) for key, value in outputs.items()}
    return tuple(outputs.shape)


def test_every_public_layer_has_its_own_compute_output_shape():
    for name in smil_keras.layers.__all__:
        layer_cls = getattr(smil_keras.layers, name)
        assert layer_cls.compute_output_shape is not keras.layers.Layer.compute_output_shape, name


@pytest.mark.parametrize("details", [False, True])
@pytest.mark.parametrize("name", LAYERS)
def test_symbolic_call_has_the_shapes_of_the_eager_call(name, details):
    h = RNG.normal(size=(BATCH, SIZE, DIM)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1] * SIZE], bool)
    layer = LAYERS[name](details)
    eager = _shapes(layer(h, mask=mask))
    assert eager == layer.compute_output_shape((BATCH, SIZE, DIM))

    known = LAYERS[name](details)
    inputs, mask_in = keras.Input((SIZE, DIM), BATCH), keras.Input((SIZE,), BATCH, "bool")
    assert _shapes(known(inputs, mask=mask_in)) == eager

    unknown = LAYERS[name](details)
    inputs, mask_in = keras.Input((None, DIM)), keras.Input((None,), dtype="bool")
    symbolic = _shapes(unknown(inputs, mask=mask_in))
    assert symbolic == unknown.compute_output_shape((None, None, DIM))
    pairs = (
        [(symbolic[k], eager[k]) for k in eager] if isinstance(eager, dict) else [(symbolic, eager)]
    )
    for shape, eager_shape in pairs:
        assert shape[0] is None and all(
            s in (None, e) for s, e in zip(shape, eager_shape, strict=True)
        )


def test_the_four_poolings_are_mil_poolings_under_their_saved_names():
    for layer_cls in (SMILPooling, NoisyOrMILPooling, AttentionMILPooling, ScorePooling):
        assert issubclass(layer_cls, MILPooling)
        assert keras.saving.get_registered_name(layer_cls) == f"smil_keras>{layer_cls.__name__}"
    assert keras.saving.get_registered_name(MILPooling) == "smil_keras>MILPooling"


class _LogitMeanPooling(MILPooling):
    """Test subclass: `logit(p) = mean_j (W h_j + b)`; only the equation is written here."""

    detail_keys = ("bag", "logit", "attention", "instance")

    def pool(self, h, mask):
        self.seen = ops.convert_to_numpy(h)
        weights = ops.cast(mask, "float32")
        attention = weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1.0)
        logits = self.classify(h)
        bag_logit = ops.sum(attention * logits, axis=-1, keepdims=True)
        return {
            "bag": ops.sigmoid(bag_logit),
            "logit": bag_logit,
            "attention": attention,
            "instance": ops.sigmoid(logits),
        }


def test_a_subclass_writing_only_its_equation_gets_masking_classifier_and_config():
    layer = _LogitMeanPooling(return_details=True, name="logit_mean")
    h = RNG.normal(size=(BATCH, SIZE, DIM)).astype("float32")
    mask = np.array([[1, 0, 1, 0, 0], [1] * SIZE], bool)
    out = {k: ops.convert_to_numpy(v).astype("float64") for k, v in layer(h, mask=mask).items()}
    assert [w.name for w in layer.weights] == ["classifier_kernel", "classifier_bias"]

    kernel, bias = (ops.convert_to_numpy(w).astype("float64") for w in layer.weights)
    logits = h.astype("float64") @ kernel[:, 0] + bias[0]
    bag_logit = np.array([logits[b, mask[b]].mean() for b in range(BATCH)])[:, None]
    np.testing.assert_allclose(out["logit"], bag_logit, rtol=1e-5)
    np.testing.assert_allclose(out["bag"], 1 / (1 + np.exp(-bag_logit)), rtol=1e-5)
    np.testing.assert_allclose(
        out["instance"], np.where(mask, 1 / (1 + np.exp(-logits)), 0), rtol=1e-5
    )
    assert np.all(layer.seen[~mask] == 0)  # `pool` never sees a masked instance
    np.testing.assert_array_equal(layer.seen[mask], h[mask])

    with pytest.raises(MaskError):
        layer(h, mask=mask[:1])
    assert layer.compute_mask(h, mask) is None
    config = layer.get_config()
    assert config["return_details"] is True and config["name"] == "logit_mean"
    assert _LogitMeanPooling.from_config(config).get_config() == config
    assert tuple(_LogitMeanPooling()(h, mask=mask).shape) == (BATCH, 1)


def test_the_base_class_has_no_equation_of_its_own():
    with pytest.raises(NotImplementedError, match="pool"):
        MILPooling()(np.zeros((1, 2, 3), "float32"))


def test_inputs_of_another_rank_or_embedding_size_are_refused():
    layer = SMILPooling()
    layer(np.zeros((2, 3, DIM), "float32"))
    for bad in (np.zeros((2, DIM), "float32"), np.zeros((2, 3, DIM + 1), "float32")):
        with pytest.raises(ValueError, match="incompatible with the layer"):
            layer(bad)
    with pytest.raises(ValueError, match="known embedding size"):
        NoisyOrMILPooling()(keras.Input((None, None)))
