"""The appendix's gradients (Eq. 17, 18, 24, 25 and Lemma 2(b)), through the layers' own math.

For a positive bag the BCE loss is `-log(p)`. The instance probabilities `p_j` are the
variables: S-MIL gets them as `instance_logits = logit(p_j)`, noisy-or MIL as
one-dimensional embeddings `h_j = logit(p_j)` with classifier `W = 1, b = 0`, so that both
layers compute `p_j = sigmoid(logit(p_j))` and combine them with their own code.
"""

import numpy as np
import pytest
from keras import ops

from smil_keras.layers import NoisyOrMILPooling, SMILPooling


def _logit(p):
    return ops.log(p) - ops.log1p(-p)


def _smil_loss(layer):
    """`p_j -> -log(p)` for unweighted S-MIL (Eq. 14 / Eq. 8)."""

    def loss(p):
        logits = _logit(p)[None]
        return -ops.log(layer(ops.zeros(ops.shape(logits) + (1,)), instance_logits=logits))[0, 0]

    return loss


def _noisy_or_loss(layer):
    """`p_j -> -log(p_hat)` for noisy-or MIL (Eq. 4 / Eq. 16)."""

    def loss(p):
        return -ops.log(layer(_logit(p)[None, :, None]))[0, 0]

    return loss


def _noisy_or_layer():
    layer = NoisyOrMILPooling()
    layer.build((None, None, 1))
    layer.set_weights([np.ones((1, 1)), np.zeros(1)])
    return layer


def _eq14(p):
    return 1.0 / (1.0 + np.prod(1.0 / p - 1.0))


def _eq16(p):
    return 1.0 - np.prod(1.0 - p)


@pytest.mark.parametrize("p", [[0.3, 0.6, 0.9], [0.05, 0.5, 0.5, 0.7], [0.99, 0.2]])
def test_gradients_match_eq_17_and_18(gradients, p):
    p = np.array(p)
    (grad_smil,) = gradients(_smil_loss(SMILPooling(weighted=False)), p)
    np.testing.assert_allclose(grad_smil, (_eq14(p) - 1) / (p * (1 - p)), rtol=2e-4)  # Eq. 17
    (grad_mil,) = gradients(_noisy_or_loss(_noisy_or_layer()), p)
    p_hat = _eq16(p)
    np.testing.assert_allclose(grad_mil, (p_hat - 1) / (p_hat * (1 - p)), rtol=2e-4)  # Eq. 18


def test_gradient_surfaces_for_two_instances_match_eq_24_25(gradients):
    smil, mil = _smil_loss(SMILPooling(weighted=False)), _noisy_or_loss(_noisy_or_layer())
    for p1 in np.linspace(0.05, 0.95, 7):
        for p2 in np.linspace(0.05, 0.95, 7):
            p = np.array([p1, p2])
            eq25 = (p2 - 1) / (p1 * (2 * p1 * p2 + 1 - p1 - p2))
            eq24 = (p2 - 1) / (1 - (1 - p1) * (1 - p2))
            np.testing.assert_allclose(gradients(smil, p)[0][0], eq25, rtol=2e-4)
            np.testing.assert_allclose(gradients(mil, p)[0][0], eq24, rtol=2e-4)


@pytest.mark.parametrize("epsilon", [1e-2, 1e-3, 1e-4])
def test_lemma_2b_noisy_or_gradient_vanishes_while_smil_does_not(gradients, epsilon):
    """p^k = eps, p^q = 1 - eps, the others delta (M = 5).

    Noisy-or: p_hat = 1 - eps (1 - eps) (1 - delta)^(M-2) -> 1, and by Eq. 18 the gradient of
    every instance but q is O(eps) -> 0 (q itself keeps -(1 - delta)^(M-2)).
    S-MIL: the odds of k and q cancel, p = 1 / (1 + (1/delta - 1)^(M-2)) for every eps, and by
    Eq. 17 the delta-instances keep (p - 1) / (delta (1 - delta)) != 0. (The appendix prints
    the numerator as p; Eq. 17 gives p - 1, which is what we check.)
    """
    delta, size = 0.3, 5
    p = np.array([epsilon, 1 - epsilon] + [delta] * (size - 2))
    k, q, others = 0, 1, slice(2, None)

    (grad_mil,) = gradients(_noisy_or_loss(_noisy_or_layer()), p)
    p_hat = 1 - epsilon * (1 - epsilon) * (1 - delta) ** (size - 2)
    np.testing.assert_allclose(grad_mil, (p_hat - 1) / (p_hat * (1 - p)), rtol=2e-3)
    assert np.all(np.abs(grad_mil[others]) <= 2 * epsilon)
    assert abs(grad_mil[k]) <= 2 * epsilon
    np.testing.assert_allclose(grad_mil[q], -((1 - delta) ** (size - 2)), rtol=2 * epsilon + 2e-3)

    (grad_smil,) = gradients(_smil_loss(SMILPooling(weighted=False)), p)
    p_smil = 1 / (1 + (1 / delta - 1) ** (size - 2))
    np.testing.assert_allclose(grad_smil, (p_smil - 1) / (p * (1 - p)), rtol=2e-3)
    np.testing.assert_allclose(grad_smil[others], (p_smil - 1) / (delta * (1 - delta)), rtol=2e-3)
    assert np.all(np.abs(grad_smil[others]) > 0.1)
