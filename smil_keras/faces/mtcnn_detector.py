"""MTCNN (Zhang et al., 2016) behind the `FaceDetector` interface, as the paper crops faces."""

import logging

import cv2
import keras
import numpy as np

from smil_keras.faces.face import Face
from smil_keras.faces.face_detector import FaceDetector

logger = logging.getLogger(__name__)

# MTCNN's own default: the face size its scale pyramid starts from. We always run it with this value.
_MTCNN_MIN_FACE = 20
# The order of the five landmarks in `mtcnn`'s output rows.
_LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MTCNNDetector(FaceDetector):
    """Face detector using the `mtcnn` package (weights ship with it; works offline).

    Speed: each frame is resized once (OpenCV `INTER_AREA` on `uint8`) to the smallest size at
    which the faces we want are still found, the frames of one size go through MTCNN's three
    stages as one float32 batch, and the three networks run as traced `tf.function` graphs
    rather than eagerly layer by layer (same outputs, 30-40% less time in them). Boxes and
    landmarks are mapped back to full-resolution pixels. In `extract_video_faces` (20 frames,
    2 cores shared with other jobs) this extracts about 3-4.5x (480p, no downscaling), 5x (720p)
    and 6-7x (1080p) faster than decoding every frame and running full-resolution MTCNN frame by
    frame, with the same faces but for scores near `min_confidence` (`benchmarks/extract_speed.py`).

    The detection scale is `min(20 / min_face_size, detect_max_side / longest_side)`. The smallest
    face found (full-resolution pixels) is therefore `max(min_face_size, 20 * longest_side /
    detect_max_side)`: with the default `detect_max_side=640`, 60 px on a 1080p frame, 40 px on
    720p, 20 px on 480p. DeepFake datasets' faces are larger than that (FF++ and DFDC faces are
    70-300 px), and smaller ones make poor 299-px crops anyway; raise `detect_max_side` (or set
    it to `None`) for videos with small faces, at a cost in speed.

    Why resize instead of passing `min_face_size` to `mtcnn`: `mtcnn` 1.0.0's scale pyramid counts
    its levels from the image size alone, as if `min_face_size` were always 20. With a larger value
    its last levels fall below PNet's 12-pixel input; the TensorFlow error that follows is caught
    inside `mtcnn` as "no face", so every face is silently lost (any value above ~24 returns
    nothing on the fixture photos). With a smaller value the pyramid stops before the largest
    faces. Its pyramid starts by resizing the image by `12 / min_face_size`, so resizing the image
    by `20 / min_face_size` ourselves and running it with its default builds the pyramid of the
    original MTCNN (first level `12 / min_face_size`, last level about 12 px) for any
    `min_face_size`.

    Args:
        min_confidence: keep faces with an ONet score at least this (also passed to ONet when
            below its default 0.8).
        max_faces_per_frame: keep at most this many faces per frame, the most confident; `None`
            keeps all.
        detect_max_side: cap on the longest side of the image given to MTCNN; `None` for no cap.
        min_face_size: smallest face to look for, in full-resolution pixels.
        batch_size: frames per MTCNN call (20: one call per video at the paper's 20 frames).
        device: TensorFlow device to run on, e.g. `"CPU:0"` or `"GPU:0"`; `None` (default)
            lets TensorFlow place it (on the GPU when there is one).

    Raises:
        RuntimeError: Keras runs on another backend than TensorFlow (`mtcnn` 1.0 is TensorFlow
            code and fails on JAX arrays); extract faces in a process with
            `KERAS_BACKEND=tensorflow`.

    Example:
    >>> detector = MTCNNDetector(min_confidence=0.95)  # doctest: +SKIP
    >>> faces = detector.detect([frame])[0]  # doctest: +SKIP
    >>> faces[0].box, faces[0].landmarks["nose"]  # doctest: +SKIP
    ((212, 98, 171, 214), (301.2, 215.7))
    """

    def __init__(
        self,
        min_confidence=0.9,
        max_faces_per_frame=None,
        detect_max_side=640,
        min_face_size=20,
        batch_size=20,
        device=None,
    ):
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(
                "MTCNNDetector needs the TensorFlow Keras backend (mtcnn 1.0 is TensorFlow code), "
                f"but KERAS_BACKEND is {keras.backend.backend()!r}; run face extraction and "
                "`smil predict` / `smil extract` with KERAS_BACKEND=tensorflow"
            )
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if min_face_size <= 0:
            raise ValueError(f"min_face_size must be > 0, got {min_face_size}")
        if detect_max_side is not None and detect_max_side < 24:
            raise ValueError(f"detect_max_side must be >= 24 or None, got {detect_max_side}")
        if max_faces_per_frame is not None and max_faces_per_frame < 1:
            raise ValueError(f"max_faces_per_frame must be >= 1 or None, got {max_faces_per_frame}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.min_confidence = min_confidence
        self.max_faces_per_frame = max_faces_per_frame
        self.detect_max_side = detect_max_side
        self.min_face_size = min_face_size
        self.batch_size = batch_size
        self.device = device

        from mtcnn import MTCNN  # Imported here: loading it builds three TensorFlow models.

        self._mtcnn = MTCNN(device=device)
        _run_networks_as_graphs(self._mtcnn)

    def get_config(self):
        return {
            "min_confidence": self.min_confidence,
            "max_faces_per_frame": self.max_faces_per_frame,
            "detect_max_side": self.detect_max_side,
            "min_face_size": self.min_face_size,
            "batch_size": self.batch_size,
            "device": self.device,
        }

    def detection_scale(self, frame_shape):
        """The factor each frame of this shape is resized by before MTCNN runs on it."""
        scale = _MTCNN_MIN_FACE / self.min_face_size
        if self.detect_max_side is not None:
            scale = min(scale, self.detect_max_side / max(frame_shape[:2]))
        return scale

    def detect(self, frames):
        results = [[] for _ in frames]
        # mtcnn pads a batch of mixed sizes to the largest and its offset fix-up then mixes up
        # images without faces, so only frames of the same size share a batch (one video's do).
        by_shape = {}
        for i, frame in enumerate(frames):
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ValueError(
                    f"frame {i}: expected uint8 (H, W, 3), got {frame.dtype} {frame.shape}"
                )
            by_shape.setdefault(frame.shape, []).append(i)
        for shape, positions in by_shape.items():
            scale = self.detection_scale(shape)
            for start in range(0, len(positions), self.batch_size):
                batch = positions[start : start + self.batch_size]
                images = [_resize(frames[i], scale) for i in batch]
                for i, faces in zip(batch, self._detect_batch(images, scale, shape)):
                    results[i] = faces
                    for face in faces:
                        face.frame_index = i
        return results

    def _detect_batch(self, images, scale, shape):
        import tensorflow as tf

        height, width = images[0].shape[:2]
        if min(height, width) < 2 * 12:
            # Too small for even one PNet window at MTCNN's first pyramid level (12 / 20 scale).
            return [[] for _ in images]
        # The stages of `MTCNN.detect_faces`, fed one float32 tensor normalised as mtcnn does.
        # `detect_faces` itself makes a float64 NumPy batch, which every pyramid level converts to
        # a tensor again: 15-25% of its CPU time on a 640x480 batch, for the same result.
        rows = None
        try:
            with tf.device(self.device):
                batch = (tf.cast(tf.constant(np.stack(images)), tf.float32) - 127.5) / 128.0
                for stage in self._mtcnn.stages:
                    rows = stage(
                        bboxes_batch=rows,
                        images_normalized=batch,
                        images_oshapes=np.asarray([image.shape for image in images]),
                        threshold_onet=min(0.8, self.min_confidence),
                    )
        except tf.errors.InvalidArgumentError:  # how mtcnn's stages report an empty proposal set
            rows = None
        # Rows: image, x1, y1, x2, y2, confidence, 5 landmark x's, 5 landmark y's.
        rows = np.empty((0, 16)) if rows is None else np.asarray(rows).reshape(-1, 16)
        per_image = [[] for _ in images]
        for row in rows:
            confidence = float(row[5])
            if confidence < self.min_confidence:
                continue
            per_image[int(row[0])].append(_to_face(row, scale, shape, confidence))
        for faces in per_image:
            faces.sort(key=lambda face: -face.confidence)
            if self.max_faces_per_frame is not None:
                del faces[self.max_faces_per_frame :]
        return per_image


class _GraphNetwork:
    """Calls one of MTCNN's Keras networks through a `tf.function` traced once.

    `mtcnn` calls PNet, RNet and ONet eagerly, so each of their ~10 layers is a separate Keras call
    dispatching TensorFlow ops from Python. Traced into one graph (the signature leaves the batch
    size, and PNet's image size, unknown, so varying frame sizes and proposal counts never
    retrace), the same weights give the same outputs (to float rounding) 30-40% faster:
    Grappler fuses convolution, bias and activation, and the Python per layer is gone.
    """

    def __init__(self, model, input_shape):
        import tensorflow as tf

        self.model = model
        self._call = tf.function(
            lambda images: model(images, training=False),
            input_signature=[tf.TensorSpec(input_shape, tf.float32)],
        )

    def __call__(self, images):
        return self._call(images)


def _run_networks_as_graphs(mtcnn):
    """Swaps the networks of `mtcnn`'s three stages for `_GraphNetwork`s (mtcnn 1.0 layout)."""
    from mtcnn.stages.stage_onet import StageONet
    from mtcnn.stages.stage_pnet import StagePNet
    from mtcnn.stages.stage_rnet import StageRNet

    input_shapes = {
        StagePNet: (None, None, None, 3),  # any image size: the pyramid levels
        StageRNet: (None, 24, 24, 3),  # proposals cut to 24x24
        StageONet: (None, 48, 48, 3),
    }
    for stage in mtcnn.stages:
        model = getattr(stage, "_model", None)  # `StageBase.model` is read-only; the stages call `_model`
        if type(stage) in input_shapes and isinstance(model, keras.Model):
            stage._model = _GraphNetwork(model, input_shapes[type(stage)])
        else:  # another mtcnn layout: keep its eager networks (correct, only slower)
            logger.warning("mtcnn stage %r not recognised; running its network eagerly", stage)


def _resize(frame, scale):
    if scale == 1.0:
        return frame
    height, width = frame.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(frame, size, interpolation=interpolation)


def _to_face(row, scale, shape, confidence):
    """One `mtcnn` output row (detection-image pixels) -> `Face` in full-resolution pixels."""
    height, width = shape[:2]
    x1, y1, x2, y2 = (float(v) / scale for v in row[1:5])
    x = min(max(int(round(x1)), 0), width - 1)
    y = min(max(int(round(y1)), 0), height - 1)
    w = max(1, min(int(round(x2)), width) - x)
    h = max(1, min(int(round(y2)), height) - y)
    landmarks = {
        name: (float(row[6 + k]) / scale, float(row[11 + k]) / scale) for k, name in enumerate(_LANDMARKS)
    }
    return Face(frame_index=0, box=(x, y, w, h), confidence=confidence, landmarks=landmarks)
