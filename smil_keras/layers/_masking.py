"""Masking helpers shared by the MIL layers (private).

`instance_mask` validates a layer's mask against its inputs and turns it into a boolean
`(batch, M)` tensor. The other helpers work in float32 and are safe for gradients: masked slots
are removed with `ops.where` before any `exp`/division, so garbage (even inf or NaN) in masked
slots never reaches a value or a gradient, and a fully masked or empty bag gives zeros instead
of NaN.
"""

import keras
import numpy as np
from keras import ops

from smil_keras.errors import MaskError

# Below every float32 score: the value of masked slots in a max, and the max of an empty row.
_LOWEST = -3.0e38
_MASK_DTYPES = {"bool", "float16", "bfloat16", "float32", "float64"} | {
    f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)
}


def check_mask(layer, inputs, mask):
    """Raises `MaskError` unless `mask` is a 0/1 mask of shape `(batch, M)` fitting `inputs`.

    The rank is always checked, each size whenever both it and the inputs' are known (always
    in eager calls; in a traced function, as far as the trace knows them). The values of a
    non-boolean mask are checked only when they are concrete (eager calls): inside a traced or
    compiled function (`model.fit`, `tf.function`, `jax.jit`) they are not, and any nonzero
    value then counts as `True`.
    """
    if mask is None:
        return
    problem = shape_problem(inputs, mask)
    if problem:
        _raise_mask_error(layer, problem)
    dtype = keras.backend.standardize_dtype(mask.dtype)
    if dtype not in _MASK_DTYPES:
        _raise_mask_error(layer, f"expected a boolean or a numeric 0/1 mask, got dtype {dtype}")
    if dtype == "bool":
        return
    values = _concrete_values(mask)
    if values is None:
        return
    bad = np.unique(values[(values != 0) & (values != 1)])
    if bad.size:
        shown = ", ".join(str(value) for value in bad[:5].tolist())
        _raise_mask_error(layer, f"a {dtype} mask must hold exactly 0 or 1, got {shown}")


def shape_problem(inputs, tensor):
    """Why `tensor` is not `(batch, M)` like `inputs` `(batch, M, ...)`, or None if it fits.

    Sizes unknown in either shape (a traced `None`) are taken to fit.
    """
    shape, expected = tuple(tensor.shape), tuple(inputs.shape[:2])
    if len(shape) == 2 and all(
        size is None or want is None or size == want
        for size, want in zip(shape, expected, strict=True)
    ):
        return None
    return (
        f"expected shape (batch, M) = {expected} to match the inputs {tuple(inputs.shape)}, "
        f"got {shape}"
    )


def instance_mask(layer, inputs, mask):
    """`check_mask`, then the boolean `(batch, M)` mask; all True when `mask` is None."""
    if mask is None:
        return ops.ones(ops.shape(inputs)[:2], dtype="bool")
    check_mask(layer, inputs, mask)
    return ops.cast(mask, "bool")


def _raise_mask_error(layer, reason):
    error = MaskError(layer.name, reason)
    # Keras re-creates an error raised in `call` as `type(error)(message)` to append the call's
    # arguments, and one it cannot re-create (ours has two fields) as a RuntimeError. The
    # message already names the shapes: mark it as one Keras has seen, to keep its type.
    error._keras_call_info_injected = True
    raise error


def _concrete_values(tensor):
    """The values of `tensor` as NumPy, or None while it is symbolic or traced."""
    if isinstance(tensor, keras.KerasTensor):
        return None
    try:
        return ops.convert_to_numpy(tensor)
    except (TypeError, RuntimeError):
        # A tracer (jax.jit: TracerArrayConversionError, a TypeError) or a graph tensor
        # (tf.function: NotImplementedError, a RuntimeError) has no values yet.
        return None


def zero_masked(values, mask):
    """Replaces masked slots of `values` `(batch, M, ...)` by 0."""
    mask = ops.cast(mask, "bool")
    while len(mask.shape) < len(values.shape):
        mask = ops.expand_dims(mask, -1)
    return ops.where(mask, values, ops.zeros_like(values))


def masked_max(values, mask):
    """The maximum of `values` `(batch, M)` over the unmasked slots, `(batch, 1)`.

    A fully masked or empty row gives `-3e38`, below every float32 score.
    """
    masked = ops.where(mask, values, ops.full_like(values, _LOWEST))
    return ops.max(masked, axis=-1, keepdims=True, initial=_LOWEST)


def masked_softmax(scores, mask):
    """Softmax over the unmasked slots of `scores` `(batch, M)`.

    Masked slots get exactly 0; a fully masked row is all zeros.
    """
    scores = zero_masked(scores, mask)
    row_max = masked_max(scores, mask)
    row_max = ops.stop_gradient(ops.where(row_max > _LOWEST, row_max, ops.zeros_like(row_max)))
    # Unmasked shifted scores are <= 0, masked ones are 0: exp never overflows.
    exps = ops.exp(zero_masked(scores - row_max, mask)) * ops.cast(mask, scores.dtype)
    return masked_divide(exps, ops.sum(exps, axis=-1, keepdims=True))


def masked_uniform(mask):
    """`1 / n` on the n unmasked slots of each row, 0 elsewhere (all 0 if n = 0)."""
    mask = ops.cast(mask, "float32")
    return masked_divide(mask, ops.sum(mask, axis=-1, keepdims=True))


def masked_divide(numerator, denominator):
    """`numerator / denominator`, with 0 where the denominator is 0."""
    is_zero = ops.equal(denominator, 0.0)
    safe = ops.where(is_zero, ops.ones_like(denominator), denominator)
    return ops.where(is_zero, ops.zeros_like(numerator), numerator / safe)
