"""Spatial-temporal instance encoder of S-MIL-T (Li et al. 2020, Eq. 11)."""

import keras
from keras import ops

from smil_keras.layers._masking import check_mask, instance_mask, zero_masked
from smil_keras.layers._person_ids import check_person_ids


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

    **People.** With `person_ids`, a bag may show several people and no convolution mixes
    two of them: the temporal neighbours of a face are the previous and next faces *of the
    same person* in bag order (other people's faces in between are skipped), and where a
    person has no such face the kernel sees zero padding, as at the ends of a sequence. So
    each person's encodings are exactly those of a bag holding that person's faces alone, in
    whatever order the people's faces are interleaved; a bag ordered person by person (time
    order within a person) is the usual input. One person (all ids equal) gives the same
    numbers as no `person_ids` (up to float rounding: the convolution is then computed as a
    matrix product over gathered neighbours). A masked instance stays in its person's
    sequence as a zero (a hole, as without `person_ids`); padding with id -1 is nobody's
    neighbour.

    Args:
        kernel_sizes: tuple of distinct positive ints, the temporal kernel sizes.
        filters: int, the number of filters `r` of each convolution.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, M, D)`; `M` may be `None` until call time.
        mask: optional tensor `(batch, M)`, `True` (or 1) for real instances: boolean, or
            numeric holding exactly 0 and 1.
        person_ids: optional int tensor `(batch, M)`, the person each instance shows (small
            per-bag indices `0, 1, ...`; padding is usually -1). Instances with equal ids are
            one person; any value works, including negative ones.

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
    >>> people = np.array([[0, 0, 0, 1, 1, -1, -1], [0, 1, 0, 1, 0, 1, 0]])  # two people
    >>> tuple(encoder(np.random.rand(2, 7, 8).astype("float32"), person_ids=people).shape)
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

    def build(self, inputs_shape, person_ids_shape=None):
        for convolution in self.convolutions:
            convolution.build(inputs_shape)

    def call(self, inputs, mask=None, person_ids=None):
        if person_ids is not None:
            check_person_ids(self, person_ids, inputs, ids_below_m=False)
        if mask is not None:
            mask = instance_mask(self, inputs, mask)
            inputs = zero_masked(inputs, mask)
        if inputs.shape[1] == 0:  # an empty bag: nothing to convolve
            return ops.zeros(self.compute_output_shape(ops.shape(inputs)), self.compute_dtype)
        # c^k = ReLU(Conv1D_{k,r}(H)) for every kernel size k (Eq. 11).
        if person_ids is None:
            branches = [convolution(inputs) for convolution in self.convolutions]
        else:
            neighbours = _SamePersonNeighbours(person_ids)
            branches = [self._convolve(conv, inputs, neighbours) for conv in self.convolutions]
        outputs = ops.stack(branches, axis=1)
        if mask is not None:
            outputs = ops.where(mask[:, None, :, None], outputs, ops.zeros_like(outputs))
        return outputs

    def _convolve(self, convolution, inputs, neighbours):
        """``convolution`` ("same", stride 1) where each instance's window holds its own
        person's neighbours (zeros where there are none): the window of offsets
        ``-(k - 1) // 2 ... k // 2``, ``(batch, M, k * D)``, times the kernel ``(k * D, r)``."""
        k = convolution.kernel_size[0]
        window = ops.concatenate(
            [neighbours.gather(inputs, offset) for offset in range(-((k - 1) // 2), k // 2 + 1)],
            axis=-1,
        )
        kernel = ops.cast(convolution.kernel, self.compute_dtype)
        kernel = ops.reshape(kernel, (k * inputs.shape[-1], self.filters))
        bias = ops.cast(convolution.bias, self.compute_dtype)
        return convolution.activation(ops.matmul(window, kernel) + bias)

    def compute_output_spec(self, inputs, mask=None, person_ids=None):
        check_mask(self, inputs, mask)
        if person_ids is not None:
            check_person_ids(self, person_ids, inputs, ids_below_m=False)
        return super().compute_output_spec(inputs, mask=mask)

    def compute_output_shape(self, inputs_shape, person_ids_shape=None):
        return (inputs_shape[0], len(self.kernel_sizes), inputs_shape[1], self.filters)

    def compute_mask(self, inputs, previous_mask=None):
        return None  # a (batch, M) mask does not fit the output's kernel axis: pass it on again

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_sizes": list(self.kernel_sizes), "filters": self.filters})
        return config


class _SamePersonNeighbours:
    """Where each instance's same-person neighbours are, for ``person_ids`` ``(batch, M)``.

    An instance's rank is the number of earlier instances of its person; its neighbour at
    offset ``o`` is the instance of the same person whose rank is its own plus ``o``.
    """

    def __init__(self, person_ids):
        ids = ops.cast(person_ids, "int32")
        positions = ops.arange(ops.shape(ids)[1])
        self.same = ops.equal(ops.expand_dims(ids, 2), ops.expand_dims(ids, 1))  # (B, j, i)
        earlier = ops.less(ops.expand_dims(positions, 0), ops.expand_dims(positions, 1))  # i < j
        self.rank = ops.sum(ops.cast(ops.logical_and(self.same, earlier), "int32"), axis=2)

    def gather(self, inputs, offset):
        """``inputs`` ``(batch, M, D)`` at each instance's neighbour ``offset`` places away in
        its own person's sequence; zeros where the person has no instance there."""
        if offset == 0:
            return inputs
        wanted = ops.expand_dims(self.rank + offset, 2)  # (B, j, 1)
        is_neighbour = ops.logical_and(self.same, ops.equal(ops.expand_dims(self.rank, 1), wanted))
        index = ops.argmax(ops.cast(is_neighbour, "int32"), axis=2)  # (B, j); 0 if none
        values = ops.take_along_axis(inputs, ops.expand_dims(index, -1), axis=1)
        found = ops.expand_dims(ops.any(is_neighbour, axis=2), -1)
        return ops.where(found, values, ops.zeros_like(values))
