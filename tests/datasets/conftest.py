"""The reference for the face labels of synthetic partial attacks' bags, shared by their tests
(a fixture, so that the test modules stay importable under ``--import-mode=importlib``)."""

import pytest


def _overlapped_known_face(known, frame, box, min_iou=0.3):
    from smil_keras.faces import box_iou  # TensorFlow: only where used

    overlaps = [
        (box_iou(tuple(box), tuple(int(face[k]) for k in "xywh")), face)
        for face in known
        if int(face["frame"]) == frame
    ]
    best, face = max(overlaps, key=lambda overlap: overlap[0], default=(0.0, None))
    return face if best >= min_iou else None


@pytest.fixture(scope="session")
def overlapped_known_face():
    """The function ``overlapped_known_face(known, frame, box)``: of the rows `known` of a
    `faces.csv` (one clip's faces whose boxes and labels the generator wrote), the one of frame
    `frame` that the detected `box` overlaps most, or None when none overlaps it by an IoU of
    0.3 or more (a face the generator did not place: its label must be -1, unknown).

    The independent reference for the labels the builder gives bag faces: it reads the CSV
    file the builder wrote, not the builder's own matching (`label_by_overlap`)."""
    return _overlapped_known_face
