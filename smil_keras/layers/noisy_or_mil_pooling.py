"""Traditional (noisy-or) multiple-instance pooling (Li et al. 2020, Eq. 4)."""

import keras
from keras import ops

from smil_keras.layers._masking import masked_uniform, zero_masked
from smil_keras.layers.mil_pooling import MILPooling


@keras.saving.register_keras_serializable(package="smil_keras")
class NoisyOrMILPooling(MILPooling):
    """Traditional MIL pooling: a bag is positive unless every instance is negative (Eq. 4).

        p_j = sigmoid(W h_j + b),    p = 1 - prod_j (1 - p_j)

    computed in log space, `log(1 - p_j) = -softplus(W h_j + b)` and
    `p = -expm1(sum_j log(1 - p_j))`, so that no product underflows and no logit, however
    large, gives NaN or inf. This is the "MIL" baseline of the paper, whose gradient
    vanishes for the other instances once one instance is confidently positive (Eq. 6, 18).

    Args:
        return_details: bool. If `True`, return a dict (see below) instead of the bag
            probability alone.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, M, D)`, the instance embeddings; `D` must be known.
        mask: optional tensor `(batch, M)`, `True` (or 1) for real instances: boolean, or
            numeric holding exactly 0 and 1 (see `MILPooling`).

    Returns:
        The bag probability `(batch, 1)`, or with `return_details=True` a dict with `"bag"`
        `(batch, 1)`, `"attention"` `(batch, M)` and `"instance"` `(batch, M)` (the `p_j`).
        Noisy-or has no attention: `"attention"` is uniform, `1 / n` on the `n` unmasked
        instances (every instance enters the product alike).

    Masking (as in every `MILPooling`): masked instances are left out of the product (they
    count as `p_j = 0`), get attention and `"instance"` 0, and never change any output; a
    mask that is not `(batch, M)` like the inputs, or not 0/1, raises
    `smil_keras.errors.MaskError`. An empty bag (fully masked, or `M = 0`: an empty product)
    has probability 0. Computes in float32 under any dtype policy.

    Example:

    >>> import numpy as np
    >>> tuple(NoisyOrMILPooling()(np.random.rand(2, 5, 8).astype("float32")).shape)
    (2, 1)
    """

    def pool(self, h, mask):
        logits = self.classify(h)
        # log(1 - p_j) = -softplus(logit_j); p = 1 - exp(sum_j log(1 - p_j)) (Eq. 4).
        log_all_negative = ops.sum(zero_masked(-ops.softplus(logits), mask), axis=-1, keepdims=True)
        return {
            "bag": -ops.expm1(log_all_negative),
            "attention": masked_uniform(mask),
            "instance": ops.sigmoid(logits),
        }
