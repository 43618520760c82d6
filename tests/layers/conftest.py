"""Helpers for the layer tests: a keras-hub-like `run_layer_test` and a backend-neutral gradient.

Both are fixtures so that the test modules stay importable under `--import-mode=importlib`.
"""

import json

import keras
import numpy as np
import pytest
from keras import ops


def _output_shapes(outputs):
    if isinstance(outputs, dict):
        return {k: tuple(v.shape) for k, v in outputs.items()}
    return tuple(outputs.shape)


def _run_layer_test(layer_cls, init_kwargs, inputs, mask, expected_output_shape, tmp_path):
    """Config and JSON round trips, symbolic and eager calls, a one-step fit, `.keras` save/load.

    `inputs` is a float array `(batch, M, D)`, `mask` a bool array `(batch, M)` or None;
    `expected_output_shape` a tuple or a dict of tuples (for `return_details=True`).
    """
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert config[key] == (list(value) if isinstance(value, tuple) else value), key
    assert layer_cls.from_config(config).get_config() == config

    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    assert keras.saving.deserialize_keras_object(serialized).get_config() == config

    # Symbolic call with an unknown number of instances.
    x_in = keras.Input((None, inputs.shape[-1]), name="instances")
    mask_in = keras.Input((None,), dtype="bool", name="mask")
    symbolic = layer(x_in, mask=mask_in)
    sym_shapes = _output_shapes(symbolic)
    eager = layer(inputs, mask=mask)
    assert _output_shapes(eager) == expected_output_shape
    # Symbolic shapes: batch and M unknown (None), every other size as in the eager call.
    if isinstance(expected_output_shape, dict):
        assert set(sym_shapes) == set(expected_output_shape)
        pairs = [(sym_shapes[k], expected_output_shape[k]) for k in expected_output_shape]
    else:
        pairs = [(sym_shapes, expected_output_shape)]
    for shape_sym, shape_eager in pairs:
        assert len(shape_sym) == len(shape_eager)
        assert all(s in (None, e) for s, e in zip(shape_sym, shape_eager, strict=True)), (
            shape_sym,
            shape_eager,
        )
    for value in keras.tree.flatten(eager):
        assert np.all(np.isfinite(ops.convert_to_numpy(value)))

    # One-step fit and `.keras` round trip of a small model holding the layer.
    output = symbolic["bag"] if isinstance(symbolic, dict) else symbolic
    model = keras.Model({"instances": x_in, "mask": mask_in}, output)
    model.compile(optimizer="adam", loss="mse", jit_compile=False)
    data = {"instances": inputs, "mask": np.ones(inputs.shape[:2], bool) if mask is None else mask}
    target_shape = expected_output_shape
    if isinstance(expected_output_shape, dict):
        target_shape = expected_output_shape["bag"]
    target = np.random.default_rng(0).random(target_shape).astype("float32")
    before = [ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(data, target, batch_size=inputs.shape[0], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True)), (
        "one fit step changed no weight"
    )

    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(restored(data)),
        ops.convert_to_numpy(model(data)),
        rtol=1e-5,
        atol=1e-6,
    )
    return layer


@pytest.fixture
def run_layer_test(tmp_path):
    """`run_layer_test(layer_cls, init_kwargs, inputs, mask, expected_output_shape)`."""

    def run(layer_cls, init_kwargs, inputs, mask, expected_output_shape):
        return _run_layer_test(
            layer_cls, init_kwargs, inputs, mask, expected_output_shape, tmp_path
        )

    return run


def _gradients(fn, *args):
    """Gradients of the scalar `fn(*args)` with respect to every argument, as float64 NumPy."""
    backend = keras.backend.backend()
    args = [ops.convert_to_tensor(np.asarray(a, "float32")) for a in args]
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(args)
            value = fn(*args)
        grads = tape.gradient(value, args)
    elif backend == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(args))))(*args)
    elif backend == "torch":
        import torch

        args = [arg.detach().requires_grad_(True) for arg in args]
        grads = torch.autograd.grad(fn(*args), args)
    else:
        pytest.skip(f"no gradient helper for backend {backend}")
    return [np.asarray(ops.convert_to_numpy(g), "float64") for g in grads]


@pytest.fixture
def gradients():
    """`gradients(fn, *arrays)`: d fn / d array for a scalar `fn`, on the current backend."""
    return _gradients


@pytest.fixture
def mixed_bfloat16():
    """Runs the test under the `mixed_bfloat16` policy and restores the previous policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
