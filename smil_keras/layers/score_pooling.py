"""Mean / max pooling of instance scores: the XN-avg and XN-max baselines (Li et al. 2020, Eq. 2)."""

import keras
from keras import ops

from smil_keras.layers._classifier import add_classifier, classifier_logits, embedding_size
from smil_keras.layers._masking import instance_mask, masked_divide, masked_uniform, zero_masked


@keras.saving.register_keras_serializable(package="smil_keras")
class ScorePooling(keras.layers.Layer):
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
        mask: optional bool tensor `(batch, M)`, `True` for real instances.

    Returns:
        The bag probability `(batch, 1)`, or with `return_details=True` a dict with `"bag"`
        `(batch, 1)`, `"attention"` `(batch, M)` and `"instance"` `(batch, M)` (the `p_j`).
        `"attention"` is each instance's share of the bag score: uniform `1 / n` over the
        `n` unmasked instances for `"mean"`, 1 on the arg-max instance for `"max"` (split
        equally between exact ties).

    Masking: masked instances are left out of the mean / max, get attention and
    `"instance"` 0, and never change any output. A fully masked bag has probability 0.
    Computes in float32 under any dtype policy.

    Example:

    >>> import numpy as np
    >>> tuple(ScorePooling(mode="max")(np.random.rand(2, 5, 8).astype("float32")).shape)
    (2, 1)
    """

    def __init__(self, mode="mean", return_details=False, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.supports_masking = True
        if mode not in ("mean", "max"):
            raise ValueError(f'ScorePooling mode must be "mean" or "max", got {mode!r}')
        self.mode = mode
        self.return_details = return_details

    def build(self, inputs_shape):
        add_classifier(self, embedding_size(self, inputs_shape))

    def call(self, inputs, mask=None):
        mask = instance_mask(inputs, mask)
        h = zero_masked(ops.cast(inputs, "float32"), mask)
        logits = classifier_logits(self, h)
        instance = zero_masked(ops.sigmoid(logits), mask)
        if self.mode == "mean":
            attention = masked_uniform(mask)
            bag = ops.sum(attention * instance, axis=-1, keepdims=True)
        else:
            # The arg-max is taken on logits: saturated scores (p_j = 1.0) still have one winner.
            masked_logits = ops.where(mask, logits, ops.full_like(logits, -3.0e38))
            max_logit = ops.max(masked_logits, axis=-1, keepdims=True)
            is_max = ops.cast(ops.logical_and(ops.equal(masked_logits, max_logit), mask), "float32")
            attention = masked_divide(is_max, ops.sum(is_max, axis=-1, keepdims=True))
            bag = ops.sum(attention * instance, axis=-1, keepdims=True)
        if not self.return_details:
            return bag
        return {"bag": bag, "attention": attention, "instance": instance}

    def compute_mask(self, inputs, previous_mask=None):
        return None  # the mask is consumed here

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "return_details": self.return_details})
        return config
