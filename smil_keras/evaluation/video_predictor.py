"""End-to-end scoring of video files: frames -> faces -> detector (`smil predict`)."""

import logging
import pathlib

import cv2
import numpy as np
from tqdm.auto import tqdm

from smil_keras.errors import NoFacesError, VideoReadError
from smil_keras.evaluation.exported_detector import ExportedDetector
from smil_keras.evaluation.grad_cam import grad_cam
from smil_keras.evaluation.visualize import draw_faces, overlay_heatmap, write_rgb
from smil_keras.faces import MTCNNDetector, extract_video_faces
from smil_keras.models import explain_model

logger = logging.getLogger(__name__)


class VideoPredictor:
    """Scores videos with a trained detector and explains the score person by person, face by face.

    Each video is sampled uniformly (`sample_frames`), its faces detected, linked into
    per-person tracks (`link_tracks`: position and appearance) and cut as the detector was
    trained to see them (`crop_face` with the margin and size of `model.view`). The bag is
    ordered person by person (tracks in order of first appearance), time order within a
    person, with per-bag person ids `0 .. P - 1` (`person_order`), and scored by
    `explain_model(detector)` given those `"person_ids"`: S-MIL-T's temporal convolutions
    (Eq. 11) never mix two people's faces. It gives the video's fake probability (the
    detector's output for that bag; a video with one person gets exactly the number of the
    frame-ordered bag without person ids), each face's fake probability and attention weight
    in the S-MIL pooling (Eq. 9/10), and each person's fake probability: the detector's head
    with its trained layers applied to that person's faces alone, i.e. what the detector says
    about a video showing only that person (S-MIL: `sigmoid(sum_{j in person} a'_j
    logit(p_j))`, the attention re-normalised over the person's faces).

    Args:
        model: a detector from `build_detector` (or `load_detector`), or an exported
            SavedModel (`ExportedDetector`; no Grad-CAM pictures with it).
        face_detector: a `FaceDetector`; `MTCNNDetector()` when `None`.
        num_frames: frames sampled per video (the paper tests with 20).
        threshold: probability (video, person or face) from which the label is `"fake"`.
        margin: leave it `None`: the faces are cut with the view's margin
            (`model.view.margin`). A value is only checked against it.

    Raises:
        ViewMismatchError: a `margin` that differs from the detector's view.

    Example:

    >>> predictor = VideoPredictor(load_detector("runs/smil/best.keras"))  # doctest: +SKIP
    >>> result = predictor.predict("clip.mp4")  # doctest: +SKIP
    >>> result["fake_probability"]  # doctest: +SKIP
    0.93
    >>> [person["fake_probability"] for person in result["persons"]]  # doctest: +SKIP
    [0.97, 0.12]
    """

    def __init__(self, model, face_detector=None, num_frames=20, threshold=0.5, margin=None):
        model.view.check(margin=margin)
        self.model = model
        self.face_detector = MTCNNDetector() if face_detector is None else face_detector
        self.num_frames = num_frames
        self.threshold = threshold
        self.margin = margin
        self.view = model.view
        exported = isinstance(model, ExportedDetector)  # already gives explain_model's outputs
        self.explainer = model if exported else explain_model(model)

    def predict(self, path, visualize_dir=None, gradcam_faces=3):
        """Scores one video; never raises for a bad video (see `status`).

        Returns a dict `{"video", "status", "fake_probability", "label", "faces", "persons"}`;
        `status` is `"ok"`, `"no_faces"` (null probability and label, no faces nor persons) or
        `"error"`; the last two come with a `"reason"`. `"faces"` are in frame order, each
        `{"frame", "box" [x, y, w, h], "fake_probability", "attention", "person"}` (attention:
        the face's weight in the video's decision, summing to 1 over the video). `"persons"`
        has one entry per person, in order of first appearance: `{"person" (the faces'
        "person"), "frames" (frame indices where they appear), "fake_probability" (the
        detector's head on that person's faces alone), "label", "face_probabilities",
        "attention"}`, the last two aligned with `"frames"` (the faces' numbers).

        With `visualize_dir`, also writes (Fig. 4/5 of the paper) the sampled frames with each
        person's boxes in their own colour, labelled with the person's id and probability and
        each face's score and attention, a strip of the face crops person by person, and
        Grad-CAM heat maps of the `gradcam_faces` faces with the highest attention.
        """
        result = {
            "video": str(path),
            "status": "ok",
            "fake_probability": None,
            "label": None,
            "faces": [],
            "persons": [],
        }
        try:  # decoding overlaps detection (`extract_video_faces`)
            found = extract_video_faces(
                path,
                self.face_detector,
                num_frames=self.num_frames,
                size=self.view.image_size,
                margin=self.view.margin,
                keep_frames=visualize_dir is not None,
            )
        except NoFacesError as error:  # the result says so: logged for library users only
            logger.info("%s", error)
            return {
                **result,
                "status": "no_faces",
                "reason": f"no face found in the {error.frames_searched} frames searched",
            }
        except VideoReadError as error:
            logger.info("%s", error)
            return {**result, "status": "error", "reason": error.reason}
        except (OSError, ValueError) as error:
            logger.info("%s: %s", path, error)
            return {**result, "status": "error", "reason": str(error)}

        order, person_ids = person_order(found.faces)
        bag = np.stack([found.crops[i] for i in order])[None]  # uint8: the model casts
        outputs = self._explain(bag, person_ids[order])
        # Back from the bag's order (person by person) to the faces' (frame order).
        face_probabilities = np.empty(len(order), np.float64)
        attention = np.empty(len(order), np.float64)
        face_probabilities[order] = np.asarray(outputs["face_probability"])[0]
        attention[order] = np.asarray(outputs["attention"])[0]
        probability = float(np.asarray(outputs["fake_probability"])[0, 0])
        result.update(
            fake_probability=probability,
            label=self._label(probability),
            faces=[
                {
                    "frame": int(face.frame_index),
                    "box": [int(v) for v in face.box],
                    "fake_probability": float(face_probability),
                    "attention": float(weight),
                    "person": int(person),
                }
                for face, face_probability, weight, person in zip(
                    found.faces, face_probabilities, attention, person_ids, strict=True
                )
            ],
        )
        result["persons"] = [
            self._person(
                person,
                [face for face in result["faces"] if face["person"] == person],
                outputs["person_probability"][person],
            )
            for person in range(len(outputs["person_probability"]))
        ]
        if visualize_dir is not None:
            self._visualize(result, found, pathlib.Path(visualize_dir), gradcam_faces)
        return result

    def predict_many(self, paths, visualize_dir=None, gradcam_faces=3):
        """Scores many videos with a progress bar; a bad video is reported, never fatal."""
        paths = tqdm(list(paths), desc="scoring videos", unit="video")
        return list(self.predict_iter(paths, visualize_dir, gradcam_faces))

    def predict_iter(self, paths, visualize_dir=None, gradcam_faces=3):
        """Yields the result of each video as soon as it is scored; never raises for a video
        (anything unforeseen is a result with status `"error"` and the exception as reason)."""
        for path in paths:
            try:
                result = self.predict(path, visualize_dir, gradcam_faces)
            except Exception as error:  # anything unforeseen: report it, go on with the batch
                logger.info("%s: scoring failed", path, exc_info=True)
                result = {
                    "video": str(path),
                    "status": "error",
                    "fake_probability": None,
                    "label": None,
                    "faces": [],
                    "persons": [],
                    "reason": f"{type(error).__name__}: {error}",
                }
            yield result

    def _explain(self, bag, person_ids):
        """The explainer's outputs for one person-ordered bag, `"person_probability"` as a
        `(P,)` NumPy array (P people)."""
        inputs = {
            "faces": bag,
            "mask": np.ones(bag.shape[:2], dtype=bool),
            "person_ids": person_ids[None].astype(np.int32),
        }
        outputs = dict(self.explainer(inputs, training=False))
        people = int(person_ids.max()) + 1
        if "person_probability" in outputs:
            outputs["person_probability"] = np.asarray(outputs["person_probability"])[0, :people]
        else:  # a SavedModel exported without `serving_persons`: each person's faces alone
            outputs["person_probability"] = np.array(
                [
                    np.asarray(
                        self.explainer(
                            {"faces": bag[:, alone], "mask": np.ones((1, alone.sum()), bool)},
                            training=False,
                        )["fake_probability"]
                    )[0, 0]
                    for alone in (person_ids == person for person in range(people))
                ]
            )
        return outputs

    def _person(self, person, faces, probability):
        """One entry of `"persons"`: the person's faces (frame order) and probability."""
        return {
            "person": person,
            "frames": [face["frame"] for face in faces],
            "fake_probability": float(probability),
            "label": self._label(probability),
            "face_probabilities": [face["fake_probability"] for face in faces],
            "attention": [face["attention"] for face in faces],
        }

    def _label(self, probability):
        return "fake" if probability >= self.threshold else "real"

    def _visualize(self, result, found, out_dir, gradcam_faces):
        folder = out_dir / pathlib.Path(result["video"]).stem
        folder.mkdir(parents=True, exist_ok=True)
        faces, persons = result["faces"], result["persons"]
        crops = found.crops
        for index, frame in zip(found.frame_indices, found.frames, strict=True):
            in_frame = [face for face in faces if face["frame"] == index]
            picture = draw_faces(frame, in_frame, self.threshold, persons=persons)
            write_rgb(folder / f"frame_{index:06d}.png", picture)
        write_rgb(folder / "faces.png", _face_strip(crops, faces, self.threshold, persons))
        chosen = np.argsort([-face["attention"] for face in faces])[:gradcam_faces]
        if len(chosen):
            heatmaps = grad_cam(self.model, np.stack([crops[i] for i in chosen]))
            for rank, (index, heatmap) in enumerate(zip(chosen, heatmaps, strict=True)):
                name = f"gradcam_{rank}_frame_{faces[index]['frame']:06d}_face_{index}.png"
                write_rgb(folder / name, overlay_heatmap(crops[index], heatmap))
        logger.info("wrote pictures of %s to %s", result["video"], folder)


