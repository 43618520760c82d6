"""Per-person sub-bags of a multi-person bag, and the per-person scores pooled from them."""

import keras
from keras import ops

from smil_keras.layers._masking import _concrete_values, shape_problem


def person_masks(person_ids, mask=None):
    """Which instances belong to which person: bool ``(batch, P, M)`` with ``P = M``.

    Entry ``[b, p, j]`` is True when instance ``j`` of bag ``b`` is real (``mask``) and shows
    person ``p`` (``person_ids[b, j] == p``); negative ids (padding) belong to no person.

    Args:
        person_ids: int tensor ``(batch, M)``, per-bag person indices ``0 .. M - 1``, -1 on
            padding.
        mask: optional tensor ``(batch, M)``, True (or 1) for real instances.

    Returns:
        Bool tensor ``(batch, M, M)``, one row of faces per person index.

    Example:

    >>> import numpy as np
    >>> masks = person_masks(np.array([[0, 1, 0, -1]]))
    >>> keras.ops.convert_to_numpy(masks)[0, :2].astype(int)
    array([[1, 0, 1, 0],
           [0, 1, 0, 0]])
    """
    ids = ops.cast(person_ids, "int32")
    persons = ops.arange(ops.shape(ids)[1], dtype="int32")
    masks = ops.equal(ops.expand_dims(ids, 1), ops.reshape(persons, (1, -1, 1)))
    if mask is not None:
        masks = ops.logical_and(masks, ops.expand_dims(ops.cast(mask, "bool"), 1))
    return masks


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

    def compute_output_spec(self, inputs, person_ids, mask=None):
        check_person_ids(self, person_ids, mask)
        batch, size = person_ids.shape
        sub_batch = None if batch is None or size is None else batch * size
        return (
            keras.KerasTensor((sub_batch, *inputs.shape[1:]), dtype=inputs.dtype),
            keras.KerasTensor((sub_batch, size), dtype="bool"),
        )

    def compute_mask(self, inputs, previous_mask=None):
        return None


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

    def compute_output_spec(self, scores, person_ids, mask=None):
        check_person_ids(self, person_ids, mask)
        return {
            "person_probability": keras.KerasTensor(person_ids.shape, dtype="float32"),
            "person_mask": keras.KerasTensor(person_ids.shape, dtype="bool"),
        }

    def compute_mask(self, inputs, previous_mask=None):
        return None


def check_person_ids(layer, person_ids, like=None, *, ids_below_m=True):
    """Raises a `ValueError` naming ``layer`` unless ``person_ids`` is an integer ``(batch, M)``
    tensor (the ``(batch, M)`` of ``like`` when given, e.g. the mask or the inputs) and, with
    ``ids_below_m``, holds ids below ``M`` (checked on concrete values: eager calls)."""
    dtype = keras.backend.standardize_dtype(person_ids.dtype)
    problem = None
    if len(person_ids.shape) != 2:
        problem = f"expected shape (batch, M), got {tuple(person_ids.shape)}"
    elif like is not None:
        problem = shape_problem(like, person_ids)
    if not problem and "int" not in dtype:
        problem = f"expected an integer dtype, got {dtype}"
    values = None if problem or not ids_below_m else _concrete_values(person_ids)
    if values is not None and values.size and values.max() >= values.shape[1]:
        problem = (
            f"ids are per-bag person indices 0 .. M - 1 (M = {values.shape[1]}, -1 on "
            f"padding), got {int(values.max())}"
        )
    if problem:
        raise ValueError(f"bad person_ids for layer {layer.name!r}: {problem}")
