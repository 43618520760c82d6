"""A detector exported as a SavedModel, scored like the `.keras` detector it was exported from."""

import pathlib

import numpy as np

from smil_keras.errors import ModelFileError

OUTPUTS = ("fake_probability", "face_probability", "attention")
PERSON_OUTPUTS = (*OUTPUTS, "person_probability", "person_mask")


class ExportedDetector:
    """The `serving_default` signature of a SavedModel from `export_saved_model`, with its view.

    Stands in for `explain_model(detector)` where only the exported model is at hand (an offline
    scoring job, a serving fleet): called on `{"faces": uint8 (B, M, S, S, 3), "mask": bool
    (B, M)}`, it returns `{"fake_probability" (B, 1), "face_probability" (B, M), "attention"
    (B, M)}` as NumPy arrays, the outputs of `explain_model` on the detector that was exported;
    given `"person_ids"` int `(B, M)` too, the `serving_persons` signature's outputs, with
    `"person_probability"` and `"person_mask"` `(B, M)` (a SavedModel exported before that
    signature existed ignores the ids and gives the three outputs).
    `view` is the detector's `FaceView` (`read_view`), so faces are cut as it was trained to see
    them. `VideoPredictor` takes it in place of a detector (except for Grad-CAM pictures, which
    need the `.keras` detector's gradients). Loading needs TensorFlow, whatever the Keras
    backend; nothing is imported until then.

    Args:
        saved_model_dir: a folder written by `export_saved_model` (`smil export`).

    Attributes:
        path: the SavedModel folder.
        view: its `FaceView`.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it is not a SavedModel, or has no view (`read_view`).
        ModelFileError: (a `ValueError`) TensorFlow cannot load it, or it has no
            `serving_default` signature.

    Example:

    >>> exported = ExportedDetector("serving/smil/1")  # doctest: +SKIP
    >>> VideoPredictor(exported).predict("clip.mp4")["fake_probability"]  # doctest: +SKIP
    0.93
    """

    def __init__(self, saved_model_dir):
        import tensorflow as tf  # here: `VideoPredictor` imports this module on JAX too

        from smil_keras.export import read_view

        self.path = pathlib.Path(saved_model_dir)
        self.view = read_view(self.path)
        try:
            self._loaded = tf.saved_model.load(str(self.path))  # owns the signature's variables
        except Exception as error:  # TensorFlow raises many types for a damaged SavedModel
            raise ModelFileError(
                self.path, f"could not be loaded as a SavedModel: {error}"
            ) from error
        if "serving_default" not in self._loaded.signatures:
            raise ModelFileError(
                self.path, "has no serving_default signature: not a SavedModel from smil export"
            )
        self._serve = self._loaded.signatures["serving_default"]
        self._serve_persons = self._loaded.signatures.get("serving_persons")  # older: None

    def __call__(self, inputs, training=False):
        """The outputs for `inputs` (`training` is accepted and ignored: inference only)."""
        faces = np.asarray(inputs["faces"])
        if faces.dtype != np.uint8:  # the signature takes pixels as uint8
            faces = np.clip(np.rint(faces), 0, 255).astype(np.uint8)
        mask = np.asarray(inputs["mask"]).astype(bool)
        person_ids = inputs.get("person_ids")
        if person_ids is not None and self._serve_persons is not None:
            person_ids = np.asarray(person_ids).astype(np.int32)
            outputs = self._serve_persons(faces=faces, mask=mask, person_ids=person_ids)
            return {name: np.asarray(outputs[name]) for name in PERSON_OUTPUTS}
        outputs = self._serve(faces=faces, mask=mask)
        return {name: np.asarray(outputs[name]) for name in OUTPUTS}

    def __repr__(self):
        return f"ExportedDetector({str(self.path)!r}, view={self.view!r})"


def load_scoring_model(path):
    """The model to score videos with: a `.keras` detector (`load_detector`) or, for a folder,
    the exported SavedModel in it (`ExportedDetector`).

    Args:
        path: a `.keras` file, or a SavedModel folder from `export_saved_model`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ModelFileError: (a `ValueError`) a file that is not a usable `.keras` detector, or a
            folder that is not a usable SavedModel (`ValueError` for one without a view).

    Example:

    >>> load_scoring_model("runs/smil/best.keras").view  # doctest: +SKIP
    FaceView(image_size=299, margin=1.3, instances=8, preprocessing='xception')
    """
    from smil_keras.evaluation.load_detector import load_detector

    path = pathlib.Path(path)
    if path.is_dir():
        return ExportedDetector(path)
    return load_detector(path)
