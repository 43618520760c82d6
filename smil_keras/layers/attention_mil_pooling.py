"""Attention-based MIL pooling (Ilse et al. 2018), a baseline of the S-MIL paper."""

import keras
from keras import ops

from smil_keras.layers._masking import masked_softmax
from smil_keras.layers.mil_pooling import MILPooling


@keras.saving.register_keras_serializable(package="smil_keras")
class AttentionMILPooling(MILPooling):
    """Attention-based deep MIL pooling of Ilse, Tomczak & Welling (ICML 2018).

        a_j = softmax_j(w^T tanh(V h_j))                       (gated=False)
        a_j = softmax_j(w^T (tanh(V h_j) * sigmoid(U h_j)))    (gated=True)
        p   = sigmoid(W sum_j a_j h_j + b),    p_j = sigmoid(W h_j + b)

    The "Att-MIL" baseline of the S-MIL paper (which compares it with its Eq. 9/10: S-MIL
    uses a linear attention score and reads the same pooled form as a product of instance
    odds).

    Args:
        units: int, the hidden size of the attention network (`V`, `U`).
        gated: bool, whether to use the gated attention.
        return_details: bool. If `True`, return a dict (see below) instead of the bag
            probability alone.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, M, D)`, the instance embeddings; `D` must be known.
        mask: optional tensor `(batch, M)`, `True` (or 1) for real instances: boolean, or
            numeric holding exactly 0 and 1 (see `MILPooling`).

    Returns:
        The bag probability `(batch, 1)`, or with `return_details=True` a dict with `"bag"`
        `(batch, 1)`, `"logit"` `(batch, 1)`, `"attention"` `(batch, M)`, `"instance"`
        `(batch, M)` (the bag classifier applied to one instance) and `"embedding"`
        `(batch, D)` (`sum_j a_j h_j`).

    Masking (as in every `MILPooling`): masked instances are zeroed, get attention exactly 0
    and `"instance"` 0, and never change any output; a mask that is not `(batch, M)` like the
    inputs, or not 0/1, raises `smil_keras.errors.MaskError`. An empty bag (fully masked, or
    `M = 0`) has a zero embedding and probability `sigmoid(b)`, the classifier's prior.
    Computes in float32 under any dtype policy.

    Example:

    >>> import numpy as np
    >>> pooling = AttentionMILPooling(units=16, gated=True)
    >>> tuple(pooling(np.random.rand(2, 5, 8).astype("float32")).shape)
    (2, 1)
    """

    detail_keys = ("bag", "logit", "attention", "instance", "embedding")

    def __init__(self, units=128, gated=False, return_details=False, **kwargs):
        super().__init__(return_details=return_details, **kwargs)
        self.units = units
        self.gated = gated

    def build(self, inputs_shape):
        dim = self._embedding_size(inputs_shape)

        def weight(name, shape):
            return self.add_weight(
                shape=shape, initializer="glorot_uniform", name=name, autocast=False
            )

        self.attention_v = weight("attention_v", (dim, self.units))
        self.attention_u = weight("attention_u", (dim, self.units)) if self.gated else None
        self.attention_w = weight("attention_w", (self.units, 1))
        super().build(inputs_shape)  # the shared classifier

    def pool(self, h, mask):
        hidden = ops.tanh(ops.matmul(h, self.attention_v))
        if self.gated:
            hidden = hidden * ops.sigmoid(ops.matmul(h, self.attention_u))
        attention = masked_softmax(ops.squeeze(ops.matmul(hidden, self.attention_w), -1), mask)
        embedding = ops.sum(ops.expand_dims(attention, -1) * h, axis=1)
        bag_logit = ops.expand_dims(self.classify(embedding), -1)
        return {
            "bag": ops.sigmoid(bag_logit),
            "logit": bag_logit,
            "attention": attention,
            "instance": ops.sigmoid(self.classify(h)),
            "embedding": embedding,
        }

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "gated": self.gated})
        return config
