"""Spatial-temporal instance encoder of S-MIL-T (Li et al. 2020, Eq. 11)."""

import keras
from keras import ops

from smil_keras.layers._masking import check_mask, instance_mask, zero_masked


@keras.saving.register_keras_serializable(package="smil_keras")
class SpatialTemporalEncoder(keras.layers.Layer):
    """Encodes a bag of instance embeddings into one bag per temporal kernel size (Eq. 11).

    For each kernel size `k`: `c^k = ReLU(Conv1D_{k, filters}(H))` over the instance
    sequence `H = [h_1, ..., h_M]`, zero padded ("same") so that every bag keeps `M`
    instances. Kernel size 1 keeps spatial (per-face) instances; sizes 2 and 3 let
    neighbouring faces interact. The paper uses `kernel_sizes=(1, 2, 3)`, `filters=512`.

    Output position `j` of kernel size `k` sees instances `j - (k - 1) // 2` to
    `j + k // 2`: for an even `k` the extra zero of the padding goes at the end of the
    sequence (the Keras "same" convention, identical on every backend).

    Args:
        kernel_sizes: tuple of distinct positive ints, the temporal kernel sizes.
        filters: int, the number of filters `r` of each convolution.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, M, D)`; `M` may be `None` until call time.
        mask: optional tensor `(batch, M)`, `True` (or 1) for real instances: boolean, or
            numeric holding exactly 0 and 1.

    Returns:
        Float tensor `(batch, K, M, filters)` with `K = len(kernel_sizes)`; index `i` of
        axis 1 holds the bag encoded with `kernel_sizes[i]`.

    Masking: masked instances are set to zero before the convolutions (they act like the
    zero padding), and the encodings at masked positions are zero. A bag padded at its end
    with masked garbage therefore gives the same encodings at its real positions as the
    unpadded bag. The mask is not propagated; pass it again to the pooling. It is validated
    as the poolings' (`MILPooling`): a mask that is not `(batch, M)` like the inputs, or not
    0/1, raises `smil_keras.errors.MaskError`. An empty bag (`M = 0`) encodes to
    `(batch, K, 0, filters)`.

    Example:

    >>> import numpy as np
    >>> encoder = SpatialTemporalEncoder(kernel_sizes=(1, 2, 3), filters=16)
    >>> tuple(encoder(np.random.rand(2, 7, 8).astype("float32")).shape)
    (2, 3, 7, 16)
    """

    def __init__(self, kernel_sizes=(1, 2, 3), filters=512, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.input_spec = keras.layers.InputSpec(ndim=3)
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        if not kernel_sizes or min(kernel_sizes) < 1 or len(set(kernel_sizes)) != len(kernel_sizes):
            raise ValueError(f"kernel_sizes must be distinct positive ints, got {kernel_sizes}")
        self.kernel_sizes = kernel_sizes
        self.filters = filters
        self.convolutions = [
            keras.layers.Conv1D(
                filters,
                k,
                padding="same",
                activation="relu",
                dtype=self.dtype_policy,
                name=f"conv1d_k{k}",
            )
            for k in kernel_sizes
        ]

    def build(self, inputs_shape):
        for convolution in self.convolutions:
            convolution.build(inputs_shape)

    def call(self, inputs, mask=None):
        if mask is not None:
            mask = instance_mask(self, inputs, mask)
            inputs = zero_masked(inputs, mask)
        if inputs.shape[1] == 0:  # an empty bag: nothing to convolve
            return ops.zeros(self.compute_output_shape(ops.shape(inputs)), self.compute_dtype)
        # c^k = ReLU(Conv1D_{k,r}(H)) for every kernel size k (Eq. 11).
        outputs = ops.stack([convolution(inputs) for convolution in self.convolutions], axis=1)
        if mask is not None:
            outputs = ops.where(mask[:, None, :, None], outputs, ops.zeros_like(outputs))
        return outputs

    def compute_output_spec(self, inputs, mask=None):
        check_mask(self, inputs, mask)
        return super().compute_output_spec(inputs, mask=mask)

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], len(self.kernel_sizes), inputs_shape[1], self.filters)

    def compute_mask(self, inputs, previous_mask=None):
        return None  # a (batch, M) mask does not fit the output's kernel axis: pass it on again

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_sizes": list(self.kernel_sizes), "filters": self.filters})
        return config
