"""Every layer that takes a mask validates it against its inputs (issue 19, "masks that broadcast").

One test per class of bad mask: a shape that is not the inputs' `(batch, M)` (wrong rank, sizes
that would broadcast, transposed; eagerly and in a functional model), a dtype that is not boolean
or numeric, numeric values other than 0 and 1. Numeric 0/1 masks (float32, uint8, int32: what
`tf.distribute` may feed) give exactly what the boolean mask gives.
"""

import re

import keras
import numpy as np
import pytest
from keras import ops

from smil_keras.errors import MaskError
from smil_keras.layers import (
    AttentionMILPooling,
    NoisyOrMILPooling,
    ScorePooling,
    SMILPooling,
    SpatialTemporalEncoder,
)

RNG = np.random.default_rng(19)
DIM = 4
LAYERS = {
    "s-mil": lambda: SMILPooling(),
    "s-mil-unweighted": lambda: SMILPooling(weighted=False),
    "noisy-or": lambda: NoisyOrMILPooling(),
    "attention": lambda: AttentionMILPooling(units=4, gated=True),
    "mean": lambda: ScorePooling(mode="mean"),
    "max": lambda: ScorePooling(mode="max"),
    "encoder": lambda: SpatialTemporalEncoder(kernel_sizes=(1, 2), filters=3),
}


def _bag(batch, size):
    h = RNG.normal(size=(batch, size, DIM)).astype("float32")
    mask = RNG.random((batch, size)) < 0.6
    mask[:, 0] = True
    return h, mask


def _shape_message(expected, actual):
    """The error names the expected `(batch, M)` and the actual shape."""
    return rf"expected shape \(batch, M\) = {re.escape(expected)}.*got {re.escape(str(actual))}"


@pytest.mark.parametrize("name", LAYERS)
def test_mask_of_another_rank_is_refused_even_where_it_would_broadcast(name):
    layer = LAYERS[name]()
    h, mask = _bag(5, 5)  # batch == M: a (M,) mask broadcasts against (batch, M)
    for bad in (mask[0], mask[..., None]):
        with pytest.raises(MaskError, match=_shape_message("(5, 5)", tuple(bad.shape))):
            layer(h, mask=bad)


@pytest.mark.parametrize("name", LAYERS)
def test_mask_of_other_sizes_is_refused_even_where_it_would_broadcast(name):
    layer = LAYERS[name]()
    h, mask = _bag(3, 5)
    for bad in (mask[:1], mask[:, :1], mask.T, mask[:, :4]):
        with pytest.raises(MaskError, match=_shape_message("(3, 5)", tuple(bad.shape))) as error:
            layer(h, mask=bad)
        assert layer.name in str(error.value)


@pytest.mark.parametrize("name", LAYERS)
def test_mask_of_known_wrong_shape_is_refused_when_the_model_is_built(name):
    layer = LAYERS[name]()
    inputs = keras.Input((5, DIM), batch_size=3)
    for shape, batch in [((4,), 3), ((5, 1), 3), ((5,), 1)]:
        mask = keras.Input(shape, batch_size=batch, dtype="bool")
        with pytest.raises(MaskError, match=_shape_message("(3, 5)", (batch, *shape))):
            layer(inputs, mask=mask)
    # Sizes unknown when the model is built are taken to fit.
    assert layer(inputs, mask=keras.Input((None,), dtype="bool")) is not None


@pytest.mark.parametrize("name", LAYERS)
def test_mask_of_a_non_numeric_dtype_is_refused(name):
    layer = LAYERS[name]()
    h, mask = _bag(3, 5)
    with pytest.raises(MaskError, match="boolean or a numeric 0/1 mask, got dtype complex64"):
        layer(h, mask=mask.astype("complex64"))


@pytest.mark.parametrize("name", LAYERS)
def test_numeric_mask_with_values_other_than_0_and_1_is_refused(name):
    layer = LAYERS[name]()
    h, mask = _bag(3, 5)
    for bad, shown in [
        (np.where(mask, 1.0, 0.5).astype("float32"), "0.5"),
        (np.where(mask, 1.0, np.nan).astype("float32"), "nan"),
        (mask.astype("uint8") * 2, "2"),
        (-mask.astype("int32"), "-1"),
    ]:
        message = f"a {bad.dtype} mask must hold exactly 0 or 1, got {shown}"
        with pytest.raises(MaskError, match=message):
            layer(h, mask=bad)


@pytest.mark.parametrize("name", LAYERS)
def test_numeric_0_1_masks_equal_the_boolean_mask(name):
    layer = LAYERS[name]()
    h, mask = _bag(3, 5)
    h[~mask] = 1e6  # garbage that only a working mask keeps out
    expected = ops.convert_to_numpy(layer(h, mask=mask))
    assert np.all(np.isfinite(expected)) and np.all(np.abs(expected) < 1e3)
    for dtype in ("float32", "uint8", "int32", "float16"):
        actual = ops.convert_to_numpy(layer(h, mask=mask.astype(dtype)))
        np.testing.assert_array_equal(actual, expected, err_msg=dtype)


@pytest.mark.parametrize("name", ["s-mil", "noisy-or", "max", "encoder"])
def test_compiled_graphs_check_shapes_not_values_and_count_nonzero_as_true(name):
    """Inside `model.predict` (a traced function) the values of a float mask are unknown:
    they are not checked, and any nonzero value counts as True (documented)."""
    layer = LAYERS[name]()
    inputs, mask_in = keras.Input((None, DIM)), keras.Input((None,), dtype="float32")
    model = keras.Model([inputs, mask_in], layer(inputs, mask=mask_in))
    h, mask = _bag(3, 5)
    expected = ops.convert_to_numpy(layer(h, mask=mask))
    for values in (mask.astype("float32"), np.where(mask, 2.0, 0.0).astype("float32")):
        actual = model.predict([h, values], verbose=0)
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_instance_logits_of_another_shape_are_refused():
    h, mask = _bag(3, 5)
    layer = SMILPooling()
    for bad in (np.zeros((3, 5, 1), "float32"), np.zeros((3, 1), "float32")):
        with pytest.raises(ValueError, match=r"instance_logits: expected shape \(batch, M\)"):
            layer(h, mask=mask, instance_logits=bad)
