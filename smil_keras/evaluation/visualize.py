"""Pictures of a prediction: boxes by per-face score and attention (paper Fig. 4/5), heat maps."""

import cv2
import numpy as np

_FAKE = (220, 40, 40)  # RGB red: fake faces, as in the paper's Fig. 4
_REAL = (40, 180, 60)  # RGB green: real faces
# RGB colours told apart at a glance (Tableau 10 without its red and green, kept for fake/real).
PERSON_COLOURS = (
    (31, 119, 180),
    (255, 127, 14),
    (148, 103, 189),
    (23, 190, 207),
    (227, 119, 194),
    (188, 189, 34),
    (140, 86, 75),
    (127, 127, 127),
)


def person_colour(person):
    """The RGB colour of person `person` in the pictures (`PERSON_COLOURS`, cycled).

    Example:

    >>> person_colour(0), person_colour(len(PERSON_COLOURS))
    ((31, 119, 180), (31, 119, 180))
    """
    return PERSON_COLOURS[int(person) % len(PERSON_COLOURS)]


def draw_faces(frame, faces, threshold=0.5, persons=None):
    """Draws face boxes on a copy of an RGB frame, labelled by their scores (and people).

    Without `persons`, a face scored `>= threshold` is boxed in red (fake), otherwise in green
    (real); its label reads `p=<fake probability> a=<attention weight>`, the two numbers of the
    paper's Fig. 4/5. With `persons`, each face is boxed in its person's colour
    (`person_colour`) under a label `person <id> p=<person's fake probability>` in that colour,
    and its own `p=... a=...` label, red or green as above, goes under the box.

    Args:
        frame: RGB `uint8` `(H, W, 3)`.
        faces: the faces of this frame, dicts with `"box"` `[x, y, w, h]`, `"fake_probability"`
            and `"attention"`, and `"person"` with `persons` (as in `smil predict --json`).
        threshold: probability from which a face is called fake.
        persons: the video's people (`smil predict --json`'s `"persons"`: dicts with
            `"person"` and `"fake_probability"`), or `None`.

    Returns:
        RGB `uint8` `(H, W, 3)`.

    Example:

    >>> image = draw_faces(frame, [{"box": [40, 30, 80, 80], "fake_probability": 0.91,
    ...                             "attention": 0.4}])  # doctest: +SKIP
    >>> image = draw_faces(frame, [{"box": [40, 30, 80, 80], "fake_probability": 0.91,
    ...                             "attention": 0.4, "person": 1}],
    ...                    persons=[{"person": 1, "fake_probability": 0.87}])  # doctest: +SKIP
    """
    image = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    thickness = max(1, round(max(image.shape[:2]) / 400))
    scale = max(0.4, max(image.shape[:2]) / 1200)
    people = {person["person"]: person for person in persons or ()}
    for face in faces:
        x, y, w, h = (int(v) for v in face["box"])
        verdict = _FAKE if face["fake_probability"] >= threshold else _REAL
        scores = f"p={face['fake_probability']:.2f} a={face['attention']:.2f}"
        person = people.get(face.get("person"))
        if person is None:
            cv2.rectangle(image, (x, y), (x + w, y + h), verdict, thickness)
            _label(image, scores, (x, y), verdict, scale, above=True)
            continue
        colour = person_colour(person["person"])
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, thickness)
        tag = f"person {person['person']} p={person['fake_probability']:.2f}"
        _label(image, tag, (x, y), colour, scale, above=True)
        _label(image, scores, (x, y + h), verdict, scale, above=False)
    return image


def _label(image, text, corner, colour, scale, above):
    """White text on a `colour` band whose left end is at `corner`, above or below it (kept
    inside the image)."""
    x, y = corner
    (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = text_h + baseline + 2
    top = y - band if above else y + 1
    top = int(np.clip(top, 0, max(0, image.shape[0] - band)))
    cv2.rectangle(image, (x, top), (x + text_w + 2, top + band), colour, -1)
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
