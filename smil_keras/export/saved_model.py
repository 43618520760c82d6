"""Export of a detector as a TensorFlow SavedModel for TF Serving (`smil export`)."""

import json
import logging
import os
import pathlib
import shutil

import keras
import tensorflow as tf

from smil_keras.errors import ModelFileError
from smil_keras.faces.face_view import FaceView
from smil_keras.models import explain_model

logger = logging.getLogger(__name__)

OUTPUTS = ("fake_probability", "face_probability", "attention")
PERSON_OUTPUTS = (*OUTPUTS, "person_probability", "person_mask")

# The view's place in a SavedModel folder: TF Serving's folder for extra files.
VIEW_FILE = pathlib.Path("assets.extra") / "view.json"

# Entries of a shape printed by a failed input check (any rank a client may send).
_SHAPE_SUMMARY = 8


def export_saved_model(model, out_dir, overwrite=False):
    """Writes `model` as a SavedModel with three serving signatures, and returns `out_dir`.

    - `serving_default`: `faces` uint8 `(batch, M, S, S, 3)` (M dynamic) and `mask` bool
      `(batch, M)` (True on real faces, False on padding);
    - `serving_jpeg`: `jpeg` string `(batch, M)`, JPEG-encoded face crops of any size (resized
      to `S`); an empty string marks padding;
    - `serving_persons`: `faces` and `mask` as `serving_default`, and `person_ids` int32
      `(batch, M)`, the person each face shows (per-bag indices `0 .. P - 1`, `P <= M`; -1
      on padding).

    All return `fake_probability` `(batch, 1)` (the video), `face_probability` `(batch, M)`
    and `attention` `(batch, M)` (the S-MIL weights of Eq. 9/10); `serving_persons` also
    `person_probability` float32 `(batch, M)` (column `p`: person `p`'s fake probability, the
    detector's head on that person's faces alone; 0 for an id nobody has) and `person_mask`
    bool `(batch, M)` (True for the people each bag shows), and its video outputs are the
    detector's given the person ids (S-MIL-T convolves within each person only; see
    `explain_model`). The SavedModel needs neither Keras nor smil_keras to run:
    `tf.saved_model.load(out_dir).signatures["serving_default"]`, TF Serving, or
    `keras.layers.TFSMLayer(out_dir, call_endpoint="serving_default")`.

    Inputs are checked inside the signatures, so a client that sends the wrong tensors (TF
    Serving does not check shapes against the signature) gets an `InvalidArgumentError`
    saying what was expected: `faces` of another rank, image size or channel count, a
    `mask` (or `person_ids`) whose `(batch, M)` differs from the faces', or a person id
    `>= M`.

    The SavedModel carries the detector's `FaceView` (image size, margin, instances,
    preprocessing), so that a client cuts faces the way the model was trained:
    `read_view(out_dir)`, read from `assets.extra/view.json` (TF Serving's folder for extra
    files; plain JSON, no TensorFlow needed), and the same JSON as the string variable
    `tf.saved_model.load(out_dir).view[0]`.

    The folder is written next to `out_dir` (a hidden `.NAME.partial-PID` folder, which TF
    Serving's version scan ignores) and moved into place at the end, so an export that fails
    leaves no partial SavedModel.

    Args:
        model: a `SMILDetector` from `build_detector` / `load_detector` (TensorFlow backend).
        out_dir: the SavedModel folder to write: new or empty, or (with `overwrite`) a
            SavedModel folder to replace.
        overwrite: bool, replace the SavedModel already in `out_dir`. A folder holding
            anything other than a SavedModel is never replaced.

    Raises:
        FileExistsError: `out_dir` is a file, or a non-empty folder (without `overwrite`, or
            one that is not a SavedModel).
        RuntimeError: the Keras backend is not TensorFlow.
        TypeError: `model` is not a `SMILDetector`.

    Example:

    >>> model = load_detector("runs/smil/best.keras")  # doctest: +SKIP
    >>> export_saved_model(model, "serving/smil/1")  # doctest: +SKIP
    >>> read_view("serving/smil/1")  # doctest: +SKIP
    FaceView(image_size=299, margin=1.3, instances=8, preprocessing='xception')
    >>> loaded = tf.saved_model.load("serving/smil/1")  # doctest: +SKIP
    >>> serve = loaded.signatures["serving_default"]  # doctest: +SKIP
    >>> serve(faces=faces_uint8, mask=mask)["fake_probability"]  # doctest: +SKIP
    >>> persons = loaded.signatures["serving_persons"]  # doctest: +SKIP
    >>> people = persons(faces=faces_uint8, mask=mask, person_ids=ids)  # doctest: +SKIP
    >>> people["person_probability"]  # column p: person p  # doctest: +SKIP
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "SavedModel export needs the TensorFlow backend (set KERAS_BACKEND=tensorflow), "
            f"not {keras.backend.backend()!r}"
        )
    explainer = explain_model(model)  # a TypeError for anything but a detector
    out_dir = pathlib.Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    view = model.view
    size = view.image_size

    # Every op of a signature runs after its input checks (control dependencies), so a wrong
    # tensor is reported by the check, not by an op deep in the model.
    def explain(inputs):
        faces, mask = inputs["faces"], inputs["mask"]
        with tf.control_dependencies(_input_checks(faces, mask, size)):
            outputs = explainer({"faces": tf.cast(faces, tf.float32), "mask": mask}, training=False)
            return {name: tf.cast(outputs[name], tf.float32) for name in OUTPUTS}

    def explain_persons(inputs):
        faces, mask, person_ids = inputs["faces"], inputs["mask"], inputs["person_ids"]
        checks = [*_input_checks(faces, mask, size), *_person_ids_checks(faces, person_ids)]
        with tf.control_dependencies(checks):
            outputs = explainer(
                {"faces": tf.cast(faces, tf.float32), "mask": mask, "person_ids": person_ids},
                training=False,
            )
            return {
                name: tf.cast(outputs[name], tf.bool if name == "person_mask" else tf.float32)
                for name in PERSON_OUTPUTS
            }

    def serve_jpeg(jpeg):
        with tf.control_dependencies([_jpeg_check(jpeg)]):
            mask = tf.strings.length(jpeg) > 0
            flat = tf.reshape(jpeg, [-1])
            decoded = tf.map_fn(
                lambda data: _decode_crop(data, size),
                flat,
                fn_output_signature=tf.TensorSpec((size, size, 3), tf.uint8),
            )
            faces = tf.reshape(decoded, tf.concat([tf.shape(jpeg), [size, size, 3]], axis=0))
            return explain({"faces": faces, "mask": mask})

    archive = keras.export.ExportArchive()
    archive.track(explainer)
    archive.add_endpoint(
        "serving_default",
        explain,
        input_signature=[
            {
                "faces": tf.TensorSpec((None, None, size, size, 3), tf.uint8, name="faces"),
                "mask": tf.TensorSpec((None, None), tf.bool, name="mask"),
            }
        ],
    )
    archive.add_endpoint(
        "serving_jpeg",
        serve_jpeg,
        input_signature=[tf.TensorSpec((None, None), tf.string, name="jpeg")],
    )
    archive.add_endpoint(
        "serving_persons",
        explain_persons,
        input_signature=[
            {
                "faces": tf.TensorSpec((None, None, size, size, 3), tf.uint8, name="faces"),
                "mask": tf.TensorSpec((None, None), tf.bool, name="mask"),
                "person_ids": tf.TensorSpec((None, None), tf.int32, name="person_ids"),
            }
        ],
    )
    view_json = json.dumps(view.get_config(), sort_keys=True)
    archive.add_variable_collection(
        "view", [tf.Variable(view_json, trainable=False, dtype=tf.string, name="view")]
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        archive.write_out(str(partial), verbose=False)
        (partial / VIEW_FILE).parent.mkdir(exist_ok=True)
        (partial / VIEW_FILE).write_text(view_json + "\n")
        if out_dir.exists():  # an empty folder, or the SavedModel to overwrite
            shutil.rmtree(out_dir)
        partial.rename(out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    logger.info(
        "wrote SavedModel to %s (signatures serving_default, serving_jpeg, serving_persons)",
        out_dir,
    )
    return out_dir


def read_view(saved_model_dir):
    """The `FaceView` of a SavedModel written by `export_saved_model`, read from its
    `assets.extra/view.json` alone (the SavedModel is not loaded).

    Args:
        saved_model_dir: the SavedModel folder.

    Returns:
        A `FaceView`: the face size, margin, instances and preprocessing the model was trained
        with; cut faces with its `margin` and `image_size` (`crop_face`) before serving.

    Raises:
        FileNotFoundError: the folder does not exist.
        ModelFileError: it is not a SavedModel, its view is not valid, or it has no view
            (exported before SavedModels carried their view: no defaults are assumed, since
            the detector may have been trained with another margin; the message says how to
            re-export it, or which file to write by hand).

    Example:

    >>> view = read_view("serving/smil/1")  # doctest: +SKIP
    >>> crops = [crop_face(frame, box, view.margin, view.image_size) for ...]  # doctest: +SKIP
    """
    folder = pathlib.Path(saved_model_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"SavedModel folder not found: {folder}")
    if not (folder / "saved_model.pb").is_file():
        raise ModelFileError(folder, "not a SavedModel folder (no saved_model.pb)")
    path = folder / VIEW_FILE
    if not path.is_file():
        example = json.dumps(FaceView().get_config(), sort_keys=True)
        raise ModelFileError(
            folder,
            f"no {VIEW_FILE}: exported before SavedModels carried the view their detector was "
            "trained with, which clients need to cut faces; export the .keras detector again "
            f"(smil export --model DETECTOR.keras --out {folder} --overwrite), or write "
            f"{VIEW_FILE} with the training values yourself, e.g. {example}",
        )
    try:
        return FaceView.from_config(json.loads(path.read_text()))
    except (ValueError, TypeError) as error:
        raise ModelFileError(path, f"not a valid view: {error}") from error


def _check_out_dir(out_dir, overwrite):
    """Refuses an `out_dir` that is a file, or a non-empty folder it may not replace."""
    if out_dir.is_file():
        raise FileExistsError(f"{out_dir} is a file; the SavedModel needs a folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not (out_dir / "saved_model.pb").is_file():
        raise FileExistsError(
            f"{out_dir} is not empty and holds no SavedModel; choose a new or empty folder "
            "(overwrite replaces only a SavedModel)"
        )
    if not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds a SavedModel; pass overwrite=True (smil export "
            "--overwrite) to replace it, or choose a new folder (TF Serving: a new version)"
        )


def _input_checks(faces, mask, size):
    """Assertions that ``faces`` is ``(batch, M, size, size, 3)`` and ``mask`` ``(batch, M)``
    like it; each fails with an `InvalidArgumentError` naming the expected and given shapes."""
    faces_shape = tf.shape(faces)
    mask_shape = tf.shape(mask)
    faces_ok = _shape_is(faces_shape, [None, None, size, size, 3])
    mask_ok = tf.logical_and(
        _shape_is(mask_shape, [None, None]),
        tf.reduce_all(tf.equal(_padded(mask_shape, 2), _padded(faces_shape, 2))),
    )
    return [
        tf.debugging.Assert(
            faces_ok,
            [f"faces must be uint8 (batch, M, {size}, {size}, 3), got shape", faces_shape],
            summarize=_SHAPE_SUMMARY,
        ),
        tf.debugging.Assert(
            tf.logical_or(tf.logical_not(faces_ok), mask_ok),
            [
                "mask must be bool (batch, M) like the faces' first two dimensions",
                faces_shape[:2],
                "got shape",
                mask_shape,
            ],
            summarize=_SHAPE_SUMMARY,
        ),
    ]


def _person_ids_checks(faces, person_ids):
    """Assertions that ``person_ids`` is ``(batch, M)`` like ``faces`` and holds ids below
    ``M``; each fails with an `InvalidArgumentError` saying what is expected."""
    faces_shape = tf.shape(faces)
    ids_shape = tf.shape(person_ids)
    shape_ok = tf.logical_and(
        _shape_is(ids_shape, [None, None]),
        tf.reduce_all(tf.equal(_padded(ids_shape, 2), _padded(faces_shape, 2))),
    )
    below_m = tf.reduce_all(tf.less(person_ids, tf.cast(faces_shape[1], person_ids.dtype)))
    return [
        tf.debugging.Assert(
            shape_ok,
            [
                "person_ids must be int32 (batch, M) like the faces' first two dimensions",
                faces_shape[:2],
                "got shape",
                ids_shape,
            ],
            summarize=_SHAPE_SUMMARY,
        ),
        tf.debugging.Assert(
            tf.logical_or(tf.logical_not(shape_ok), below_m),
            [
                "person_ids must be per-bag person indices 0 .. M - 1 (-1 on padding); M =",
                faces_shape[1],
                "largest id",
                tf.reduce_max(person_ids),
            ],
        ),
    ]


def _jpeg_check(jpeg):
    """An assertion that ``jpeg`` is ``(batch, M)``."""
    shape = tf.shape(jpeg)
    return tf.debugging.Assert(
        _shape_is(shape, [None, None]),
        [
            'jpeg must be string (batch, M): one JPEG crop per face, "" for padding; got shape',
            shape,
        ],
        summarize=_SHAPE_SUMMARY,
    )


def _padded(shape, rank):
    """The first ``rank`` entries of ``shape``, padded with -1 (never a dimension)."""
    return tf.concat([shape, tf.fill([rank], -1)], axis=0)[:rank]


def _shape_is(shape, expected):
    """Whether the run-time ``shape`` is ``expected`` (None: any size).

    The rank is read from ``shape`` padded with -1, not with `tf.rank` or `tf.size`: those
    are folded to the signature's static rank when the graph is optimised, whatever the
    client sends.
    """
    padded = _padded(shape, len(expected) + 1)
    checks = [tf.equal(padded[len(expected)], -1)]  # no extra dimension
    for index, size in enumerate(expected):
        checks.append(
            tf.greater_equal(padded[index], 0) if size is None else tf.equal(padded[index], size)
        )
    return tf.reduce_all(tf.stack(checks))


def _decode_crop(data, size):
    """One JPEG crop -> uint8 `(size, size, 3)`; zeros for the empty string (padding)."""

    def decode():
        image = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
        resized = tf.image.resize(image, (size, size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    return tf.cond(tf.strings.length(data) > 0, decode, lambda: tf.zeros((size, size, 3), tf.uint8))
