"""Attention-based MIL pooling (Ilse et al. 2018), a baseline of the S-MIL paper."""

import keras
from keras import ops

from smil_keras.layers._classifier import add_classifier, classifier_logits, embedding_size
from smil_keras.layers._masking import instance_mask, masked_softmax, zero_masked


@keras.saving.register_keras_serializable(package="smil_keras")
class AttentionMILPooling(keras.layers.Layer):
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
        mask: optional bool tensor `(batch, M)`, `True` for real instances.

    Returns:
        The bag probability `(batch, 1)`, or with `return_details=True` a dict with `"bag"`
        `(batch, 1)`, `"logit"` `(batch, 1)`, `"attention"` `(batch, M)`, `"instance"`
        `(batch, M)` (the bag classifier applied to one instance) and `"embedding"`
        `(batch, D)` (`sum_j a_j h_j`).

    Masking: masked instances are zeroed, get attention exactly 0 and `"instance"` 0, and
    never change any output. A fully masked bag has a zero embedding and probability
    `sigmoid(b)`. Computes in float32 under any dtype policy.

    Example:

    >>> import numpy as np
    >>> pooling = AttentionMILPooling(units=16, gated=True)
    >>> tuple(pooling(np.random.rand(2, 5, 8).astype("float32")).shape)
    (2, 1)
    """

    def __init__(self, units=128, gated=False, return_details=False, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.supports_masking = True
        self.units = units
        self.gated = gated
        self.return_details = return_details

    def build(self, inputs_shape):
        dim = embedding_size(self, inputs_shape)

        def weight(name, shape, initializer="glorot_uniform"):
            return self.add_weight(shape=shape, initializer=initializer, name=name, autocast=False)

        self.attention_v = weight("attention_v", (dim, self.units))
        self.attention_u = weight("attention_u", (dim, self.units)) if self.gated else None
        self.attention_w = weight("attention_w", (self.units, 1))
        add_classifier(self, dim)

    def call(self, inputs, mask=None):
        mask = instance_mask(inputs, mask)
        h = zero_masked(ops.cast(inputs, "float32"), mask)
        hidden = ops.tanh(ops.matmul(h, self.attention_v))
        if self.gated:
            hidden = hidden * ops.sigmoid(ops.matmul(h, self.attention_u))
        attention = masked_softmax(ops.squeeze(ops.matmul(hidden, self.attention_w), -1), mask)
        embedding = ops.sum(ops.expand_dims(attention, -1) * h, axis=1)
        bag_logit = ops.matmul(embedding, self.classifier_kernel) + self.classifier_bias
        bag = ops.sigmoid(bag_logit)
        if not self.return_details:
            return bag
        instance_logits = classifier_logits(self, h)
        return {
            "bag": bag,
            "logit": bag_logit,
            "attention": attention,
            "instance": zero_masked(ops.sigmoid(instance_logits), mask),
            "embedding": embedding,
        }

    def compute_mask(self, inputs, previous_mask=None):
        return None  # the mask is consumed here

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "gated": self.gated, "return_details": self.return_details})
        return config
