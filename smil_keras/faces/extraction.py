"""Frames -> faces and crops: the detection stage of the pipeline."""

import logging
import os
import queue
import threading

from smil_keras.errors import NoFacesError
from smil_keras.faces.cropping import crop_face
from smil_keras.faces.tracking import link_tracks
from smil_keras.faces.video_faces import VideoFaces
from smil_keras.video import sample_frames

logger = logging.getLogger(__name__)


def extract_faces(frames, frame_indices, detector, size=299, margin=1.3, iou_threshold=None):
    """Detects, tracks and crops every face in already-decoded frames.

    All frames go to the detector in one call (it batches them). Every kept face of every frame
    is returned (several per frame when several people are visible), linked into per-person
    tracks by position and appearance with `link_tracks(..., frames=frames)`, and cut with
    `crop_face` from the full-resolution frame.

    Args:
        frames: list of RGB `uint8` `(H, W, 3)` frames, in time order.
        frame_indices: the video frame index of each frame (stored in `Face.frame_index`);
            `None` numbers them 0, 1, 2, ...
        detector: a `FaceDetector`, e.g. `MTCNNDetector()` (build it once, reuse it).
        size: side of the square crops.
        margin: crop side relative to the face box's longer side.
        iou_threshold: see `link_tracks` (`None`: its default with appearance).

    Returns:
        `(faces, crops)`: the `Face`s in frame order (most confident first within a frame) and
        their `uint8` `(size, size, 3)` crops. Both are empty when no face is found.

    Example:
    >>> sample = sample_frames("clip.mp4", 20)  # doctest: +SKIP
    >>> faces, crops = extract_faces(  # doctest: +SKIP
    ...     sample.frames, sample.indices, MTCNNDetector()
    ... )
    """
    frames = list(frames)
    if frame_indices is None:
        frame_indices = list(range(len(frames)))
    if len(frame_indices) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(frame_indices)} frame indices")
    if not frames:
        return [], []
    return _track_and_crop(
        frames, frame_indices, detector.detect(frames), size, margin, iou_threshold
    )


def _track_and_crop(frames, frame_indices, faces_per_frame, size, margin, iou_threshold):
    """Links the detected faces into tracks and cuts their crops: `(faces, crops)`."""
    link_tracks(faces_per_frame, iou_threshold=iou_threshold, frames=frames)
    faces, crops = [], []
    for frame, index, frame_faces in zip(frames, frame_indices, faces_per_frame, strict=True):
        for face in frame_faces:
            face.frame_index = int(index)
            faces.append(face)
            crops.append(crop_face(frame, face.box, margin=margin, size=size))
    return faces, crops


def extract_video_faces(
    path, detector, num_frames=20, size=299, margin=1.3, iou_threshold=None, keep_frames=False
):
    """Samples frames from a video, detects, tracks and crops its faces.

    The same faces as `extract_faces(sample_frames(path, num_frames)...)`, sooner: a background
    thread decodes the video (OpenCV's FFmpeg decoding of these files runs on one core) while the
    detector works on the frames decoded so far, in two batches of about `num_frames / 2`.

    Args:
        path: the video file.
        detector: a `FaceDetector` (build it once, reuse it for every video).
        num_frames: frames sampled uniformly over the video (`sample_frames`; the paper uses 20).
        size, margin, iou_threshold: see `extract_faces`.
        keep_frames: also return the sampled frames (`VideoFaces.frames`), e.g. to draw on
            them, without decoding the video again (20 frames of 1080p: about 120 MB).

    Returns:
        `VideoFaces`.

    Raises:
        VideoReadError: the file cannot be decoded (see `sample_frames`).
        NoFacesError: no face in any sampled frame.

    Example:
    >>> detector = MTCNNDetector()  # doctest: +SKIP
    >>> result = extract_video_faces("clip.mp4", detector, num_frames=20)  # doctest: +SKIP
    >>> len(result.crops), result.crops[0].shape  # doctest: +SKIP
    (20, (299, 299, 3))
    """
    sample, faces_per_frame = _sample_and_detect(path, detector, num_frames)
    faces, crops = _track_and_crop(
        sample.frames, sample.indices, faces_per_frame, size, margin, iou_threshold
    )
    if not faces:
        raise NoFacesError(sample.path, len(sample.frames))
    logger.debug("%s: %d faces in %d frames", sample.path, len(faces), len(sample.frames))
    return VideoFaces(
        path=sample.path,
        frame_indices=list(sample.indices),
        faces=faces,
        crops=crops,
        num_frames_sampled=len(sample.frames),
        fps=sample.fps,
        frame_count=sample.frame_count,
        frames=list(sample.frames) if keep_frames else None,
    )


class _Cancelled(Exception):
    """Stops the decoding thread when detection failed."""


def _sample_and_detect(path, detector, num_frames):
    """`sample_frames` in a background thread, detecting faces as the frames arrive.

    Returns `(sample, faces_per_frame)` with `faces_per_frame` aligned with `sample.frames`.
    Raises what `sample_frames` or the detector raised.
    """
    arrived = queue.SimpleQueue()  # (index, frame), then None when decoding is over
    outcome = {}
    cancelled = threading.Event()

    def on_frame(index, frame):
        if cancelled.is_set():
            raise _Cancelled
        arrived.put((index, frame))

    def decode():
        try:
            outcome["sample"] = sample_frames(path, num_frames=num_frames, on_frame=on_frame)
        except BaseException as error:  # re-raised in the calling thread
            outcome["error"] = error
        finally:
            arrived.put(None)

    name = f"decode {os.path.basename(os.fspath(path))}"
    thread = threading.Thread(target=decode, name=name, daemon=True)
    thread.start()
    found = {}  # frame index -> (frame, its faces)
    chunk = max(1, -(-num_frames // 2))
    try:
        pending, finished = [], False
        while not finished:
            item = arrived.get()
            finished = item is None
            if not finished:
                pending.append(item)
            if pending and (finished or len(pending) >= chunk):
                for (index, frame), faces in zip(
                    pending, detector.detect([f for _, f in pending]), strict=True
                ):
                    found[index] = (frame, faces)
                pending = []
    finally:
        cancelled.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    sample = outcome["sample"]
    # After resampling (a wrong container frame count) some sampled frames may not have been
    # passed on, or were passed from a discarded pass: detect those now.
    stale = [
        k
        for k, (index, frame) in enumerate(zip(sample.indices, sample.frames, strict=True))
        if found.get(index, (None,))[0] is not frame
    ]
    if stale:
        for k, faces in zip(stale, detector.detect([sample.frames[k] for k in stale]), strict=True):
            found[sample.indices[k]] = (sample.frames[k], faces)
    faces_per_frame = [found[i][1] for i in sample.indices]
    for position, faces in enumerate(faces_per_frame):
        for face in faces:
            face.frame_index = position
    return sample, faces_per_frame
