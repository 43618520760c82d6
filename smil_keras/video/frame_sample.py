"""The frames sampled from one video."""

import dataclasses

import numpy as np


@dataclasses.dataclass
class FrameSample:
    """Frames decoded from one video by `sample_frames`.

    Attributes:
        frames: list of RGB `uint8` arrays `(H, W, 3)` in display orientation (rotation metadata
            applied), one per decoded frame.
        indices: the 0-based frame index of each entry of `frames`, increasing.
        fps: frames per second the container reports (0.0 if it reports none).
        frame_count: the real number of decodable frames (counted by decoding when the container's
            claim turned out to be wrong).
        path: the video file, as a string.
    """

    frames: list[np.ndarray]
    indices: list[int]
    fps: float
    frame_count: int
    path: str

    def __len__(self):
        return len(self.frames)
