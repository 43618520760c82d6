"""Masking helpers shared by the MIL layers (private).

Every helper works in float32 and is safe for gradients: masked slots are removed with
`ops.where` before any `exp`/division, so garbage (even inf or NaN) in masked slots never
reaches a value or a gradient, and a fully masked bag gives zeros instead of NaN.
"""

from keras import ops


def instance_mask(inputs, mask):
    """Boolean `(batch, M)` mask; all True when `mask` is None."""
    if mask is None:
        return ops.ones(ops.shape(inputs)[:2], dtype="bool")
    return ops.cast(mask, "bool")


def zero_masked(values, mask):
    """Replaces masked slots of `values` `(batch, M, ...)` by 0."""
    mask = ops.cast(mask, "bool")
    while len(mask.shape) < len(values.shape):
        mask = ops.expand_dims(mask, -1)
    return ops.where(mask, values, ops.zeros_like(values))


def masked_softmax(scores, mask):
    """Softmax over the unmasked slots of `scores` `(batch, M)`.

    Masked slots get exactly 0; a fully masked row is all zeros.
    """
    scores = zero_masked(scores, mask)
    lowest = ops.full_like(scores, -3.0e38)
    row_max = ops.max(ops.where(mask, scores, lowest), axis=-1, keepdims=True)
    row_max = ops.stop_gradient(ops.where(row_max > -3.0e38, row_max, ops.zeros_like(row_max)))
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

