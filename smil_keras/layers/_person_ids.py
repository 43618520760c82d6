"""Person-id helpers shared by the person-aware layers (private).

`check_person_ids` validates a layer's ``person_ids`` ``(batch, M)``; `person_masks` turns them
into one mask of instances per person.
"""

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
