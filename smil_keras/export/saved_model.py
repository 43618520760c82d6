"""Export of a detector as a TensorFlow SavedModel for TF Serving (`smil export`)."""

import logging
import pathlib

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)

OUTPUTS = ("fake_probability", "face_probability", "attention")


def export_saved_model(model, out_dir):
    """Writes `model` as a SavedModel with two serving signatures, and returns `out_dir`.

    - `serving_default`: `faces` uint8 `(batch, M, S, S, 3)` (M dynamic) and `mask` bool
      `(batch, M)` (True on real faces, False on padding);
    - `serving_jpeg`: `jpeg` string `(batch, M)`, JPEG-encoded face crops of any size (resized
      to `S`); an empty string marks padding.

    Both return `fake_probability` `(batch, 1)` (the video), `face_probability` `(batch, M)`
    and `attention` `(batch, M)` (the S-MIL weights of Eq. 9/10). The SavedModel needs neither
    Keras nor smil_keras to run: `tf.saved_model.load(out_dir).signatures["serving_default"]`,
    TF Serving, or `keras.layers.TFSMLayer(out_dir, call_endpoint="serving_default")`.

    Args:
        model: a detector from `build_detector` / `load_detector` (TensorFlow backend).
        out_dir: the SavedModel folder to write.

    Example:

    >>> model = load_detector("runs/smil/best.keras")  # doctest: +SKIP
    >>> export_saved_model(model, "serving/smil/1")  # doctest: +SKIP
    >>> loaded = tf.saved_model.load("serving/smil/1")  # doctest: +SKIP
    >>> serve = loaded.signatures["serving_default"]  # doctest: +SKIP
    >>> serve(faces=faces_uint8, mask=mask)["fake_probability"]  # doctest: +SKIP
    """
    from smil_keras.models import explain_model

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "SavedModel export needs the TensorFlow backend (set KERAS_BACKEND=tensorflow), "
            f"not {keras.backend.backend()!r}"
        )
    size = model.image_size
    explainer = explain_model(model)

    def explain(inputs):
        faces = tf.cast(inputs["faces"], tf.float32)
        outputs = explainer({"faces": faces, "mask": inputs["mask"]}, training=False)
        return {name: tf.cast(outputs[name], tf.float32) for name in OUTPUTS}

    def serve_jpeg(jpeg):
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
        input_signature=[{
            "faces": tf.TensorSpec((None, None, size, size, 3), tf.uint8, name="faces"),
            "mask": tf.TensorSpec((None, None), tf.bool, name="mask"),
        }],
    )
    archive.add_endpoint(
        "serving_jpeg",
        serve_jpeg,
        input_signature=[tf.TensorSpec((None, None), tf.string, name="jpeg")],
    )
    out_dir = pathlib.Path(out_dir)
    archive.write_out(str(out_dir), verbose=False)
    logger.info("wrote SavedModel to %s (signatures serving_default, serving_jpeg)", out_dir)
    return out_dir


def _decode_crop(data, size):
    """One JPEG crop -> uint8 `(size, size, 3)`; zeros for the empty string (padding)."""

    def decode():
        image = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
        resized = tf.image.resize(image, (size, size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    return tf.cond(
        tf.strings.length(data) > 0, decode, lambda: tf.zeros((size, size, 3), tf.uint8)
    )
