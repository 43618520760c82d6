"""NoisyOrMILPooling (Eq. 4), AttentionMILPooling (Ilse 2018), ScorePooling (Eq. 2) vs NumPy."""

import numpy as np
import pytest
from keras import ops

from smil_keras.layers import AttentionMILPooling, NoisyOrMILPooling, ScorePooling

RNG = np.random.default_rng(11)
DIM = 5
ALL_KEYS = ("bag", "logit", "attention", "instance", "embedding")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _bag():
    h = RNG.normal(size=(3, 6, DIM)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[0, 3:] = False
    mask[2, 0] = False
    return h, mask


def _details(layer, h, mask):
    return {k: ops.convert_to_numpy(v).astype("float64") for k, v in layer(h, mask=mask).items()}


def _set_classifier(layer, h, extra=()):
    layer.build(h.shape)
    kernel, bias = RNG.normal(size=(DIM, 1)), np.array([0.4])
    layer.set_weights(list(extra) + [kernel, bias])
    instance = _sigmoid(h.astype("float64") @ kernel[:, 0] + bias)
    return kernel, bias, instance


@pytest.mark.parametrize(
    "layer_cls, kwargs, keys",
    [
        (NoisyOrMILPooling, {}, ("bag", "attention", "instance")),
        (AttentionMILPooling, {"units": 8, "gated": True}, ALL_KEYS),
        (ScorePooling, {"mode": "max"}, ("bag", "attention", "instance")),
    ],
)
def test_layer_contract(run_layer_test, layer_cls, kwargs, keys):
    h, mask = _bag()
    shapes = {
        "bag": (3, 1),
        "logit": (3, 1),
        "attention": (3, 6),
        "instance": (3, 6),
        "embedding": (3, DIM),
    }
    run_layer_test(
        layer_cls, {**kwargs, "return_details": True}, h, mask, {k: shapes[k] for k in keys}
    )
    assert tuple(layer_cls(**kwargs)(h, mask=mask).shape) == (3, 1)


def test_noisy_or_matches_eq_4():
    h, mask = _bag()
    layer = NoisyOrMILPooling(return_details=True)
    _, _, instance = _set_classifier(layer, h)
    out = _details(layer, h, mask)
    bag = 1.0 - np.prod(np.where(mask, 1.0 - instance, 1.0), axis=-1, keepdims=True)
    np.testing.assert_allclose(out["bag"], bag, rtol=1e-5)
    np.testing.assert_allclose(out["instance"], np.where(mask, instance, 0.0), rtol=1e-5)
    np.testing.assert_allclose(out["attention"], mask / mask.sum(-1, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("gated", [False, True])
def test_attention_mil_matches_ilse_et_al(gated):
    h, mask = _bag()
    units = 4
    layer = AttentionMILPooling(units=units, gated=gated, return_details=True)
    v, u, w = (
        RNG.normal(size=(DIM, units)),
        RNG.normal(size=(DIM, units)),
        RNG.normal(size=(units, 1)),
    )
    kernel, bias, instance = _set_classifier(layer, h, [v, u, w] if gated else [v, w])
    out = _details(layer, h, mask)
    hidden = np.tanh(h @ v) * (_sigmoid(h @ u) if gated else 1.0)
    scores = np.where(mask, (hidden @ w)[..., 0], -np.inf)
    attention = np.exp(scores - scores.max(-1, keepdims=True))
    attention /= attention.sum(-1, keepdims=True)
    embedding = np.einsum("bm,bmd->bd", attention, h)
    np.testing.assert_allclose(out["attention"], attention, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["embedding"], embedding, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["bag"], _sigmoid(embedding @ kernel + bias), rtol=1e-5)
    np.testing.assert_allclose(out["instance"], np.where(mask, instance, 0.0), rtol=1e-5)


def test_score_pooling_mean_and_max_match_eq_2():
    h, mask = _bag()
    for mode in ("mean", "max"):
        layer = ScorePooling(mode=mode, return_details=True)
        _, _, instance = _set_classifier(layer, h)
        out = _details(layer, h, mask)
        masked = np.where(mask, instance, np.nan)
        expected = np.nanmean(masked, -1) if mode == "mean" else np.nanmax(masked, -1)
        np.testing.assert_allclose(out["bag"][:, 0], expected, rtol=1e-5)
        if mode == "max":
            np.testing.assert_array_equal(out["attention"].argmax(-1), np.nanargmax(masked, -1))
            np.testing.assert_array_equal(out["attention"].max(-1), 1.0)
        np.testing.assert_allclose(out["attention"].sum(-1), 1.0, rtol=1e-6)


def test_score_pooling_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        ScorePooling(mode="median")
