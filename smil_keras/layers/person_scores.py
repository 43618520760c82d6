"""Per-person scores pooled from `PersonSubBags` sub-bags (Keras layer)."""

import keras
from keras import ops

from smil_keras.layers._person_ids import check_person_ids, person_masks


@keras.saving.register_keras_serializable(package="smil_keras")
class PersonScores(keras.layers.Layer):
    """Per-person results of `PersonSubBags` sub-bags as a ``(batch, P)`` table.

    Call arguments:
        scores: float tensor ``(batch * M, 1)`` (or ``(batch * M,)``), one value per sub-bag,
            e.g. a pooling's bag probability on the outputs of `PersonSubBags`.
        person_ids: int tensor ``(batch, M)``, as given to `PersonSubBags`.
        mask: optional tensor ``(batch, M)``, as given to `PersonSubBags`.

    Returns:
        A dict: ``"person_probability"`` float32 ``(batch, P)`` with ``P = M``, person ``p``'s
        score, 0 for a person index nobody has; ``"person_mask"`` bool ``(batch, P)``, True
        for the people the bag shows (at least one real instance).

    Example:

    >>> import numpy as np
    >>> ids = np.array([[0, 0, 1]])
    >>> out = PersonScores()(np.array([[0.9], [0.2], [0.5]], "float32"), ids)
    >>> keras.ops.convert_to_numpy(out["person_probability"]).round(2)
    array([[0.9, 0.2, 0. ]], dtype=float32)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # takes the mask as an argument; passes none on

    def call(self, scores, person_ids, mask=None):
        check_person_ids(self, person_ids, mask)
        scores = ops.reshape(ops.cast(scores, "float32"), (-1, ops.shape(person_ids)[1]))
        present = ops.any(person_masks(person_ids, mask), axis=2)
        return {
            "person_probability": ops.where(present, scores, ops.zeros_like(scores)),
            "person_mask": present,
        }

    def compute_output_shape(self, scores_shape, person_ids_shape, mask_shape=None):
        shape = tuple(person_ids_shape)
        return {"person_probability": shape, "person_mask": shape}

    def compute_output_spec(self, scores, person_ids, mask=None):
        check_person_ids(self, person_ids, mask)
        shapes = self.compute_output_shape(scores.shape, person_ids.shape)
        return {
            "person_probability": keras.KerasTensor(shapes["person_probability"], dtype="float32"),
            "person_mask": keras.KerasTensor(shapes["person_mask"], dtype="bool"),
        }

    def compute_mask(self, inputs, previous_mask=None):
        return None
