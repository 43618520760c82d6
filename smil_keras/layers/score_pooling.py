"""Mean / max pooling of instance scores: XN-avg and XN-max baselines (Li et al. 2020, Eq. 2)."""

import keras
from keras import ops

from smil_keras.layers._masking import masked_divide, masked_max, masked_uniform
from smil_keras.layers.mil_pooling import MILPooling


@keras.saving.register_keras_serializable(package="smil_keras")
class ScorePooling(MILPooling):
    """Frame-based baseline: score every instance, then average or take the maximum (Eq. 2).

        p_j = sigmoid(W h_j + b),    p = mean_j p_j  (mode="mean")  or  max_j p_j  (mode="max")

    These are XceptionNet-avg and XceptionNet-max of the paper when `h_j` come from an
    Xception backbone.

    Args:
        mode: `"mean"` or `"max"`.
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
        `"attention"` is each instance's share of the bag score: uniform `1 / n` over the
        `n` unmasked instances for `"mean"`, 1 on the arg-max instance for `"max"` (split
        equally between exact ties).

    Masking (as in every `MILPooling`): masked instances are left out of the mean / max, get
    attention and `"instance"` 0, and never change any output; a mask that is not
    `(batch, M)` like the inputs, or not 0/1, raises `smil_keras.errors.MaskError`. An empty
    bag (fully masked, or `M = 0`) has probability 0. Computes in float32 under any dtype
    policy.

    Example:

    >>> import numpy as np
    >>> tuple(ScorePooling(mode="max")(np.random.rand(2, 5, 8).astype("float32")).shape)
    (2, 1)
    """

    def __init__(self, mode="mean", return_details=False, **kwargs):
        super().__init__(return_details=return_details, **kwargs)
        if mode not in ("mean", "max"):
            raise ValueError(f'ScorePooling mode must be "mean" or "max", got {mode!r}')
        self.mode = mode

    def pool(self, h, mask):
        logits = self.classify(h)
        if self.mode == "mean":
            attention = masked_uniform(mask)
        else:
            # The arg-max is taken on logits: saturated scores (p_j = 1.0) still have one winner.
            is_max = ops.logical_and(ops.equal(logits, masked_max(logits, mask)), mask)
            is_max = ops.cast(is_max, "float32")
            attention = masked_divide(is_max, ops.sum(is_max, axis=-1, keepdims=True))
        instance = ops.sigmoid(logits)
        return {
            "bag": ops.sum(attention * instance, axis=-1, keepdims=True),
            "attention": attention,
            "instance": instance,
        }

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
