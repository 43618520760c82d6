"""Loading a saved detector with errors that name the file and the problem."""

import pathlib

import keras


def load_detector(path):
    """Loads a `.keras` detector saved from `build_detector` (or by `smil train`).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: `path` is not a Keras model file, or holds a model that is not an S-MIL
            detector (`SMILDetector`).

    Example:

    >>> model = load_detector("runs/smil/best.keras")  # doctest: +SKIP
    >>> model.image_size  # doctest: +SKIP
    299
    """
    from smil_keras.models import SMILDetector

    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir() or path.suffix != ".keras":
        raise ValueError(f"{path} is not a Keras model file (expected a .keras file)")
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Keras raises many types for a bad archive.
        raise ValueError(f"{path} could not be loaded as a Keras model: {error}") from error
    if not isinstance(model, SMILDetector):
        raise ValueError(
            f"{path} holds a {type(model).__name__}, not an S-MIL detector (a SMILDetector "
            "from build_detector or smil train)"
        )
    return model
