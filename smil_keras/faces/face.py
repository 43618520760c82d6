"""One detected face."""

import dataclasses


@dataclasses.dataclass
class Face:
    """A face found in one frame.

    Attributes:
        frame_index: the frame the face was found in (a video frame index in `VideoFaces`; the
            position in the list given to `FaceDetector.detect` otherwise).
        box: `(x, y, w, h)` ints, top-left corner and size in full-resolution pixels.
        confidence: the detector's score in [0, 1].
        landmarks: name -> `(x, y)` full-resolution pixels (MTCNN gives `left_eye`, `right_eye`,
            `nose`, `mouth_left`, `mouth_right`); empty for detectors without landmarks.
        track_id: which person the face belongs to across frames (`link_tracks`); -1 if unlinked.

    Example:
    >>> Face(frame_index=0, box=(10, 20, 50, 60), confidence=0.99, landmarks={})
    Face(frame_index=0, box=(10, 20, 50, 60), confidence=0.99, landmarks={}, track_id=-1)
    """

    frame_index: int
    box: tuple[int, int, int, int]
    confidence: float
    landmarks: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    track_id: int = -1
