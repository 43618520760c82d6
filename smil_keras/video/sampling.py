"""Uniform frame sampling with OpenCV.

Decoding strategy: one sequential pass that `grab()`s every frame (demux + decode, no colour
conversion) and `retrieve()`s (colour conversion + copy) only the wanted ones. On the short clips
of the DeepFake datasets (10-30 s, long GOPs) this is faster than seeking with
`CAP_PROP_POS_FRAMES`: every seek restarts decoding at the previous keyframe, so twenty seeks decode
the same GOPs again and again. Measured on the fixtures (20 frames, 2 shared cores; FF++ and DFDC
clips have a keyframe every 250 frames): 720p 2.0 s grabbing against 12.6 s seeking, 1080p 3.5 s
against 18.5 s (`benchmarks/extract_speed.py --seek`). Seeking gave the same frames on these
files, but it is not frame-exact for every codec or for variable-frame-rate files. (For long
videos with frequent keyframes seeking would win; that is not the datasets' case.) Running to the
end of the stream also gives the real frame count for free, so a misreported count is caught.
"""

import logging
import os

import cv2
import numpy as np

from smil_keras.errors import VideoReadError
from smil_keras.video.frame_sample import FrameSample

logger = logging.getLogger(__name__)

# Codecs FFmpeg uses to present a still picture as a one-frame "video" (a JPEG or PNG, even renamed
# to .mp4, opens as MJPG / MPNG). Real MJPEG videos have more than one frame and are accepted.
_STILL_IMAGE_CODECS = {
    "MJPG",
    "MPNG",
    "PNG ",
    "png ",
    "BMP ",
    "bmp ",
    "WEBP",
    "webp",
    "tiff",
    "TIFF",
}


def uniform_indices(frame_count, num_frames):
    """Frame indices spread evenly from the first to the last frame.

    Returns `num_frames` distinct increasing indices from `0` to `frame_count - 1` (both ends
    included; the middle frame for `num_frames=1`), or every index when the video has no more
    than `num_frames` frames.

    Example:
    >>> uniform_indices(300, 4)
    [0, 100, 199, 299]
    >>> uniform_indices(3, 20)
    [0, 1, 2]
    """
    if frame_count <= num_frames:
        return list(range(frame_count))
    if num_frames == 1:
        return [(frame_count - 1) // 2]
    # The step (frame_count - 1) / (num_frames - 1) is > 1 here, so rounding keeps them distinct.
    return np.linspace(0, frame_count - 1, num_frames).round().astype(int).tolist()


def sample_frames(path, num_frames=20, on_frame=None):
    """Decodes `num_frames` frames spread uniformly over a whole video (the paper samples 20).

    Frames are chosen uniformly by frame index (for a variable-frame-rate file that is uniform in
    decode order, not exactly in time). Videos with fewer frames than `num_frames` give all their
    frames, each once. Rotation metadata is applied (OpenCV's `CAP_PROP_ORIENTATION_AUTO`), so
    portrait phone videos come out portrait. If the container's frame count is wrong (missing,
    too small or too large, as for truncated files), the frames are counted by decoding and
    sampled over the real count.

    Args:
        path: the video file.
        num_frames: how many frames to return at most.
        on_frame: optional `on_frame(index, frame)`, called in the decoding thread with each
            sampled frame as soon as it is decoded, in increasing index order, so work on the
            first frames can start while the rest decode (`extract_video_faces` detects faces
            meanwhile). When the container's frame count is wrong the video is resampled and
            some frames passed may not be in the result (and frames of a second pass follow,
            again from index 0): the returned `FrameSample` is what counts. An exception raised
            by `on_frame` stops decoding and propagates.

    Returns:
        A `FrameSample` with RGB `uint8` frames `(H, W, 3)`.

    Raises:
        VideoReadError: the file is missing, is not a video (a text file, a still image even if
            renamed .mp4), is corrupt, or has no decodable frame.

    Example:
    >>> sample = sample_frames("clip_300_frames.mp4", num_frames=20)  # doctest: +SKIP
    >>> len(sample.frames), sample.frames[0].dtype, sample.indices[:3]  # doctest: +SKIP
    (20, dtype('uint8'), [0, 16, 31])
    """
    path = os.fspath(path)
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not os.path.exists(path):
        raise VideoReadError(path, "file not found")
    if not os.path.isfile(path):
        raise VideoReadError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise VideoReadError(path, "empty file")

    capture = _open(path)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if np.isfinite(fps) and fps > 0 else 0.0
    codec = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1")
    claimed = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    # FFmpeg reports garbage (negative, huge) when the container has no count.
    claimed = int(claimed) if np.isfinite(claimed) and 0 < claimed < 2**31 else 0

    wanted = uniform_indices(claimed, num_frames)
    frames, count = _decode_pass(capture, wanted, on_frame)
    if count == 0:
        raise VideoReadError(path, "no decodable frame (corrupt or truncated file)")
    if count == 1 and codec in _STILL_IMAGE_CODECS:
        raise VideoReadError(path, f"a still image ({codec.strip()}), not a video")
    if count != claimed:
        if claimed:
            logger.warning(
                "%s: container claims %d frames, decoded %d; resampling", path, claimed, count
            )
        wanted = uniform_indices(count, num_frames)
        if not set(wanted) <= frames.keys():
            frames, _ = _decode_pass(_open(path), wanted, on_frame)

    indices = [i for i in wanted if i in frames]
    if len(indices) < len(wanted):
        logger.warning("%s: %d sampled frames failed to decode", path, len(wanted) - len(indices))
    return FrameSample(
        frames=[frames[i] for i in indices], indices=indices, fps=fps, frame_count=count, path=path
    )


def _open(path):
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise VideoReadError(
            path, "cannot be opened as a video (not a video, unsupported or corrupt)"
        )
    # Default since OpenCV 4.5 for FFmpeg; set explicitly so rotated (phone) videos come out
    # upright.
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def _decode_pass(capture, wanted, on_frame=None):
    """Grabs every frame to the end, retrieving those in `wanted`; returns ({index: rgb}, count).

    `on_frame(index, rgb)` (if given) is called with each retrieved frame.
    """
    wanted = set(wanted)
    frames = {}
    count = 0
    try:
        while capture.grab():
            if count in wanted:
                ok, bgr = capture.retrieve()
                if ok and bgr is not None:
                    frames[count] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    if on_frame is not None:
                        on_frame(count, frames[count])
            count += 1
    finally:
        capture.release()
    return frames, count
