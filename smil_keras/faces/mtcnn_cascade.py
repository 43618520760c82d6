"""MTCNN's cascade (proposal, refinement, output stage) around its networks, in NumPy and OpenCV.

The same steps, thresholds and arithmetic as `mtcnn` 1.0's stages (`mtcnn/stages/*.py` and
`mtcnn/utils/{images,bboxes,landmarks}.py`), so that `MTCNNDetector` finds the faces `mtcnn`
finds, but with no TensorFlow: the networks (`mtcnn_networks.py`) run on any Keras backend
and everything between them runs on the host. `mtcnn`'s two TensorFlow image operations have
OpenCV stand-ins: `tf.image.resize(method="area")` is `cv2.resize(..., INTER_AREA)` and
`tf.image.crop_and_resize` is `crop_patches` (one `cv2.warpAffine` per box). Both work on the
uint8 images here, where `mtcnn` works on the normalised float image (the networks normalise
their inputs instead); OpenCV's rounding to uint8 is the only difference. On the fixture photos
the faces are the same, scores within 0.02 and boxes within a few % of their side
(`tests/faces/test_mtcnn_cascade.py`).

A detection row holds `image, x1, y1, x2, y2, score` and, after ONet, the five landmark x's and
the five landmark y's: 16 columns, in the pixels of the image given to the cascade.
"""

import cv2
import keras
import numpy as np

# PNet sees 12x12 windows at a stride of 2 pixels of its pyramid level.
_CELL, _STRIDE = 12, 2
# mtcnn 1.0's defaults (`MTCNN.detect_faces`'s keyword arguments). The cascade always looks
# for faces from MIN_FACE px; `MTCNNDetector` resizes frames for other face sizes.
MIN_FACE, PYRAMID_FACTOR = 20, 0.709
PNET_THRESHOLD, PNET_NMS_LEVEL, PNET_NMS = 0.6, 0.5, 0.7
RNET_THRESHOLD, RNET_NMS = 0.7, 0.7
ONET_THRESHOLD, ONET_NMS = 0.8, 0.7


def run_cascade(networks, images, onet_threshold=ONET_THRESHOLD):
    """All detections in a batch of same-size uint8 RGB images `(B, H, W, 3)`: rows `(n, 16)`.

    `networks` maps "pnet", "rnet", "onet" to functions from a NumPy batch to the network's
    outputs (`inference_function(model)` of `build_mtcnn_networks()`'s models); faces from 20 px
    up (MTCNN's default pyramid).
    """
    images = np.asarray(images)
    rows = pnet_stage(networks["pnet"], images)
    if len(rows):
        rows = rnet_stage(networks["rnet"], images, rows)
    if len(rows):
        return onet_stage(networks["onet"], images, rows, onet_threshold)
    return np.empty((0, 16))


def pyramid_scales(height, width, factor=PYRAMID_FACTOR, min_size=12):
    """The scales of `mtcnn` 1.0's image pyramid (`build_scale_pyramid`, faces from `MIN_FACE`).

    The first level maps a `MIN_FACE` face onto PNet's 12 px window; each next one is `factor`
    times smaller. The level count is `mtcnn`'s, which counts from scale 1 whatever its
    `min_face_size` is (so `MTCNNDetector` keeps `MIN_FACE` and resizes the image instead).
    """
    count = round(-(np.log(min(height, width) / min_size) / np.log(factor) + 1))
    return (min_size / MIN_FACE) * factor ** np.arange(max(count, 0))


def pnet_stage(pnet, images):
    """PNet over the pyramid of each image: square candidate boxes, NMS within and across levels."""
    _, height, width, _ = images.shape
    per_level = []
    for scale in pyramid_scales(height, width):
        size = (int(width * scale), int(height * scale))  # truncated, as TensorFlow's resize
        level = np.stack(
            [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images]
        )
        offsets, probabilities = pnet(level)
        rows = _pnet_boxes(offsets, probabilities[..., 1], scale)
        per_level.append(nms(rows, PNET_NMS_LEVEL))
    rows = np.concatenate(per_level) if per_level else np.empty((0, 6))
    return square(nms(sort_by_score(rows), PNET_NMS))


def rnet_stage(rnet, images, rows):
    """RNet on 24x24 crops of the candidates: rescored, refined, filtered, NMS, squared."""
    offsets, probabilities = _predict(rnet, crop_patches(images, rows, 24))
    rows = rows.copy()
    rows[:, 5] = probabilities[:, 1]
    rows = _refine(rows, offsets)
    rows = rows[rows[:, 5] > RNET_THRESHOLD]
    return square(nms(sort_by_score(rows), RNET_NMS))


def onet_stage(onet, images, rows, threshold=ONET_THRESHOLD):
    """ONet on 48x48 crops: final boxes, scores and landmarks (NMS by overlap over the smaller
    box)."""
    offsets, landmarks, probabilities = _predict(onet, crop_patches(images, rows, 48))
    width = rows[:, 3:4] - rows[:, 1:2] + 1
    height = rows[:, 4:5] - rows[:, 2:3] + 1
    landmark_x = width * landmarks[:, :5] + rows[:, 1:2] - 1
    landmark_y = height * landmarks[:, 5:] + rows[:, 2:3] - 1
    rows = rows.copy()
    rows[:, 5] = probabilities[:, 1]
    rows = np.concatenate([_refine(rows, offsets), landmark_x, landmark_y], axis=1)
    rows = rows[rows[:, 5] > threshold]
    return nms(sort_by_score(rows), ONET_NMS, method="min")


