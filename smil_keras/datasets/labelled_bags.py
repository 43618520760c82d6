"""Bags with per-face labels from frames whose manipulated faces are known (FFPMS, synthetic
attacks)."""

import numpy as np

from smil_keras.bags import BagRecord
from smil_keras.faces import STORED_CONTEXT, box_iou, extract_faces, stored_crop


def labelled_bag(
    video_id,
    video,
    frames,
    frame_indices,
    detector,
    face_label,
    *,
    label,
    method,
    dataset,
    size=299,
    margin=1.3,
    context=STORED_CONTEXT,
):
    """Detect and crop the faces of decoded frames and label each face.

    Args:
        video_id: identifier of the bag.
        video: the video file the bag stands for.
        frames: RGB `uint8` frames (already decoded, possibly mixed or forged).
        frame_indices: the video frame index of each frame.
        detector: a `FaceDetector`.
        face_label: `face_label(frame_index, box) -> 0 | 1 | -1`, the label of a detected face.
        label, method, dataset: the bag's video label, manipulation method and dataset name.
        size, margin, context: the model's view and the context stored around it, as in
            `extract_to_shards` (the crops are `stored_crop(size, margin, context)`).

    Returns:
        A `BagRecord`, or `None` when no face was found.
    """
    stored_size, stored_margin = stored_crop(size, margin, context)
    faces, crops = extract_faces(
        frames, frame_indices, detector, size=stored_size, margin=stored_margin
    )
    if not faces:
        return None
    return BagRecord(
        video_id=video_id,
        video=str(video),
        crops=crops,
        frame_indices=[face.frame_index for face in faces],
        boxes=[face.box for face in faces],
        confidences=[face.confidence for face in faces],
        track_ids=[face.track_id for face in faces],
        label=label,
        face_labels=[face_label(face.frame_index, face.box) for face in faces],
        method=method,
        dataset=dataset,
        margin=stored_margin,
    )


def label_by_overlap(known, min_iou=0.3):
    """A `face_label` function matching detected faces to known labelled boxes.

    Args:
        known: `{frame_index: [(box, label), ...]}`, the faces whose label is known.
        min_iou: smallest overlap for a detection to take a known face's label.

    Returns:
        `face_label(frame_index, box)`: the label of the known face overlapping the detection
        most, or -1 (unknown) when none overlaps at least `min_iou`.
    """

    def face_label(frame_index, box):
        candidates = known.get(int(frame_index), [])
        overlaps = [box_iou(box, known_box) for known_box, _ in candidates]
        if not overlaps or max(overlaps) < min_iou:
            return -1
        return int(candidates[int(np.argmax(overlaps))][1])

    return face_label
