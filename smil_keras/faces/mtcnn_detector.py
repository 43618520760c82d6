"""MTCNN (Zhang et al., 2016) behind the `FaceDetector` interface, as the paper crops faces."""

import contextlib

import cv2
import keras
import numpy as np

from smil_keras.faces.face import Face
from smil_keras.faces.face_detector import FaceDetector
from smil_keras.faces.mtcnn_cascade import MIN_FACE, ONET_THRESHOLD, run_cascade
from smil_keras.faces.mtcnn_networks import build_mtcnn_networks, inference_function

# The order of the five landmarks in `mtcnn`'s output rows.
_LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MTCNNDetector(FaceDetector):
    """MTCNN face detector on any Keras backend, with the trained weights of the `mtcnn` package.

    MTCNN's three networks are Keras 3 models (`build_mtcnn_networks`) loaded with the weights
    that ship inside `mtcnn` 1.0 (offline), and its cascade (`mtcnn_cascade.run_cascade`:
    image pyramid, PNet proposals, RNet and ONet refinement, NMS) is `mtcnn`'s, in NumPy and
    OpenCV. It finds the faces `mtcnn.MTCNN().detect_faces` finds, with scores within about
    0.01 and boxes within a few percent of their side (`tests/faces/test_mtcnn_cascade.py`),
    and it runs on TensorFlow, JAX (GPU included) and PyTorch, where `mtcnn`'s own code needs
    TensorFlow.

    Speed: each frame is resized once (OpenCV `INTER_AREA` on `uint8`) to the smallest size at
    which the faces we want are still found, and the frames of one size go through the cascade
    as one batch; the networks are compiled (one `tf.function` on TensorFlow, XLA on JAX).
    Boxes and landmarks are mapped back to full-resolution pixels. `benchmarks/extract_speed.py`
    measures `extract_video_faces` against decoding every frame and running `mtcnn` at full
    resolution frame by frame (about 6-8x on 2 CPU cores for 720p and 1080p, finding the
    same faces with the `second_look` below).

    The detection scale is `min(20 / min_face_size, detect_max_side / longest_side)`. The smallest
    face found (full-resolution pixels) is therefore `max(min_face_size, 20 * longest_side /
    detect_max_side)`: with the default `detect_max_side=640`, 60 px on a 1080p frame, 40 px on
    720p, 20 px on 480p. DeepFake datasets' faces are larger than that (FF++ and DFDC faces are
    70-300 px), and smaller ones make poor 299-px crops anyway; raise `detect_max_side` (or set
    it to `None`) for videos with small faces, at a cost in speed. The cascade itself always
    looks for faces from 20 px (its pyramid starts at a scale of 12 / 20), so resizing by
    `20 / min_face_size` gives MTCNN's pyramid for any `min_face_size` (`mtcnn` 1.0 itself
    counts its pyramid levels as if `min_face_size` were 20, and loses every face above ~24).

    Args:
        min_confidence: keep faces with an ONet score at least this (also passed to ONet when
            below its default 0.8).
        max_faces_per_frame: keep at most this many faces per frame, the most confident; `None`
            keeps all.
        detect_max_side: cap on the longest side of the image given to MTCNN; `None` for no cap.
        min_face_size: smallest face to look for, in full-resolution pixels.
        batch_size: frames per MTCNN call (20: one call per video at the paper's 20 frames).
        device: device the networks run on, as `keras.device` names it, e.g. `"cpu:0"` or
            `"gpu:0"`; `None` (default) lets the backend place them (on the GPU when there is
            one).
        second_look: frames in which the reduced image shows no face are detected again at
            full resolution (`detect_max_side=None`): a face can score just under
            `min_confidence` at the reduced size (a 720p fixture face: 0.896 at 640 px, 0.98 at
            full size). It costs a full-resolution detection per such frame (about 0.3 s for
            720p on 2 CPU cores), so a video without faces takes several times longer to fail.

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
        second_look=True,
    ):
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
        self.second_look = second_look

        with self._on_device():
            self._networks = {
                name: inference_function(model) for name, model in build_mtcnn_networks().items()
            }

    def _on_device(self):
        return keras.device(self.device) if self.device else contextlib.nullcontext()

    def get_config(self):
        return {
            "min_confidence": self.min_confidence,
            "max_faces_per_frame": self.max_faces_per_frame,
            "detect_max_side": self.detect_max_side,
            "min_face_size": self.min_face_size,
            "batch_size": self.batch_size,
            "device": self.device,
            "second_look": self.second_look,
        }

    def detection_scale(self, frame_shape, full_resolution=False):
        """The factor each frame of this shape is resized by before MTCNN runs on it (for the
        second look at full resolution: without the `detect_max_side` cap)."""
        scale = MIN_FACE / self.min_face_size
        if self.detect_max_side is not None and not full_resolution:
            scale = min(scale, self.detect_max_side / max(frame_shape[:2]))
        return scale

    def detect(self, frames):
        results = [[] for _ in frames]
        # The cascade runs on batches of same-size images: frames are grouped by size (all of a
        # video's frames share one).
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
            self._detect_frames(frames, positions, scale, shape, results)
            full_scale = self.detection_scale(shape, full_resolution=True)
            if self.second_look and scale < full_scale:
                faceless = [i for i in positions if not results[i]]
                self._detect_frames(frames, faceless, full_scale, shape, results)
        return results

    def _detect_frames(self, frames, positions, scale, shape, results):
        """Detects in `frames[i]` for `i` in `positions` (all of `shape`), resized by `scale`,
        into `results[i]`."""
        for start in range(0, len(positions), self.batch_size):
            batch = positions[start : start + self.batch_size]
            images = [_resize(frames[i], scale) for i in batch]
            for i, faces in zip(batch, self._detect_batch(images, scale, shape), strict=True):
                results[i] = faces
                for face in faces:
                    face.frame_index = i

    def _detect_batch(self, images, scale, shape):
        height, width = images[0].shape[:2]
        if min(height, width) < 2 * 12:
            # Too small for even one PNet window at MTCNN's first pyramid level (12 / 20 scale).
            return [[] for _ in images]
        with self._on_device():
            # Rows: image, x1, y1, x2, y2, confidence, 5 landmark x's, 5 landmark y's.
            rows = run_cascade(
                self._networks,
                np.stack(images),
                onet_threshold=min(ONET_THRESHOLD, self.min_confidence),
            )
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
        name: (float(row[6 + k]) / scale, float(row[11 + k]) / scale)
        for k, name in enumerate(_LANDMARKS)
    }
    return Face(frame_index=0, box=(x, y, w, h), confidence=confidence, landmarks=landmarks)