def _predict(network, patches):
    """The network's outputs as NumPy. Under JAX (which compiles one program per input shape) the
    patches are padded to a power of two, so a video's varying candidate count compiles a few
    programs, not one per count."""
    count = len(patches)
    if keras.backend.backend() == "jax":
        padded = 1 << max(4, (count - 1).bit_length())
        patches = np.concatenate(
            [patches, np.zeros((padded - count, *patches.shape[1:]), patches.dtype)]
        )
    return [output[:count] for output in network(patches)]


def _pnet_boxes(offsets, face_probability, scale, threshold=PNET_THRESHOLD):
    """Rows of the PNet windows scoring above `threshold`, in image pixels, best first."""
    image, row, column = np.nonzero(face_probability > threshold)
    regression = offsets[image, row, column].astype(np.float64)
    x1, y1 = column * _STRIDE + 1, row * _STRIDE + 1
    x2, y2 = column * _STRIDE + _CELL, row * _STRIDE + _CELL
    size = _CELL - 1
    boxes = np.stack(
        [
            x1 + regression[:, 0] * size,
            y1 + regression[:, 1] * size,
            x2 + regression[:, 2] * size,
            y2 + regression[:, 3] * size,
        ],
        axis=1,
    )
    rows = np.column_stack([image, boxes / scale, face_probability[image, row, column]])
    return sort_by_score(rows)


def sort_by_score(rows):
    """Rows by decreasing score (`mtcnn`'s order: an ascending argsort reversed)."""
    return rows[np.argsort(rows[:, 5])[::-1]]


def nms(rows, threshold, method="union"):
    """`mtcnn` 1.0's non-maximum suppression, per image, of rows sorted by decreasing score.

    A box is dropped when any better-scored box of its image overlaps it by more than
    `threshold`, dropped or not (`mtcnn`'s rule; the original MTCNN only lets kept boxes
    suppress). The overlap is intersection over union (`"union"`) or over the smaller box
    (`"min"`).
    """
    kept = []
    for image in np.unique(rows[:, 0]):
        boxes = rows[rows[:, 0] == image]
        x1, y1, x2, y2 = (boxes[:, k] for k in range(1, 5))
        area = (x2 - x1) * (y2 - y1)
        overlap_w = np.maximum(0, np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1))
        overlap_h = np.maximum(0, np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1))
        intersection = overlap_w * overlap_h
        if method == "union":
            overlap = intersection / (area[:, None] + area - intersection)
        else:
            overlap = intersection / np.minimum(area[:, None], area)
        # Entry (i, j) with i < j: the better box i suppresses box j.
        suppressed = np.triu(overlap > threshold, k=1).any(axis=0)
        kept.append(boxes[~suppressed])
    return np.concatenate(kept) if kept else rows[:0]


def square(rows):
    """Each box grown to a square around its centre, with the side of its longer side."""
    rows = rows.copy()
    width, height = rows[:, 3] - rows[:, 1], rows[:, 4] - rows[:, 2]
    side = np.maximum(width, height)
    rows[:, 1] += (width - side) / 2
    rows[:, 2] += (height - side) / 2
    rows[:, 3] = rows[:, 1] + side
    rows[:, 4] = rows[:, 2] + side
    return rows


def _refine(rows, offsets):
    """Boxes moved by the network's offsets, fractions of the box's side (+1, as `mtcnn`)."""
    rows = rows.copy()
    width = rows[:, 3] - rows[:, 1] + 1
    height = rows[:, 4] - rows[:, 2] + 1
    rows[:, 1:5] += offsets * np.stack([width, height, width, height], axis=1)
    return rows


def crop_patches(images, rows, size):
    """`tf.image.crop_and_resize` of each row's box (normalised by the image size, as `mtcnn`).

    Bilinear samples of the uint8 images on a `size x size` grid from corner to corner of the
    box (one OpenCV `warpAffine` per box, rounded to uint8 as OpenCV does), as float32 pixel
    values `(n, size, size, 3)`. Grid rows or columns outside the image are 127.5, which the
    networks normalise to 0, `crop_and_resize`'s fill value in `mtcnn`.
    """
    _, height, width, channels = images.shape
    extent = np.array([width, height, width, height], np.float64)
    # Sample grid, as crop_and_resize: from x1 / W * (W - 1) to x2 / W * (W - 1) in `size` steps.
    x1, y1, x2, y2 = (rows[:, 1:5] / extent * (extent - 1)).T
    step_x, step_y = (x2 - x1) / (size - 1), (y2 - y1) / (size - 1)
    patches = np.empty((len(rows), size, size, channels), np.uint8)
    for k, image in enumerate(rows[:, 0].astype(int)):
        sample_to_pixel = np.array([[step_x[k], 0.0, x1[k]], [0.0, step_y[k], y1[k]]])
        cv2.warpAffine(
            images[image],
            sample_to_pixel,
            (size, size),
            dst=patches[k],
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    steps = np.arange(size)
    ys, xs = y1[:, None] + step_y[:, None] * steps, x1[:, None] + step_x[:, None] * steps
    inside = ((ys >= 0) & (ys <= height - 1))[:, :, None] & ((xs >= 0) & (xs <= width - 1))[:, None]
    return np.where(inside[..., None], patches.astype(np.float32), np.float32(127.5))
