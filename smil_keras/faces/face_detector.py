"""The interface every face detector implements."""

import abc


class FaceDetector(abc.ABC):
    """A face detector: frames in, one list of `Face` per frame out.

    Subclass it to plug another detector into `extract_faces` / `extract_video_faces`; only
    `detect` is required. Implementations should batch the frames they are given.

    Example:
    >>> class CentreDetector(FaceDetector):
    ...     def detect(self, frames):
    ...         return [
    ...             [Face(i, (0, 0, f.shape[1], f.shape[0]), 1.0, {})] for i, f in enumerate(frames)
    ...         ]
    """

    @abc.abstractmethod
    def detect(self, frames):
        """Finds the faces in each frame.

        Args:
            frames: list of RGB `uint8` arrays `(H, W, 3)` (sizes may differ).

        Returns:
            A list with one list of `Face` per frame; `frame_index` is the frame's position in
            `frames`, boxes and landmarks are in that frame's pixel coordinates.
        """
