"""Short synthetic "videos" animated from a still photo: camera shake, zoom and lighting drift."""

import cv2
import numpy as np

# The face of `skimage.data.astronaut()` (Eileen Collins), (x, y, w, h), as MTCNN 1.0.0 finds it.
ASTRONAUT_FACE_BOX = (182, 64, 83, 107)


def animate_photo(image, box, num_frames=20, size=256, rng=None):
    """Turn a photo with one face into a short hand-held-camera clip.

    Each frame is an affine view of the photo centred near the face: a slow zoom, camera shake
    (a smooth random walk of translation and a small rotation) and a lighting drift (gain and
    offset changing over time). The face box is carried through the same transform, so every
    frame's face box is known exactly.

    Args:
        image: RGB `uint8` photo `(H, W, 3)`.
        box: the face box `(x, y, w, h)` in the photo.
        num_frames: number of frames.
        size: side of the square frames.
        rng: a `numpy.random.Generator` (a fresh unseeded one when `None`).

    Returns:
        `(frames, boxes)`: a list of RGB `uint8` frames `(size, size, 3)` and the face box
        `(x, y, w, h)` (ints) of each frame.

    Example:

    >>> import numpy as np, skimage.data
    >>> frames, boxes = animate_photo(skimage.data.astronaut(), ASTRONAUT_FACE_BOX, 16, 256,
    ...                               np.random.default_rng(0))
    """
    rng = np.random.default_rng() if rng is None else rng
    x, y, w, h = (float(v) for v in box)
    face_centre = np.array([x + w / 2, y + h / 2])
    # The face fills 28-40 % of the frame height, a little above the centre (where a face sits
    # in a portrait shot), zooming in or out by up to 15 % over the clip.
    start_scale = size * rng.uniform(0.28, 0.40) / h
    zoom = np.linspace(1.0, rng.uniform(0.85, 1.15), num_frames)
    offset = rng.uniform(-0.08, 0.08, size=2) * size
    shake = np.cumsum(rng.normal(0, 0.012 * size, size=(num_frames, 2)), axis=0)
    angles = np.cumsum(rng.normal(0, 0.6, size=num_frames))
    gains = 1 + rng.uniform(-0.12, 0.12) * np.sin(
        np.linspace(0, rng.uniform(1, 3) * np.pi, num_frames)
    )
    offsets = np.linspace(0, rng.uniform(-15, 15), num_frames)
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]])

    frames, boxes = [], []
    for t in range(num_frames):
        matrix = cv2.getRotationMatrix2D(
            tuple(face_centre), float(angles[t]), start_scale * zoom[t]
        )
        matrix[:, 2] += np.array([0.5, 0.42]) * size + offset + shake[t] - face_centre
        frame = cv2.warpAffine(
            image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        frame = np.clip(frame.astype(np.float32) * gains[t] + offsets[t], 0, 255).astype(np.uint8)
        moved = corners @ matrix[:, :2].T + matrix[:, 2]
        left, top = np.floor(moved.min(axis=0)).astype(int)
        right, bottom = np.ceil(moved.max(axis=0)).astype(int)
        frames.append(frame)
        boxes.append((int(left), int(top), int(right - left), int(bottom - top)))
    return frames, boxes


def jpeg_compress(frame, quality):
    """Round-trip an RGB `uint8` frame through JPEG at `quality` (1-100), as a camera would.

    Example:

    >>> jpeg_compress(np.zeros((64, 64, 3), np.uint8), 75).shape
    (64, 64, 3)
    """
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
