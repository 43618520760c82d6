"""SMILPooling against NumPy implementations of the paper's Eq. 7-10 and 12."""

import keras
import numpy as np
import pytest
from keras import ops

from smil_keras.layers import SMILPooling

RNG = np.random.default_rng(7)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_smil(h, mask, w, kernel, bias):
    """Eq. 9/10 in float64: attention over unmasked instances, bag from the pooled embedding."""
    h, mask = np.asarray(h, "float64"), np.asarray(mask, bool)
    scores = np.where(mask, h @ w[:, 0], -np.inf)
    attention = np.exp(scores - scores.max(-1, keepdims=True))
    attention /= attention.sum(-1, keepdims=True)
    embedding = np.einsum("bm,bmd->bd", attention, np.where(mask[..., None], h, 0.0))
    bag = _sigmoid(embedding @ kernel + bias)
    instance = _sigmoid(h @ kernel[:, 0] + bias[0])
    return bag, attention, instance, embedding


def _bag_from_instances(instance, exponents, mask):
    """The product form `1 / (1 + prod_j (1 / p_j - 1) ** e_j)` over unmasked j (Eq. 8, 9)."""
    instance = np.where(mask, instance, 0.5)
    terms = np.where(mask, (1.0 / instance - 1.0) ** exponents, 1.0)
    return 1.0 / (1.0 + terms.prod(-1, keepdims=True))


def _bag(batch=3, size=6, dim=5):
    h = RNG.normal(size=(batch, size, dim)).astype("float32")
    mask = np.ones((batch, size), bool)
    mask[0, 4:] = False
    mask[1, 1] = False  # a hole in the middle
    return h, mask


@pytest.mark.parametrize("weighted, return_details", [(True, True), (False, False)])
def test_layer_contract(run_layer_test, weighted, return_details):
    h, mask = _bag()
    expected = (3, 1)
    if return_details:
        expected = {
            "bag": (3, 1),
            "logit": (3, 1),
            "attention": (3, 6),
            "instance": (3, 6),
            "embedding": (3, 5),
        }
    run_layer_test(
        SMILPooling, {"weighted": weighted, "return_details": return_details}, h, mask, expected
    )


