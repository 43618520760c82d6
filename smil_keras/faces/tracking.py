"""Greedy IoU linking of faces into per-person tracks."""


def box_iou(a, b):
    """Intersection over union of two `(x, y, w, h)` boxes.

    Example:
    >>> box_iou((0, 0, 10, 10), (5, 0, 10, 10))
    0.3333333333333333
    """
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def link_tracks(faces_per_frame, iou_threshold=0.3):
    """Assigns a `track_id` to every face, linking faces of the same person across frames.

    Frames are taken in order. Each face is matched to the track whose last box (in the latest
    frame where that track was seen, so a track survives a missed detection) overlaps it most;
    pairs are taken greedily by decreasing IoU, each track and each face used once per frame, and
    pairs below `iou_threshold` are not linked. An unmatched face starts a new track. Track ids
    are 0, 1, 2, ... in order of first appearance, so a bag per person can be built.

    Args:
        faces_per_frame: list (one entry per sampled frame, in time order) of lists of `Face`.
        iou_threshold: minimum IoU to link a face to a track. The sampled frames are far apart
            (20 frames over a 10 s clip are 0.5 s apart), so keep it low.

    Returns:
        `faces_per_frame`, whose faces' `track_id` were set in place.

    Example:
    >>> from smil_keras.faces import Face
    >>> a = [Face(0, (0, 0, 10, 10), 1.0)], [Face(1, (1, 0, 10, 10), 1.0), Face(1, (50, 50, 9, 9), 1.0)]
    >>> [[f.track_id for f in faces] for faces in link_tracks(list(a))]
    [[0], [0, 1]]
    """
    last_box = {}
    next_id = 0
    for faces in faces_per_frame:
        pairs = [
            (box_iou(face.box, box), i, track)
            for i, face in enumerate(faces)
            for track, box in last_box.items()
        ]
        pairs.sort(key=lambda pair: -pair[0])  # stable: ties keep face, then track, order
        linked_faces, linked_tracks = set(), set()
        for iou, i, track in pairs:
            if iou < iou_threshold or iou <= 0.0:
                break
            if i in linked_faces or track in linked_tracks:
                continue
            faces[i].track_id = track
            linked_faces.add(i)
            linked_tracks.add(track)
        for i, face in enumerate(faces):
            if i not in linked_faces:
                face.track_id = next_id
                next_id += 1
            last_box[face.track_id] = face.box
    return faces_per_frame
