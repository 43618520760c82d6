"""Every pooling: masking invariance, extreme logits, degenerate bags, mixed precision."""

import keras
import numpy as np
import pytest
from keras import ops

from smil_keras.layers import AttentionMILPooling, NoisyOrMILPooling, ScorePooling, SMILPooling

RNG = np.random.default_rng(5)
DIM = 4
POOLINGS = {
    "s-mil": lambda: SMILPooling(return_details=True),
    "s-mil-unweighted": lambda: SMILPooling(weighted=False, return_details=True),
    "noisy-or": lambda: NoisyOrMILPooling(return_details=True),
    "attention": lambda: AttentionMILPooling(units=8, return_details=True),
    "gated-attention": lambda: AttentionMILPooling(units=8, gated=True, return_details=True),
    "mean": lambda: ScorePooling(mode="mean", return_details=True),
    "max": lambda: ScorePooling(mode="max", return_details=True),
}
# What a fully masked bag returns (documented in each class); None: sigmoid(bias) = 0.5 here.
EMPTY_BAG = {
    "s-mil": 0.5,
    "s-mil-unweighted": 0.5,
    "noisy-or": 0.0,
    "attention": 0.5,
    "gated-attention": 0.5,
    "mean": 0.0,
    "max": 0.0,
}


def _numpy(outputs):
    return {k: ops.convert_to_numpy(v).astype("float64") for k, v in outputs.items()}


