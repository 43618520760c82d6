"""The faces extracted from one video."""

import dataclasses

import numpy as np

from smil_keras.faces.face import Face


@dataclasses.dataclass
class VideoFaces:
    """Faces and square crops from the sampled frames of one video (`extract_video_faces`).

    Attributes:
        path: the video file.
        frame_indices: the sampled frame indices, including frames where no face was found.
        faces: every kept `Face`, in frame order (then by decreasing confidence within a frame),
            with `track_id` set by `link_tracks`.
        crops: RGB `uint8` `(S, S, 3)` face crops aligned with `faces`.
        num_frames_sampled: how many frames were searched.
        fps: the video's frame rate.
        frame_count: the video's real frame count.
        frames: the sampled RGB frames, aligned with `frame_indices`, when
            `extract_video_faces(..., keep_frames=True)` kept them (else `None`).
    """

    path: str
    frame_indices: list[int]
    faces: list[Face]
    crops: list[np.ndarray]
    num_frames_sampled: int
    fps: float
    frame_count: int = 0
    frames: list[np.ndarray] | None = None

    @property
    def boxes(self):
        """`(n, 4)` int array of `(x, y, w, h)`."""
        return np.asarray([f.box for f in self.faces], dtype=np.int64).reshape(-1, 4)

    @property
    def confidences(self):
        """`(n,)` float32 array."""
        return np.asarray([f.confidence for f in self.faces], dtype=np.float32)

    @property
    def track_ids(self):
        """`(n,)` int array."""
        return np.asarray([f.track_id for f in self.faces], dtype=np.int64)

    @property
    def face_frame_indices(self):
        """`(n,)` int array: the frame of each face."""
        return np.asarray([f.frame_index for f in self.faces], dtype=np.int64)
