"""Pictures of a prediction: boxes by per-face score and attention (paper Fig. 4/5), heat maps."""

import cv2
import numpy as np

_FAKE = (220, 40, 40)  # RGB red: fake faces, as in the paper's Fig. 4
_REAL = (40, 180, 60)  # RGB green: real faces


def draw_faces(frame, faces, threshold=0.5):
    """Draws face boxes on a copy of an RGB frame, coloured and labelled by their scores.

    A face scored `>= threshold` is boxed in red (fake), otherwise in green (real); its label
    reads `p=<fake probability> a=<attention weight>`, the two numbers of the paper's Fig. 4/5.

    Args:
        frame: RGB `uint8` `(H, W, 3)`.
        faces: the faces of this frame, dicts with `"box"` `[x, y, w, h]`, `"fake_probability"`
            and `"attention"` (as in `smil predict --json`).
        threshold: probability from which a face is called fake.

    Returns:
        RGB `uint8` `(H, W, 3)`.

    Example:

    >>> image = draw_faces(frame, [{"box": [40, 30, 80, 80], "fake_probability": 0.91,
    ...                             "attention": 0.4}])  # doctest: +SKIP
    """
    image = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    thickness = max(1, round(max(image.shape[:2]) / 400))
    scale = max(0.4, max(image.shape[:2]) / 1200)
    for face in faces:
        x, y, w, h = (int(v) for v in face["box"])
        colour = _FAKE if face["fake_probability"] >= threshold else _REAL
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, thickness)
        text = f"p={face['fake_probability']:.2f} a={face['attention']:.2f}"
        (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y - text_h - baseline - 2)
        cv2.rectangle(image, (x, top), (x + text_w + 2, top + text_h + baseline + 2), colour, -1)
        cv2.putText(
            image,
            text,
            (x + 1, top + text_h + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return image


def overlay_heatmap(image, heatmap, alpha=0.45):
    """Blends a `[0, 1]` heat map (any size) over an RGB `uint8` image with the JET colour map.

    Example:

    >>> overlay_heatmap(np.zeros((64, 64, 3), "uint8"), np.eye(4)).shape
    (64, 64, 3)
    """
    height, width = image.shape[:2]
    heat = cv2.resize(np.asarray(heatmap, dtype=np.float32), (width, height))
    heat = np.uint8(255 * np.clip(heat, 0.0, 1.0))
    coloured = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(np.asarray(image, np.uint8), 1.0 - alpha, coloured, alpha, 0.0)


def write_rgb(path, image):
    """Writes an RGB image with OpenCV (which expects BGR); raises `OSError` naming the path."""
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write image {path}")
    return path