def _built(name, scale=1.0):
    layer = POOLINGS[name]()
    layer.build((None, None, DIM))
    layer.set_weights([w * scale for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("name", POOLINGS)
def test_masked_garbage_and_padding_change_nothing(name):
    layer = _built(name)
    h = RNG.normal(size=(2, 5, DIM)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    garbage = np.where(mask[..., None], h, RNG.normal(size=h.shape) * 1e6).astype("float32")
    clean, dirty = _numpy(layer(h, mask=mask)), _numpy(layer(garbage, mask=mask))
    for key in clean:
        np.testing.assert_allclose(dirty[key], clean[key], rtol=1e-6, atol=1e-7, err_msg=key)
    assert np.all(clean["attention"][~mask] == 0) and np.all(clean["instance"][~mask] == 0)
    np.testing.assert_allclose(clean["attention"].sum(-1), 1.0, rtol=1e-6)

    # The first bag, padded to 5, equals the same bag of 3 without padding.
    alone = _numpy(layer(h[:1, :3]))
    for key in ("bag", "logit", "embedding"):
        if key in alone:
            np.testing.assert_allclose(
                clean[key][:1], alone[key], rtol=1e-5, atol=1e-6, err_msg=key
            )
    for key in ("attention", "instance"):
        np.testing.assert_allclose(
            clean[key][:1, :3], alone[key], rtol=1e-5, atol=1e-6, err_msg=key
        )


@pytest.mark.parametrize("name", POOLINGS)
def test_extreme_logits_and_single_instance_bags_stay_finite(name, gradients):
    layer = _built(name, scale=1.0)
    # Embeddings of size 1e4 push every logit and attention score to about +-1e4.
    h = np.concatenate(
        [np.full((1, 4, DIM), 1e4), np.full((1, 4, DIM), -1e4), RNG.normal(size=(1, 4, DIM)) * 1e4]
    ).astype("float32")
    masks = [np.ones((3, 4), bool), np.eye(4, dtype=bool)[[0, 2, 3]], np.zeros((3, 4), bool)]
    for mask in masks:
        out = _numpy(layer(h, mask=mask))
        assert all(np.all(np.isfinite(v)) for v in out.values())

        weights = [ops.convert_to_numpy(w) for w in layer.trainable_variables]

        def loss(inputs, *trainable, mask=mask):
            outputs, _ = layer.stateless_call(list(trainable), [], inputs, mask=mask)
            return sum(ops.sum(outputs[key]) for key in ("bag", "attention", "instance"))

        grads = gradients(loss, h, *weights)
        assert all(np.all(np.isfinite(g)) for g in grads), name
    np.testing.assert_allclose(out["bag"], EMPTY_BAG[name])  # the last mask is fully masked
    assert np.all(out["attention"] == 0)


def test_mixed_bfloat16_policy(mixed_bfloat16):
    """Every pooling under `mixed_bfloat16`: float32 outputs in [0, 1], a finite training step."""
    h = RNG.normal(size=(2, 5, DIM)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1] * 5], bool)
    x_in, mask_in = keras.Input((None, DIM)), keras.Input((None,), dtype="bool")
    embeddings = keras.layers.Dense(DIM)(x_in)  # bfloat16 under the policy
    assert keras.backend.standardize_dtype(embeddings.dtype) == "bfloat16"
    poolings = {name: make() for name, make in POOLINGS.items()}
    outputs = {name: layer(embeddings, mask=mask_in)["bag"] for name, layer in poolings.items()}
    model = keras.Model([x_in, mask_in], outputs)
    for name, layer in poolings.items():
        assert layer.dtype_policy.name == "mixed_bfloat16"
        assert keras.backend.standardize_dtype(outputs[name].dtype) == "float32", name
    model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=False)
    target = np.array([[1.0], [0.0]], "float32")
    history = model.fit([h, mask], {name: target for name in outputs}, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for name, bag in model([h, mask]).items():
        bag = ops.convert_to_numpy(bag)
        assert bag.dtype == np.float32 and np.all((bag >= 0) & (bag <= 1)), name


def _empty_bag_logit(name, bias):
    """The documented log-odds of a bag with no instance: S-MIL has no evidence either way
    (0), Att-MIL is its classifier on a zero embedding (the bias), noisy-or and mean / max
    pool nothing (probability 0)."""
    if name.startswith("s-mil"):
        return 0.0
    if name.endswith("attention"):
        return bias
    return -np.inf


@pytest.mark.parametrize("name", POOLINGS)
def test_empty_bag_of_zero_instances_is_a_fully_masked_bag(name, gradients):
    layer = POOLINGS[name]()
    layer.build((None, None, DIM))
    bias = 0.7
    weights = [RNG.normal(size=w.shape) for w in layer.get_weights()[:-1]] + [np.array([bias])]
    layer.set_weights(weights)
    logit = _empty_bag_logit(name, bias)
    h = np.zeros((3, 0, DIM), "float32")
    shapes = {"bag": (3, 1), "logit": (3, 1), "attention": (3, 0), "instance": (3, 0)}
    shapes["embedding"] = (3, DIM)
    for mask in (None, np.zeros((3, 0), bool), np.zeros((3, 0), "float32")):
        out = _numpy(layer(h, mask=mask))
        assert {k: v.shape for k, v in out.items()} == {k: shapes[k] for k in out}
        assert all(np.all(np.isfinite(v)) for v in out.values())
        np.testing.assert_allclose(out["bag"], 1.0 / (1.0 + np.exp(-logit)), rtol=1e-6)
        if "logit" in out:
            np.testing.assert_allclose(out["logit"], logit, rtol=1e-6)
            assert np.all(out["embedding"] == 0)
    # The same as a fully masked bag of any size.
    garbage = RNG.normal(size=(3, 4, DIM)).astype("float32")
    masked = _numpy(layer(garbage, mask=np.zeros((3, 4), bool)))
    np.testing.assert_allclose(masked["bag"], out["bag"], rtol=1e-6)

    def loss(*trainable):
        outputs, _ = layer.stateless_call(list(trainable), [], h)
        return ops.sum(outputs["bag"])

    trainable = [ops.convert_to_numpy(w) for w in layer.trainable_variables]
    assert all(np.all(np.isfinite(g)) for g in gradients(loss, *trainable)), name
    symbolic = layer(keras.Input((0, DIM)), mask=keras.Input((0,), dtype="bool"))
    assert {k: tuple(v.shape) for k, v in symbolic.items()} == {
        k: (None, *shapes[k][1:]) for k in symbolic
    }
