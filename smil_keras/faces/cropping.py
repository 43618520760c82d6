"""Square face crops with a margin, as FaceForensics++ cuts them."""

import cv2
import numpy as np


def square_region(box, frame_shape, margin=1.3):
    """The square region `crop_face` cuts around a box.

    The square's side is `margin * max(w, h)` (rounded), centred on the box. On each axis where
    the square fits in the frame it is shifted inside the frame (real pixels only, the face a
    little off-centre at a border); where it is larger than the frame it stays centred and the
    part outside the frame is padded black by `crop_face`. (FaceForensics++ instead shrinks the
    square at a border, which changes the face's scale between frames.)

    Args:
        box: `(x, y, w, h)` in pixels.
        frame_shape: the frame's shape, `(H, W)` or `(H, W, C)`.
        margin: side of the square relative to the box's longer side.

    Returns:
        `(x0, y0, side)`: top-left corner (may be negative only where the square is padded) and
        side.

    Example:
    >>> square_region((100, 50, 40, 60), (480, 640), margin=1.5)
    (75, 35, 90)
    """
    x, y, w, h = box
    height, width = frame_shape[:2]
    side = max(1, int(round(margin * max(w, h))))
    corners = []
    for start, extent, limit in ((x, w, width), (y, h, height)):
        corner = int(round(start + extent / 2 - side / 2))
        if side <= limit:
            corner = min(max(corner, 0), limit - side)
        corners.append(corner)
    return corners[0], corners[1], side


def crop_face(frame, box, margin=1.3, size=299):
    """Cuts the square around a face and resizes it to the model's input size.

    Args:
        frame: `uint8` `(H, W, 3)` full-resolution frame.
        box: `(x, y, w, h)` of the face in the frame's pixels.
        margin: side of the square relative to the box's longer side (FaceForensics++ uses 1.3).
        size: output side in pixels (299 for Xception).

    Returns:
        `uint8` `(size, size, 3)`; see `square_region` for what happens at the frame's border.
        Downscaling uses `INTER_AREA` (no aliasing), upscaling `INTER_LINEAR`.

    Example:
    >>> frame = np.zeros((480, 640, 3), np.uint8)
    >>> crop_face(frame, (100, 50, 40, 60), size=64).shape
    (64, 64, 3)
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"crop_face expects an (H, W, 3) frame, got shape {frame.shape}")
    height, width = frame.shape[:2]
    x0, y0, side = square_region(box, frame.shape, margin)
    x1, y1 = x0 + side, y0 + side
    crop = frame[max(y0, 0) : min(y1, height), max(x0, 0) : min(x1, width)]
    if crop.shape[0] != side or crop.shape[1] != side:
        crop = cv2.copyMakeBorder(
            crop,
            max(-y0, 0),
            max(y1 - height, 0),
            max(-x0, 0),
            max(x1 - width, 0),
            cv2.BORDER_CONSTANT,
            value=0,
        )
    if side == size:
        return np.ascontiguousarray(crop)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


STORED_CONTEXT = 1.11  # stored crops' side relative to the model's view: 299 px -> 331 px


def stored_crop(size=299, margin=1.3, context=STORED_CONTEXT):
    """Side and margin of face crops stored with extra context around the model's view.

    The model sees `size` x `size` crops of margin `margin`. Bags store crops holding `context`
    times that field of view at the same pixel scale (side about `context * size`, with an
    even border so the view sits exactly in the centre; margin scaled alike), so
    `make_bag_dataset` cuts the model's view out of them without resizing: a
    random `size` window in training (the paper's random crop), the centre window in evaluation,
    which is the crop `crop_face(frame, box, margin, size)` gives, as `smil predict` cuts it.

    Args:
        size: side of the model's face input in pixels (299 for Xception).
        margin: the model's view: crop side relative to the face box's longer side.
        context: stored side relative to `size`, at least 1 (1: no room for a random crop).

    Returns:
        `(stored_size, stored_margin)` to give `crop_face` (and to record in the bag).

    Example:
    >>> stored_size, stored_margin = stored_crop(299, 1.3)
    >>> stored_size, round(stored_margin, 4)  # 1.3 * 331 / 299
    (331, 1.4391)
    """
    if context < 1:
        raise ValueError(f"context must be at least 1 (stored crops hold the view), got {context}")
    stored_size = size + 2 * int(round(size * (context - 1) / 2))
    return stored_size, margin * stored_size / size
