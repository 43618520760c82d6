"""Frame-level scoring: the detector applied to a bag of one face."""

import keras
from keras import ops


def frame_model(detector):
    """A model scoring single faces ``(N, S, S, 3)`` -> ``(N, 1)`` fake probability.

    Each face is fed to ``detector`` as a bag of one face: the paper's frame-level
    evaluation (sec. 4.4) of a video-level model. For the per-face poolings (``"s-mil"``,
    ``"mil"``, ``"att-mil"``, ``"xn-avg"``, ``"xn-max"``) this is the face's own instance
    score ``p_j``, the same number it gets inside any bag; ``"s-mil-t"`` and ``"lstm"``
    see the face without its temporal neighbours.

    Args:
        detector: a video-level detector (e.g. a `SMILDetector`) taking
            ``{"faces": (B, M, S, S, 3), "mask": (B, M)}``.

    Returns:
        A `keras.Model` sharing ``detector``'s weights.

    Example:
    >>> import numpy as np
    >>> from smil_keras.models import build_detector
    >>> detector = build_detector("s-mil", backbone="tiny", image_size=32, filters=8)
    >>> crops = np.zeros((5, 32, 32, 3), "float32")  # (N, S, S, 3) pixels in [0, 255]
    >>> frame_model(detector).predict(crops, verbose=0).shape  # one probability per face
    (5, 1)
    """
    image_size = detector.input["faces"].shape[2]
    faces = keras.Input((image_size, image_size, 3), name="faces")
    mask = ops.ones_like(faces[:, :1, 0, 0], dtype="bool")  # (N, 1)
    probability = detector({"faces": ops.expand_dims(faces, 1), "mask": mask})
    return keras.Model(faces, probability, name=f"{detector.name}_frames")
