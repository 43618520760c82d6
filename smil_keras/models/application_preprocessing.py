"""The ``preprocess_input`` of a ``keras.applications`` network as a serialisable layer."""

import importlib

import keras


def application_constructors():
    """All ``keras.applications`` model constructors, by lower-case name.

    Example:
    >>> application_constructors()["xception"]
    <function Xception at ...>
    """
    return {
        name.lower(): getattr(keras.applications, name)
        for name in dir(keras.applications)
        if name[0].isupper()
    }


@keras.saving.register_keras_serializable(package="smil_keras")
class ApplicationPreprocessing(keras.layers.Layer):
    """Applies a ``keras.applications`` network's own ``preprocess_input`` to raw pixels.

    The function is looked up from the network's module (``keras.applications.xception``
    for ``Xception``: scale [0, 255] to [-1, 1]; ``resnet``: BGR and ImageNet mean
    subtraction; ...), so any application works and the layer saves to ``.keras`` by name.

    Args:
        application: str, the network's constructor name in ``keras.applications``
            (case-insensitive), e.g. ``"Xception"``, ``"ResNet50"``.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor ``(N, H, W, 3)``, RGB pixels in [0, 255].

    Returns:
        Tensor of the same shape, as the network expects it.

    Example:
    >>> import numpy as np
    >>> layer = ApplicationPreprocessing("Xception")
    >>> keras.ops.convert_to_numpy(layer(np.full((1, 2, 2, 3), 255.0, "float32")))[0, 0, 0]
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, application, **kwargs):
        super().__init__(**kwargs)
        constructors = application_constructors()
        if application.lower() not in constructors:
            raise ValueError(
                f"Unknown keras.applications network {application!r}; "
                f"expected one of {sorted(constructors)}."
            )
        self.application = application
        module = importlib.import_module(constructors[application.lower()].__module__)
        self._preprocess_input = module.preprocess_input

    def call(self, inputs):
        return self._preprocess_input(keras.ops.cast(inputs, self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["application"] = self.application
        return config
