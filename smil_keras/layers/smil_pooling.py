"""Sharp multiple-instance learning pooling (S-MIL, Li et al. 2020, Eq. 7-10)."""

import keras
from keras import ops

from smil_keras.layers._masking import masked_softmax, masked_uniform, shape_problem, zero_masked
from smil_keras.layers.mil_pooling import MILPooling


@keras.saving.register_keras_serializable(package="smil_keras")
class SMILPooling(MILPooling):
    """S-MIL pooling: a bag probability from a bag of instance embeddings.

    With attention `a_j = softmax_j(w . h_j)` over the unmasked instances and one linear
    classifier `(W, b)` shared by the bag and its instances (Eq. 9, 10):

        p_j = sigmoid(W h_j + b)
        p   = sigmoid(W sum_j a_j h_j + b)
            = 1 / (1 + prod_j (1 / p_j - 1) ** a_j)

    The call computes the middle line in its log-odds form, `logit(p) = sum_j a_j logit(p_j)`,
    which is the same number because the attention sums to 1. The attention projection `w`
    has no bias: it would cancel in the softmax.

    With `weighted=False` it is the unweighted S-MIL of Eq. 7/8:
    `logit(p) = sum_j logit(p_j) = W sum_j h_j + n b` over the n unmasked instances, so
    `p = 1 / (1 + prod_j (1 / p_j - 1))`. Each instance then enters with exponent 1; the
    reported `"attention"` is the uniform `1 / n` (each instance's share of the bag logit's
    weights), so that attention maps of every pooling sum to 1.

    **S-MIL-T (Eq. 12).** Passing `instance_logits` replaces the layer's own classifier: the
    given logits are the instances' logits and the attention still comes from `inputs`. The
    layer then creates no classifier weights. The super-bag of the paper is

        inner = [SMILPooling(return_details=True) for k in kernel_sizes]
        outs = [layer(c_k, mask=mask) for layer, c_k in zip(inner, bags)]
        p = SMILPooling()(ops.stack([o["embedding"] for o in outs], axis=1),
                          instance_logits=ops.concatenate([o["logit"] for o in outs], -1))

    which gives `p = 1 / (1 + prod_k (1 / p_k - 1) ** b_k)`.

    Args:
        weighted: bool. `True` for S-MIL with attention (Eq. 9/10), `False` for the
            unweighted sum of Eq. 7/8 (no attention weights are created).
        return_details: bool. If `True`, return a dict (see below) instead of the bag
            probability alone.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, M, D)`, the instance embeddings `h_j`; `M` may be
            `None` until call time, `D` must be known.
        mask: optional tensor `(batch, M)`; `True` (or 1) marks a real instance, `False`
            (or 0) padding. Boolean, or numeric holding exactly 0 and 1 (see `MILPooling`).
        instance_logits: optional float tensor `(batch, M)`, the instances' logits to use
            instead of `W h_j + b`.

    Returns:
        The bag probability `(batch, 1)`, or with `return_details=True` a dict with
        `"bag"` `(batch, 1)`, `"logit"` `(batch, 1)` (the bag's log-odds),
        `"attention"` `(batch, M)`, `"instance"` `(batch, M)` (the `p_j`) and
        `"embedding"` `(batch, D)` (`sum_j a_j h_j`; `sum_j h_j` when unweighted).

    Masking (as in every `MILPooling`): masked instances are replaced by zeros before any
    computation, get attention exactly 0 and an `"instance"` value of 0; they never change
    any output. A mask that is not `(batch, M)` like the inputs, or not 0/1, raises
    `smil_keras.errors.MaskError`. An empty bag (fully masked, or `M = 0`) has zero
    attention and embedding, logit 0 and probability 0.5 (no evidence either way). The
    pooling always computes in float32 (inputs are not down-cast under a mixed precision
    policy), so its outputs are float32.

    Example:

    >>> import numpy as np
    >>> embeddings = np.random.rand(2, 5, 8).astype("float32")
    >>> mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    >>> tuple(SMILPooling()(embeddings, mask=mask).shape)
    (2, 1)
    """

    detail_keys = ("bag", "logit", "attention", "instance", "embedding")

    def __init__(self, weighted=True, return_details=False, **kwargs):
        super().__init__(return_details=return_details, **kwargs)
        self.weighted = weighted

    def build(self, inputs_shape, instance_logits_shape=None):
        self.attention_kernel = None
        if self.weighted:
            self.attention_kernel = self.add_weight(
                shape=(self._embedding_size(inputs_shape), 1),
                initializer="glorot_uniform",
                name="attention_kernel",
                autocast=False,
            )
        if instance_logits_shape is None:
            super().build(inputs_shape)  # the shared classifier
        else:
            self.classifier_kernel = self.classifier_bias = None

    def call(self, inputs, mask=None, instance_logits=None):
        _check_instance_logits(self, inputs, instance_logits)
        h, mask = self._masked_inputs(inputs, mask)
        return self._outputs(self.pool(h, mask, instance_logits), mask)

    def pool(self, h, mask, instance_logits=None):
        if self.weighted:
            # a_j = softmax_j(w . h_j) over unmasked j (Eq. 9); the exponent of p_j.
            attention = masked_softmax(ops.squeeze(ops.matmul(h, self.attention_kernel), -1), mask)
            exponents = attention
        else:
            # Eq. 8: every instance has exponent 1.
            exponents = ops.cast(mask, "float32")
            attention = masked_uniform(mask)
        if instance_logits is None:
            if self.classifier_kernel is None:
                raise ValueError(
                    f"{self.name} was built with `instance_logits`; pass them on every call."
                )
            # logit(p_j) = W h_j + b (Eq. 7).
            instance_logits = self.classify(h)
        logits = zero_masked(ops.cast(instance_logits, "float32"), mask)
        # logit(p) = sum_j a_j logit(p_j), i.e. p = 1 / (1 + prod_j (1/p_j - 1)^a_j) (Eq. 9, 10).
        bag_logit = ops.sum(exponents * logits, axis=-1, keepdims=True)
        return {
            "bag": ops.sigmoid(bag_logit),
            "logit": bag_logit,
            "attention": attention,
            "instance": ops.sigmoid(logits),
            "embedding": ops.sum(ops.expand_dims(exponents, -1) * h, axis=1),
        }

    def compute_output_spec(self, inputs, mask=None, instance_logits=None):
        _check_instance_logits(self, inputs, instance_logits)
        return super().compute_output_spec(inputs, mask=mask)

    def get_config(self):
        config = super().get_config()
        config.update({"weighted": self.weighted})
        return config


def _check_instance_logits(layer, inputs, instance_logits):
    """A `ValueError` unless `instance_logits` (if given) is `(batch, M)` like `inputs`."""
    problem = instance_logits is not None and shape_problem(inputs, instance_logits)
    if problem:
        raise ValueError(f"{layer.name}: bad instance_logits: {problem}")
