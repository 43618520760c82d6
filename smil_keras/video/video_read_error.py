"""The error raised for any video that cannot be read."""


class VideoReadError(ValueError):
    """A video file that cannot be decoded: missing, not a video, corrupt, or without frames.

    Args:
        path: the file that failed.
        reason: what is wrong with it, in words.

    Example:
    >>> str(VideoReadError("clip.mp4", "file not found"))
    'cannot read video clip.mp4: file not found'
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")

    def __reduce__(self):
        # Keeps the error picklable across worker processes (multiprocessing re-raises it).
        return (type(self), (self.path, self.reason))
