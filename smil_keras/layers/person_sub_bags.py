"""Per-person sub-bags of a multi-person bag (Keras layer)."""

import keras
from keras import ops

from smil_keras.layers._person_ids import check_person_ids, person_masks


@keras.saving.register_keras_serializable(package="smil_keras")
class PersonSubBags(keras.layers.Layer):
    """Splits every bag into one sub-bag per person, for pooling each person on their own.

    A bag ``b`` of ``M`` instances showing people ``0 .. P - 1`` (``P <= M``; the layer
    reserves ``P = M`` slots) becomes ``M`` copies of itself, copy ``p`` masked to person
    ``p``'s instances: row ``b * M + p`` of the outputs. Any layer that honours a mask (the
    MIL poolings, an LSTM) applied to them then computes, for every person at once, what it
    computes on a bag of that person's instances alone. `PersonScores` puts the ``(b, p)``
    results back into a ``(batch, P)`` table. Has no weights.

    Call arguments:
        inputs: tensor ``(batch, ...)``: the bags, e.g. ``(batch, M, D)`` embeddings or the
            ``(batch, K, M, r)`` encodings of `SpatialTemporalEncoder`; only the batch axis
            is split.
        person_ids: int tensor ``(batch, M)``, each instance's person index ``0 .. M - 1``,
            -1 (any negative) on padding.
        mask: optional tensor ``(batch, M)``, True (or 1) for real instances.

    Returns:
        A tuple ``(sub_bags, sub_masks)``: ``inputs`` with every bag repeated ``M`` times,
        ``(batch * M, ...)``, and the bool ``(batch * M, M)`` mask of each person's instances
        (all False for a person index nobody has).

    Raises:
        ValueError: ``person_ids`` is not an integer ``(batch, M)`` like ``mask``, or (eager
            calls) holds an id ``>= M``.

    Example:

    >>> import numpy as np
    >>> bags, masks = PersonSubBags()(np.zeros((2, 4, 8), "float32"), np.zeros((2, 4), int))
    >>> tuple(bags.shape), tuple(masks.shape)
    ((8, 4, 8), (8, 4))
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # takes the mask as an argument; passes none on

    def call(self, inputs, person_ids, mask=None):
        check_person_ids(self, person_ids, mask)
        size = ops.shape(person_ids)[1]
        sub_bags = ops.repeat(inputs, size, axis=0)
        sub_masks = ops.reshape(person_masks(person_ids, mask), (-1, size))
        return sub_bags, sub_masks

    def compute_output_shape(self, inputs_shape, person_ids_shape, mask_shape=None):
        batch, size = person_ids_shape
        sub_batch = None if batch is None or size is None else batch * size
        return (sub_batch, *inputs_shape[1:]), (sub_batch, size)

    def compute_output_spec(self, inputs, person_ids, mask=None):
        check_person_ids(self, person_ids, mask)
        bags, masks = self.compute_output_shape(inputs.shape, person_ids.shape)
        return keras.KerasTensor(bags, dtype=inputs.dtype), keras.KerasTensor(masks, dtype="bool")

    def compute_mask(self, inputs, previous_mask=None):
        return None