def person_order(faces):
    """The order of a video's faces in its bag: person by person, time order within a person.

    People are the faces' tracks (`Face.track_id`, from `link_tracks`), taken in order of
    first appearance and renumbered `0 .. P - 1` (faces never linked, `track_id` -1, count
    as one person).

    Args:
        faces: a video's `Face`s (any order).

    Returns:
        `(order, person_ids)`: int arrays of `len(faces)`: `faces[order[j]]` is the bag's face
        `j`, and `person_ids[i]` the person of `faces[i]` (so the bag's ids are
        `person_ids[order]`, non-decreasing).

    Example:

    >>> from smil_keras.faces import Face
    >>> faces = [Face(0, (0, 0, 9, 9), 1.0, track_id=4), Face(0, (50, 0, 9, 9), 1.0, track_id=2),
    ...          Face(1, (0, 0, 9, 9), 1.0, track_id=4)]
    >>> person_order(faces)
    (array([0, 2, 1]), array([0, 1, 0]))
    """
    in_time_order = sorted(faces, key=lambda face: face.frame_index)  # stable
    first_seen = dict.fromkeys(face.track_id for face in in_time_order)
    person_of_track = {track: person for person, track in enumerate(first_seen)}
    person_ids = np.array([person_of_track[face.track_id] for face in faces], dtype=np.int64)
    frames = np.array([face.frame_index for face in faces], dtype=np.int64)
    return np.lexsort((frames, person_ids)), person_ids


def _face_strip(crops, faces, threshold, persons, min_side=128):
    """The face crops side by side (enlarged to `min_side`), person by person, each boxed in
    its person's colour and labelled with the person and its own score (`draw_faces`)."""
    side = max(min_side, crops[0].shape[0])
    band = 24  # room for the labels above and below each crop
    order = sorted(range(len(faces)), key=lambda i: (faces[i]["person"], faces[i]["frame"]))
    tiles = [
        draw_faces(
            np.pad(cv2.resize(crops[i], (side, side)), ((band, band), (0, 0), (0, 0))),
            [{**faces[i], "box": [0, band, side - 1, side - 1]}],
            threshold,
            persons=persons,
        )
        for i in order
    ]
    return np.concatenate(tiles, axis=1)
