"""Loading a saved detector with errors that name the file and the problem."""

import pathlib
import zipfile
import zlib

import keras

from smil_keras.errors import ModelFileError
from smil_keras.models import SMILDetector

# What every `.keras` archive holds (`keras.saving.save_model`).
_KERAS_MEMBERS = ("config.json", "model.weights.h5")


def load_detector(path):
    """Loads a `.keras` detector saved from `build_detector` (or by `smil train`).

    Detectors saved before they carried their `FaceView` load with the default view of their
    backbone (margin 1.3, 8 instances).

    Raises:
        FileNotFoundError: `path` does not exist.
        ModelFileError: (a `ValueError`) `path` is not a `.keras` file, is corrupt or
            truncated (e.g. a copy or download that stopped early), or holds a model that is
            not an S-MIL detector (`SMILDetector`).

    Example:

    >>> model = load_detector("runs/smil/best.keras")  # doctest: +SKIP
    >>> model.view  # doctest: +SKIP
    FaceView(image_size=299, margin=1.3, instances=8, preprocessing='xception')
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir() or path.suffix != ".keras":
        raise ModelFileError(path, "not a Keras model file (expected a .keras file)")
    _check_archive(path)
    try:
        model = keras.saving.load_model(path)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:  # a member cut short
        raise ModelFileError(
            path, f"could not be loaded: the file is corrupt or truncated ({error})"
        ) from error
    except Exception as error:  # Keras raises many types for a bad archive.
        raise ModelFileError(path, f"could not be loaded as a Keras model: {error}") from error
    if not isinstance(model, SMILDetector):
        raise ModelFileError(
            path,
            f"holds a {type(model).__name__}, not an S-MIL detector (a SMILDetector from "
            "build_detector or smil train)",
        )
    return model


def _check_archive(path):
    """Raises `ModelFileError` unless `path` is a complete zip archive with a Keras model's
    members (Keras itself answers "File not found" for a truncated file)."""
    size = path.stat().st_size
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            path,
            f"could not be loaded: the file is corrupt or truncated (not a complete .keras "
            f"zip archive, {size} bytes)",
        )
    with zipfile.ZipFile(path) as archive:
        missing = [name for name in _KERAS_MEMBERS if name not in archive.namelist()]
    if missing:
        raise ModelFileError(
            path,
            f"could not be loaded: a zip archive without {', '.join(missing)}, not a "
            "Keras model file",
        )
