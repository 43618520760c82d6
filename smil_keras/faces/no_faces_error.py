"""The error raised when a video has no face."""


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
        # Keeps the error picklable across worker processes.
        return (type(self), (self.path, self.frames_searched))
