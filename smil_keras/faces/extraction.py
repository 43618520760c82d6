"""Frames -> faces and crops: the detection stage of the pipeline."""

import logging

from smil_keras.faces.cropping import crop_face
from smil_keras.faces.tracking import link_tracks
from smil_keras.faces.no_faces_error import NoFacesError
from smil_keras.faces.video_faces import VideoFaces
from smil_keras.video import sample_frames

logger = logging.getLogger(__name__)


def extract_faces(frames, frame_indices, detector, size=299, margin=1.3, iou_threshold=0.3):
    """Detects, tracks and crops every face in already-decoded frames.

    All frames go to the detector in one call (it batches them). Every kept face of every frame
    is returned (several per frame when several people are visible), linked into tracks with
    `link_tracks`, and cut with `crop_face` from the full-resolution frame.

    Args:
        frames: list of RGB `uint8` `(H, W, 3)` frames, in time order.
        frame_indices: the video frame index of each frame (stored in `Face.frame_index`);
            `None` numbers them 0, 1, 2, ...
        detector: a `FaceDetector`, e.g. `MTCNNDetector()` (build it once, reuse it).
        size: side of the square crops.
        margin: crop side relative to the face box's longer side.
        iou_threshold: see `link_tracks`.

    Returns:
        `(faces, crops)`: the `Face`s in frame order (most confident first within a frame) and
        their `uint8` `(size, size, 3)` crops. Both are empty when no face is found.

    Example:
    >>> sample = sample_frames("clip.mp4", 20)  # doctest: +SKIP
    >>> faces, crops = extract_faces(sample.frames, sample.indices, MTCNNDetector())  # doctest: +SKIP
    """
    frames = list(frames)
    if frame_indices is None:
        frame_indices = list(range(len(frames)))
    if len(frame_indices) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(frame_indices)} frame indices")
    if not frames:
        return [], []
    faces_per_frame = detector.detect(frames)
    link_tracks(faces_per_frame, iou_threshold=iou_threshold)
    faces, crops = [], []
    for frame, index, frame_faces in zip(frames, frame_indices, faces_per_frame):
        for face in frame_faces:
            face.frame_index = int(index)
            faces.append(face)
            crops.append(crop_face(frame, face.box, margin=margin, size=size))
    return faces, crops


def extract_video_faces(path, detector, num_frames=20, size=299, margin=1.3, iou_threshold=0.3):
    """Samples frames from a video, then detects, tracks and crops its faces.

    Args:
        path: the video file.
        detector: a `FaceDetector` (build it once, reuse it for every video).
        num_frames: frames sampled uniformly over the video (`sample_frames`; the paper uses 20).
        size, margin, iou_threshold: see `extract_faces`.

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
    sample = sample_frames(path, num_frames=num_frames)
    faces, crops = extract_faces(
        sample.frames, sample.indices, detector, size=size, margin=margin, iou_threshold=iou_threshold
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
    )
