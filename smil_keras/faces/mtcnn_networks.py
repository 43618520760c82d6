"""MTCNN's three networks (Zhang et al., 2016) as Keras 3 models, with the `mtcnn` package's
weights.

The layers are those of `mtcnn` 1.0 (`mtcnn/network/{pnet,rnet,onet}.py`), written with Keras 3
core layers so that they run on every Keras backend (`mtcnn`'s own models are TensorFlow code).
The weights are the trained ones that ship inside the `mtcnn` package (`assets/weights/*.lz4`,
joblib files): they are read from the installed package without importing it, since importing
`mtcnn` imports TensorFlow.
"""

import importlib.util
import pathlib

import keras
import numpy as np


def mtcnn_weights_path(name):
    """Path of `mtcnn`'s weight file for `name` ("pnet", "rnet" or "onet")."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "MTCNN's trained weights come with the `mtcnn` package: pip install 'mtcnn>=1.0,<1.1'"
        )
    path = pathlib.Path(spec.submodule_search_locations[0]) / "assets" / "weights" / f"{name}.lz4"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MTCNN weight file missing from the `mtcnn` package")
    return path


def build_mtcnn_networks():
    """`{"pnet", "rnet", "onet"}`: MTCNN's networks as float32 Keras models, trained weights loaded.

    - PNet: images `(B, H, W, 3)` -> box offsets `(B, h, w, 4)`, face probabilities
      `(B, h, w, 2)`, one cell per 12x12 window at stride 2;
    - RNet: 24x24 patches `(N, 24, 24, 3)` -> offsets `(N, 4)`, probabilities `(N, 2)`;
    - ONet: 48x48 patches `(N, 48, 48, 3)` -> offsets `(N, 4)`, landmarks `(N, 10)` (five x's,
      then five y's, as fractions of the box), probabilities `(N, 2)`.

    Inputs are RGB pixel values (PNet takes uint8 images, RNet and ONet float32 patches); a
    first `Rescaling` layer normalises them as `mtcnn` does, `(x - 127.5) / 128`, on the device
    (so a GPU receives a quarter of the bytes). The layers are float32 whatever the global
    mixed-precision policy, so detections do not depend on it.

    Example:
    >>> networks = build_mtcnn_networks()  # doctest: +SKIP
    >>> offsets, probabilities = networks["rnet"].predict_on_batch(patches)  # doctest: +SKIP
    """
    import joblib  # installed with `mtcnn`; reads its lz4-compressed weight lists

    networks = {"pnet": _pnet(), "rnet": _rnet(), "onet": _onet()}
    for name, (model, layers) in networks.items():
        path = mtcnn_weights_path(name)
        weights = joblib.load(path)
        for layer in layers:
            count = len(layer.weights)
            layer.set_weights(weights[:count])
            weights = weights[count:]
        if weights:
            raise ValueError(f"{path}: {len(weights)} weight arrays left over for {name}")
        networks[name] = model
    return networks


def inference_function(model):
    """`model` as a function from a NumPy batch to its outputs as NumPy arrays, compiled.

    TensorFlow: one `tf.function` whose signature leaves the batch size and the image size
    open, so PNet's pyramid levels and RNet's varying candidate counts never retrace. Other
    backends: `predict_on_batch` (JAX compiles one program per input shape).
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), model.inputs[0].dtype)
        call = tf.function(lambda batch: model(batch, training=False), input_signature=[spec])
        return lambda batch: [output.numpy() for output in call(batch)]
    return lambda batch: [np.asarray(output) for output in model.predict_on_batch(batch)]


class _Builder:
    """Creates float32 layers and keeps them in creation order (the order of the weight files)."""

    def __init__(self):
        self.layers = []

    def __call__(self, layer_class, *args, **kwargs):
        if layer_class in (keras.layers.Conv2D, keras.layers.Dense):
            # The trained weights replace the kernels. Zeros cost nothing, while a random
            # initialiser is a program to compile per kernel shape on JAX (seconds each).
            kwargs.setdefault("kernel_initializer", "zeros")
        layer = layer_class(*args, dtype="float32", **kwargs)
        self.layers.append(layer)
        return layer

    def normalise(self, pixels):
        return keras.layers.Rescaling(1 / 128, offset=-127.5 / 128, dtype="float32")(pixels)

    def conv(self, x, filters, kernel, name, pool=None):
        """Convolution, PReLU and, if `pool=(size, stride, padding)`, max pooling."""
        x = self(keras.layers.Conv2D, filters, kernel, name=f"conv{name}")(x)
        x = self(keras.layers.PReLU, shared_axes=[1, 2], name=f"prelu{name}")(x)
        if pool is not None:
            size, stride, padding = pool
            x = keras.layers.MaxPooling2D(size, stride, padding=padding, dtype="float32")(x)
        return x

    def dense_head(self, x, units, name):
        """Permute (mtcnn's Caffe weight order), flatten, dense and PReLU."""
        x = keras.layers.Permute((2, 1, 3), dtype="float32")(x)
        x = keras.layers.Flatten(dtype="float32")(x)
        x = self(keras.layers.Dense, units, name=f"fc{name}")(x)
        return self(keras.layers.PReLU, name=f"prelu{name}")(x)


def _pnet():
    build = _Builder()
    images = keras.Input((None, None, 3), dtype="uint8", name="images")
    x = build.conv(build.normalise(images), 10, 3, "1", pool=(2, 2, "same"))
    x = build.conv(x, 16, 3, "2")
    x = build.conv(x, 32, 3, "3")
    offsets = build(keras.layers.Conv2D, 4, 1, name="conv4-1")(x)
    probabilities = build(keras.layers.Conv2D, 2, 1, activation="softmax", name="conv4-2")(x)
    return keras.Model(images, [offsets, probabilities], name="pnet"), build.layers


def _rnet():
    build = _Builder()
    patches = keras.Input((24, 24, 3), name="patches")
    x = build.conv(build.normalise(patches), 28, 3, "1", pool=(3, 2, "same"))
    x = build.conv(x, 48, 3, "2", pool=(3, 2, "valid"))
    x = build.conv(x, 64, 2, "3")
    x = build.dense_head(x, 128, "4")
    offsets = build(keras.layers.Dense, 4, name="fc5-1")(x)
    probabilities = build(keras.layers.Dense, 2, activation="softmax", name="fc5-2")(x)
    return keras.Model(patches, [offsets, probabilities], name="rnet"), build.layers


def _onet():
    build = _Builder()
    patches = keras.Input((48, 48, 3), name="patches")
    x = build.conv(build.normalise(patches), 32, 3, "1", pool=(3, 2, "same"))
    x = build.conv(x, 64, 3, "2", pool=(3, 2, "valid"))
    x = build.conv(x, 64, 3, "3", pool=(2, 2, "same"))
    x = build.conv(x, 128, 2, "4")
    x = build.dense_head(x, 256, "5")
    offsets = build(keras.layers.Dense, 4, name="fc6-1")(x)
    landmarks = build(keras.layers.Dense, 10, name="fc6-2")(x)
    probabilities = build(keras.layers.Dense, 2, activation="softmax", name="fc6-3")(x)
    return keras.Model(patches, [offsets, landmarks, probabilities], name="onet"), build.layers