def test_weighted_matches_eq_9_10_and_product_identity():
    h, mask = _bag()
    layer = SMILPooling(return_details=True)
    layer.build(h.shape)
    w, kernel, bias = RNG.normal(size=(5, 1)), RNG.normal(size=(5, 1)), np.array([0.3])
    layer.set_weights([w, kernel, bias])
    out = {k: ops.convert_to_numpy(v) for k, v in layer(h, mask=mask).items()}
    bag, attention, instance, embedding = _numpy_smil(h, mask, w, kernel, bias)
    np.testing.assert_allclose(out["bag"], bag, rtol=1e-5)
    np.testing.assert_allclose(out["attention"], attention, atol=1e-6)
    np.testing.assert_allclose(out["instance"], np.where(mask, instance, 0.0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["embedding"], embedding, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["logit"], np.log(bag / (1 - bag)), rtol=1e-4, atol=1e-5)
    # Eq. 9 = Eq. 10, checked on the layer's own instance scores and attention.
    identity = _bag_from_instances(out["instance"].astype("float64"), out["attention"], mask)
    np.testing.assert_allclose(out["bag"], identity, rtol=1e-5)
    np.testing.assert_allclose(out["attention"].sum(-1), 1.0, rtol=1e-6)
    assert np.all(out["attention"][~mask] == 0.0)


def test_unweighted_matches_eq_7_8():
    h, mask = _bag()
    layer = SMILPooling(weighted=False, return_details=True)
    layer.build(h.shape)
    assert len(layer.weights) == 2  # no attention weights
    kernel, bias = RNG.normal(size=(5, 1)) * 0.5, np.array([-0.2])
    layer.set_weights([kernel, bias])
    out = {k: ops.convert_to_numpy(v) for k, v in layer(h, mask=mask).items()}
    h64 = np.where(mask[..., None], h.astype("float64"), 0.0)
    count = mask.sum(-1, keepdims=True)
    # Eq. 7 with the bias of each instance's classifier: sigmoid(W sum_j h_j + n b).
    bag = _sigmoid(h64.sum(1) @ kernel + count * bias)
    np.testing.assert_allclose(out["bag"], bag, rtol=1e-5)
    np.testing.assert_allclose(out["embedding"], h64.sum(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["attention"], mask / count, rtol=1e-6)
    instance = _sigmoid(h.astype("float64") @ kernel[:, 0] + bias)
    identity = _bag_from_instances(instance, 1.0, mask)  # Eq. 8
    np.testing.assert_allclose(out["bag"], identity, rtol=1e-5)


def test_paper_example_unweighted_is_not_mil_consistent():
    """Sec. 3.2: with p = [0.1, 0.1, 0.9] Eq. 8 gives p < 0.5, the reason for the attention."""
    p = np.array([[0.1, 0.1, 0.9]], "float32")
    bag = ops.convert_to_numpy(
        SMILPooling(weighted=False)(
            np.zeros((1, 3, 2), "float32"), instance_logits=np.log(p / (1 - p))
        )
    )
    np.testing.assert_allclose(bag, 1 / (1 + 9.0 * 9.0 / 9.0), rtol=1e-5)
    assert bag[0, 0] < 0.5


def test_instance_logits_replace_the_classifier():
    h, mask = _bag()
    logits = RNG.normal(size=mask.shape).astype("float32") * 3
    layer = SMILPooling(return_details=True)
    out = layer(h, mask=mask, instance_logits=logits)
    assert [w.name for w in layer.weights] == ["attention_kernel"]
    w = ops.convert_to_numpy(layer.attention_kernel)
    attention = _numpy_smil(h, mask, w, np.zeros((5, 1)), np.zeros(1))[1]
    expected = _bag_from_instances(_sigmoid(logits.astype("float64")), attention, mask)
    np.testing.assert_allclose(ops.convert_to_numpy(out["bag"]), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="instance_logits"):
        layer(h, mask=mask)


def test_super_bag_of_smil_t_is_eq_12_in_functional_model(tmp_path):
    """S-MIL-T: inner S-MIL per kernel bag, outer S-MIL over their embeddings and logits."""
    kernels, dim = 3, 4
    bags_in = keras.Input((kernels, None, dim))
    mask_in = keras.Input((None,), dtype="bool")
    inner = [SMILPooling(return_details=True, name=f"inner_{k}") for k in range(kernels)]
    outs = [layer(bags_in[:, k], mask=mask_in) for k, layer in enumerate(inner)]
    outer = SMILPooling(name="outer")
    p = outer(
        ops.stack([o["embedding"] for o in outs], axis=1),
        instance_logits=ops.concatenate([o["logit"] for o in outs], axis=-1),
    )
    model = keras.Model([bags_in, mask_in], p)

    bags = RNG.normal(size=(2, kernels, 5, dim)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    per_kernel = [
        _numpy_smil(bags[:, k], mask, *[ops.convert_to_numpy(w) for w in inner[k].weights])
        for k in range(kernels)
    ]
    p_k = np.concatenate([r[0] for r in per_kernel], axis=-1)  # (batch, K)
    z_k = np.stack([r[3] for r in per_kernel], axis=1)  # (batch, K, D)
    scores = z_k @ ops.convert_to_numpy(outer.attention_kernel)[:, 0]
    b_k = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    expected = 1.0 / (
        1.0 + np.prod((1.0 / p_k - 1.0) ** b_k, axis=-1, keepdims=True)
    )  # Eq. 12 with Eq. 9
    np.testing.assert_allclose(model.predict([bags, mask], verbose=0), expected, rtol=1e-5)

    model.save(tmp_path / "smil_t.keras")
    restored = keras.saving.load_model(tmp_path / "smil_t.keras")
    np.testing.assert_allclose(restored.predict([bags, mask], verbose=0), expected, rtol=1e-5)
