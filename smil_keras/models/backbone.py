"""Backbone factory: face crops in [0, 255] to one embedding per face."""

import os

import keras

from smil_keras.models.application_preprocessing import (
    ApplicationPreprocessing,
    application_constructors,
)
from smil_keras.models.tiny_backbone import TinyBackbone


def backbone_names():
    """Names `build_backbone` accepts: ``"tiny"`` and every ``keras.applications`` network.

    Example:
    >>> "xception" in backbone_names() and "resnet50" in backbone_names()
    True
    """
    return ["tiny", *sorted(application_constructors())]


def backbone_preprocessing(backbone):
    """The name of ``backbone``'s own pixel preprocessing (a `FaceView`'s ``preprocessing``).

    ``"tiny"`` for a `TinyBackbone`; the lower-case ``keras.applications`` network name for a
    backbone from `build_backbone` (``"xception"``, ``"resnet50"``: the network's
    ``preprocess_input``, `ApplicationPreprocessing`); any other model's own name.

    Example:
    >>> backbone_preprocessing(build_backbone("mobilenetv2", image_size=32))
    'mobilenetv2'
    """
    if isinstance(backbone, TinyBackbone):
        return "tiny"
    for layer in backbone.layers:
        if isinstance(layer, ApplicationPreprocessing):
            return layer.application.lower()
    return backbone.name


def build_backbone(name="xception", image_size=299, weights=None):
    """Builds a backbone mapping face crops ``(N, S, S, 3)`` in [0, 255] to ``(N, D)``.

    The network's own input preprocessing is inside the model, so callers always feed raw
    pixels. ``keras.applications`` networks are built without their classifier
    (``include_top=False``) and with global average pooling (Xception: ``D = 2048``).

    Args:
        name: ``"xception"`` (the paper's backbone), any other ``keras.applications``
            network by case-insensitive constructor name (``"resnet50"``,
            ``"efficientnetb0"``, ...), or ``"tiny"`` (`TinyBackbone`, for tests and demos).
        image_size: int, side of the square crops (Xception needs at least 71).
        weights: ``None`` (random init), ``"imagenet"`` (downloaded by Keras; not for
            ``"tiny"``), or the path of a weights file for this backbone (a
            ``.weights.h5`` written by ``backbone.save_weights``, or a Keras
            applications ``.h5`` weights file without top).

    Returns:
        A `keras.Model`.

    Example:
    >>> backbone = build_backbone("tiny", image_size=32)
    >>> backbone.output_shape
    (None, 64)
    >>> xception = build_backbone("xception", weights="imagenet")  # doctest: +SKIP
    """
    key = name.lower()
    if weights is not None and weights != "imagenet":
        weights = os.fspath(weights)
    if weights is not None and weights != "imagenet" and not os.path.isfile(weights):
        raise ValueError(
            f"weights must be None, 'imagenet' or the path of a weights file; "
            f"{weights!r} is not a file."
        )
    if key == "tiny":
        if weights == "imagenet":
            raise ValueError("The 'tiny' backbone has no 'imagenet' weights; use None or a path.")
        backbone = TinyBackbone(image_size=image_size)
        if weights is not None:
            backbone.load_weights(weights)
        return backbone
    constructors = application_constructors()
    if key not in constructors:
        raise ValueError(f"Unknown backbone {name!r}; expected one of {backbone_names()}.")
    images = keras.Input((image_size, image_size, 3), name="images")
    preprocessed = ApplicationPreprocessing(constructors[key].__name__, name="preprocess")(images)
    # ``input_tensor`` puts the preprocessing inside the application's own graph, so
    # ``weights`` (ImageNet or a file) load into exactly these layers.
    application = constructors[key](
        include_top=False,
        weights=weights,
        input_tensor=preprocessed,
        input_shape=(image_size, image_size, 3),
        pooling="avg",
    )
    # Re-wrapped so that the model takes a single tensor, not a one-element list.
    return keras.Model(images, application.output, name=application.name)
