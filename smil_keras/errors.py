"""Every error class of smil-keras, in one place.

Each names the thing at fault (a file, a config key, a tensor) and what is wrong with it, so a
command line can print it as one line without a traceback. All are `ValueError`s (bad input),
except `LockedError` (an `OSError`: another process holds a folder). The subpackages re-export
the ones their users catch (`smil_keras.video.VideoReadError`, ...).

Example:

>>> from smil_keras.errors import VideoReadError
>>> str(VideoReadError("clip.mp4", "file not found"))
'cannot read video clip.mp4: file not found'
"""


class VideoReadError(ValueError):
    """A video file that cannot be decoded: missing, not a video, corrupt, or without frames.

    Args:
        path: the file that failed.
        reason: what is wrong with it, in words.
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")

    def __reduce__(self):
        # Keeps the error picklable across worker processes (multiprocessing re-raises it).
        return (type(self), (self.path, self.reason))


class NoFacesError(ValueError):
    """No face was found in any sampled frame of a video.

    Callers decide whether that is an error (`smil extract` records it as `no_faces` and goes on).

    Args:
        path: the video.
        frames_searched: how many frames were searched (0 if unknown).

    Example:
    >>> str(NoFacesError("clip.mp4", 20))
    'no face found in clip.mp4 (20 frames searched)'
    """

    def __init__(self, path, frames_searched=0):
        self.path = str(path)
        self.frames_searched = frames_searched
        super().__init__(f"no face found in {self.path} ({frames_searched} frames searched)")

    def __reduce__(self):
        return (type(self), (self.path, self.frames_searched))


class BagFormatError(ValueError):
    """A TFRecord shard that is corrupt, or a bag record that breaks the schema (`bags.schema`).

    Args:
        path: the shard file at fault.
        reason: what is wrong with it, in words.

    Example:

    >>> str(BagFormatError("bags-00000.tfrecord", "record 3: missing field 'label'"))
    "bad bag shard bags-00000.tfrecord: record 3: missing field 'label'"
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"bad bag shard {self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class NoBagsError(ValueError):
    """Bag shards that hold no bag at all (empty files): a dataset of them would have no batch.

    Args:
        paths: the shard files, all empty.

    Example:

    >>> str(NoBagsError(["bags/a.tfrecord", "bags/b.tfrecord"]))
    'no bag in the shards bags/a.tfrecord, bags/b.tfrecord: every file is empty'
    """

    def __init__(self, paths):
        self.paths = [str(path) for path in paths]
        super().__init__(f"no bag in the shards {', '.join(self.paths)}: every file is empty")

    def __reduce__(self):
        return (type(self), (self.paths,))


class DatasetFormatError(ValueError):
    """A dataset file or folder is missing, malformed or laid out in an unknown way.

    Args:
        path: the file or folder at fault.
        reason: what is wrong with it.

    Example:

    >>> str(DatasetFormatError("splits/test.json", "expected a list of [id, id] pairs"))
    'splits/test.json: expected a list of [id, id] pairs'
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class ConfigError(ValueError):
    """A configuration value of the wrong type or out of range, or a run folder that holds
    another run.

    Args:
        key: the config key (or keys) at fault.
        reason: what is wrong, naming the value and what was expected.

    Example:

    >>> str(ConfigError("epochs", "expected an integer >= 1, got 'ten' (str)"))
    "config key 'epochs': expected an integer >= 1, got 'ten' (str)"
    """

    def __init__(self, key, reason):
        self.key = key
        self.reason = reason
        super().__init__(f"config key {key!r}: {reason}")

    def __reduce__(self):
        return (type(self), (self.key, self.reason))


class ViewMismatchError(ValueError):
    """An explicit argument that contradicts the view a detector was trained with
    (`smil_keras.faces.FaceView`).

    Args:
        field: the view's field (`"margin"`, `"image_size"`, ...).
        model_value: what the detector was trained with.
        given_value: what the caller asked for.

    Example:

    >>> print(ViewMismatchError("margin", 1.3, 1.5))  # doctest: +NORMALIZE_WHITESPACE
    the detector was trained with margin=1.3, but margin=1.5 was asked for; drop the argument
    to use the detector's view
    """

    def __init__(self, field, model_value, given_value):
        self.field = field
        self.model_value = model_value
        self.given_value = given_value
        super().__init__(
            f"the detector was trained with {field}={model_value!r}, but {field}={given_value!r} "
            "was asked for; drop the argument to use the detector's view"
        )

    def __reduce__(self):
        return (type(self), (self.field, self.model_value, self.given_value))


class MaskError(ValueError):
    """A mask that does not fit a layer's inputs: not `(batch, M)` like them, or not 0/1.

    Args:
        layer: the name of the layer given the mask.
        reason: what is wrong, naming the expected and the actual shape or values.

    Example:

    >>> print(MaskError("pooling", "expected shape (2, 5), got (5, 2)"))
    bad mask for layer 'pooling': expected shape (2, 5), got (5, 2)
    """

    def __init__(self, layer, reason):
        self.layer = layer
        self.reason = reason
        super().__init__(f"bad mask for layer {layer!r}: {reason}")

    def __reduce__(self):
        return (type(self), (self.layer, self.reason))


class ModelFileError(ValueError):
    """A saved model file that cannot be used: corrupt or truncated, not a Keras model, or not
    an S-MIL detector (a missing file is a `FileNotFoundError`).

    Args:
        path: the model file.
        reason: what is wrong with it.

    Example:

    >>> print(ModelFileError("runs/smil/best.keras", "corrupt or truncated"))
    bad model file runs/smil/best.keras: corrupt or truncated
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"bad model file {self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class LockedError(OSError):
    """An output folder that another process is writing (its lock file is held).

    Args:
        path: the folder.
        reason: who holds it (process id, host, since when), or why the lock is stale.
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path} is locked: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))
