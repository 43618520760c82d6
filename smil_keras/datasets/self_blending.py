"""Self-blending of a face with a jittered copy of itself (Shiohara & Yamasaki, CVPR 2022)."""

import cv2
import numpy as np

# Blend ratios of Self-Blended Images: a full swap is the most frequent case.
_BLEND_RATIOS = (0.5, 0.75, 1.0, 1.0)


def self_blend(image, box, rng):
    """Forge the face in `box` by blending it with a jittered copy of itself.

    The Self-Blended Images recipe (SBI, Shiohara & Yamasaki, CVPR 2022): the source is a
    copy of the image with colour jitter (hue, saturation, brightness, contrast shifts), a
    frequency jitter (slight blur or sharpening) and a small geometric jitter (scale and
    translation about the face centre); a soft mask (an ellipse inscribed in the face box,
    randomly resized, Gaussian-blurred and scaled by a blend ratio `r`) blends it in:
    `out = mask * source + (1 - mask) * image`. This leaves the blending boundary and the
    colour/sharpness mismatch that face-swap methods leave.

    Only pixels inside the face box enlarged 1.5 times change; the rest of the image is
    returned bit-exact. Calling it twice with generators seeded alike gives the same forgery,
    which makes a face's manipulation consistent across the frames of a video.

    Args:
        image: RGB `uint8` array `(H, W, 3)`.
        box: the face box `(x, y, w, h)` in pixels.
        rng: a `numpy.random.Generator` drawing the jitter.

    Returns:
        `(forged, mask)`: the forged RGB `uint8` image and the float32 blending mask `(H, W)`
        in `[0, 1]` (zero wherever the image is unchanged).

    Example:

    >>> import numpy as np, skimage.data
    >>> forged, mask = self_blend(skimage.data.astronaut(), (182, 64, 83, 107),
    ...                           np.random.default_rng(0))
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    x, y, w, h = (float(v) for v in box)
    if w <= 1 or h <= 1:
        raise ValueError(f"face box must have a positive size, got {box}")
    # Work inside the face box enlarged 1.5x (clipped to the image); the rest stays untouched.
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(int(cx - 0.75 * w), 0), max(int(cy - 0.75 * h), 0)
    x1, y1 = min(int(np.ceil(cx + 0.75 * w)), width), min(int(np.ceil(cy + 0.75 * h)), height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError(f"face box {box} lies outside the {width}x{height} image")
    target = image[y0:y1, x0:x1]

    source = _jitter_colour(target, rng)
    source = _jitter_frequency(source, rng)
    source = _jitter_geometry(source, (cx - x0, cy - y0), w, rng)
    mask = _face_mask((y1 - y0, x1 - x0), (cx - x0, cy - y0), (w, h), rng)

    blended = mask[..., None] * source.astype(np.float32) + (1 - mask[..., None]) * target
    forged = image.copy()
    forged[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    full_mask = np.zeros((height, width), np.float32)
    full_mask[y0:y1, x0:x1] = mask
    return forged, full_mask


def _jitter_colour(patch, rng):
    hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV).astype(np.float32)
    # A shift of at least a few levels in each channel, in a random direction.
    hsv[..., 0] = (hsv[..., 0] + rng.choice([-1, 1]) * rng.uniform(3, 10)) % 180
    hsv[..., 1] = hsv[..., 1] + rng.choice([-1, 1]) * rng.uniform(10, 35)
    hsv[..., 2] = hsv[..., 2] + rng.choice([-1, 1]) * rng.uniform(8, 25)
    rgb = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    contrast = rng.uniform(0.8, 1.2)
    rgb = (rgb - rgb.mean()) * contrast + rgb.mean()
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _jitter_frequency(patch, rng):
    if rng.random() < 0.5:
        return cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.8, 1.6))
    blurred = cv2.GaussianBlur(patch, (0, 0), 1.5)
    return cv2.addWeighted(patch, 1.6, blurred, -0.6, 0)


def _jitter_geometry(patch, centre, face_width, rng):
    scale_x, scale_y = rng.uniform(0.95, 1.05, size=2)
    shift_x, shift_y = rng.uniform(-0.03, 0.03, size=2) * face_width
    cx, cy = centre
    matrix = np.float32(
        [[scale_x, 0, (1 - scale_x) * cx + shift_x], [0, scale_y, (1 - scale_y) * cy + shift_y]]
    )
    return cv2.warpAffine(
        patch, matrix, (patch.shape[1], patch.shape[0]), borderMode=cv2.BORDER_REFLECT
    )


def _face_mask(shape, centre, size, rng):
    # Ellipse inscribed in the face box, randomly a little smaller or larger, then blurred: the
    # soft boundary of SBI's blended mask.
    mask = np.zeros(shape, np.float32)
    axes = (int(size[0] * rng.uniform(0.38, 0.48)), int(size[1] * rng.uniform(0.42, 0.52)))
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))), axes, 0, 0, 360, 1.0, -1)
    sigma = max(size) * rng.uniform(0.04, 0.08)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    mask /= max(float(mask.max()), 1e-6)
    return mask * rng.choice(_BLEND_RATIOS)
