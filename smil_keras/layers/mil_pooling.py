"""`MILPooling`, the base class of the MIL poolings: masking, classifier, shapes, config."""

import keras
from keras import ops

from smil_keras.layers._masking import check_mask, instance_mask, zero_masked


@keras.saving.register_keras_serializable(package="smil_keras")
class MILPooling(keras.layers.Layer):
    """Base class of the MIL poolings: a bag of instance embeddings to a bag probability.

    The base class owns what every pooling shares; a subclass writes only its equation, in
    `pool(h, mask)`:

    - the mask: validated against the inputs (`smil_keras.errors.MaskError`), masked instances
      zeroed before `pool` sees them, and `"instance"` set to 0 on them afterwards; the mask is
      consumed (`compute_mask` returns None);
    - the linear instance classifier `logit_j = W h_j + b` shared by the bag and its
      instances (`classify`; weights `classifier_kernel` `(D, 1)` and `classifier_bias`
      `(1,)`, created by `build` after the subclass' own weights);
    - float32 computation under any dtype policy (inputs are not down-cast under mixed
      precision; outputs are float32);
    - `return_details`, `compute_output_shape` (so the layer is symbolic on every backend
      without tracing its call) and `get_config`.

    A subclass implements `pool(h, mask)`, which gets the float32 embeddings `h`
    `(batch, M, D)` with masked instances zeroed and the boolean `mask` `(batch, M)`, and
    returns a dict holding the keys of its `detail_keys`: always `"bag"` `(batch, 1)`,
    `"attention"` `(batch, M)` and `"instance"` `(batch, M)`, and where the pooling has them
    `"logit"` `(batch, 1)` and `"embedding"` `(batch, D)`. A subclass with weights of its own
    creates them in `build` and then calls `super().build(inputs_shape)`.

    Args:
        return_details: bool. If `True`, the call returns the dict of `detail_keys` instead of
            the bag probability alone.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, M, D)`, the instance embeddings; `M` may be `None`
            until call time, `D` must be known.
        mask: optional tensor `(batch, M)`, `True` (or 1) for real instances, `False` (or 0)
            for padding: boolean, or numeric holding exactly 0 and 1 (float32 or uint8 masks,
            as `tf.distribute` may need, work alike).

    Returns:
        The bag probability `(batch, 1)`, or with `return_details=True` a dict with the keys
        of `detail_keys`.

    Masking: masked instances never change any output; they get attention and `"instance"`
    exactly 0. A mask whose shape is not the inputs' `(batch, M)` (a transposed mask, a
    `(M,)` or `(1, M)` one that would broadcast) raises `MaskError` naming the expected and
    the actual shape, and so do a dtype that is neither boolean nor numeric and values other
    than 0 and 1. Shapes are checked whenever they are known (always in eager calls; in a
    traced function as far as the trace knows them), values in eager calls only: inside a
    traced or compiled function (`model.fit`, `tf.function`, `jax.jit`) any nonzero value
    counts as `True`.

    Empty bags: a bag with no unmasked instance, fully masked or with `M = 0`, gives finite
    outputs (no NaN, in values or gradients): zero attention and embedding, and the
    probability each subclass documents. With `M = 0` `"attention"` and `"instance"` have
    shape `(batch, 0)`.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> class MeanEmbeddingPooling(MILPooling):
    ...     '''p = sigmoid(W mean_j h_j + b).'''
    ...     def pool(self, h, mask):
    ...         weights = ops.cast(mask, "float32")
    ...         attention = weights / ops.maximum(ops.sum(weights, -1, keepdims=True), 1.0)
    ...         embedding = ops.sum(ops.expand_dims(attention, -1) * h, axis=1)
    ...         bag = ops.sigmoid(ops.expand_dims(self.classify(embedding), -1))
    ...         instance = ops.sigmoid(self.classify(h))
    ...         return {"bag": bag, "attention": attention, "instance": instance}
    >>> tuple(MeanEmbeddingPooling()(np.random.rand(2, 5, 8).astype("float32")).shape)
    (2, 1)
    """

    #: The keys of the dict returned with `return_details=True`.
    detail_keys = ("bag", "attention", "instance")

    def __init__(self, return_details=False, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.supports_masking = True
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.return_details = return_details

    def build(self, inputs_shape):
        dim = self._embedding_size(inputs_shape)
        self.input_spec = keras.layers.InputSpec(ndim=3, axes={-1: dim})
        self.classifier_kernel = self.add_weight(
            shape=(dim, 1), initializer="glorot_uniform", name="classifier_kernel", autocast=False
        )
        self.classifier_bias = self.add_weight(
            shape=(1,), initializer="zeros", name="classifier_bias", autocast=False
        )

    def call(self, inputs, mask=None):
        h, mask = self._masked_inputs(inputs, mask)
        return self._outputs(self.pool(h, mask), mask)

    def pool(self, h, mask):
        """The pooling's equation: `h` `(batch, M, D)` float32, zero where `mask` is False,
        and the boolean `mask` `(batch, M)` -> a dict holding the keys of `detail_keys`."""
        raise NotImplementedError(f"{type(self).__name__} must implement pool(h, mask)")

    def classify(self, x):
        """The shared linear classifier `W x + b` over the last axis: `(..., D)` -> `(...)`."""
        return ops.squeeze(ops.matmul(x, self.classifier_kernel), -1) + self.classifier_bias

    def compute_output_spec(self, inputs, mask=None, **kwargs):
        check_mask(self, inputs, mask)
        return keras.tree.map_shape_structure(
            lambda shape: keras.KerasTensor(shape, dtype="float32"),
            self.compute_output_shape(inputs.shape),
        )

    def compute_output_shape(self, inputs_shape):
        batch, size, dim = inputs_shape
        if not self.return_details:
            return (batch, 1)
        shapes = {
            "bag": (batch, 1),
            "logit": (batch, 1),
            "attention": (batch, size),
            "instance": (batch, size),
            "embedding": (batch, dim),
        }
        return {key: shapes[key] for key in self.detail_keys}

    def compute_mask(self, inputs, previous_mask=None):
        return None  # the mask is consumed here

    def get_config(self):
        config = super().get_config()
        config.update({"return_details": self.return_details})
        return config

    def _embedding_size(self, inputs_shape):
        """The known last dimension `D` of `inputs_shape`, or a `ValueError` naming the layer."""
        dim = inputs_shape[-1]
        if dim is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} needs a known embedding size (the last "
                f"axis of its inputs), got shape {tuple(inputs_shape)}"
            )
        return dim

    def _masked_inputs(self, inputs, mask):
        """The float32 embeddings with masked instances zeroed, and the boolean mask."""
        mask = instance_mask(self, inputs, mask)
        return zero_masked(ops.cast(inputs, "float32"), mask), mask

    def _outputs(self, details, mask):
        """The bag probability, or the dict of `detail_keys` with `"instance"` 0 where masked."""
        if not self.return_details:
            return details["bag"]
        details = {key: details[key] for key in self.detail_keys}
        details["instance"] = zero_masked(details["instance"], mask)
        return details
