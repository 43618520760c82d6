"""End-to-end scoring of video files: frames -> faces -> detector (`smil predict`)."""

import logging
import pathlib

import cv2
import numpy as np
from tqdm.auto import tqdm

from smil_keras.errors import NoFacesError, VideoReadError
from smil_keras.evaluation.grad_cam import grad_cam
from smil_keras.evaluation.visualize import draw_faces, overlay_heatmap, write_rgb
from smil_keras.faces import MTCNNDetector, extract_video_faces
from smil_keras.models import explain_model

logger = logging.getLogger(__name__)


class VideoPredictor:
    """Scores videos with a trained detector and explains the score face by face.

    Each video is sampled uniformly (`sample_frames`), its faces detected and cut as the
    detector was trained to see them (`crop_face` with the margin and size of `model.view`),
    and the bag of crops scored by `explain_model(detector)`, which gives the video's fake
    probability, each face's fake probability and each face's attention weight in the S-MIL
    pooling (Eq. 9/10).

    Args:
        model: a detector from `build_detector` (or `load_detector`).
        face_detector: a `FaceDetector`; `MTCNNDetector()` when `None`.
        num_frames: frames sampled per video (the paper tests with 20).
        threshold: video (and face) probability from which the label is `"fake"`.
        margin: leave it `None`: the faces are cut with the view's margin
            (`model.view.margin`). A value is only checked against it.

    Raises:
        ViewMismatchError: a `margin` that differs from the detector's view.

    Example:

    >>> predictor = VideoPredictor(load_detector("runs/smil/best.keras"))  # doctest: +SKIP
    >>> predictor.predict("clip.mp4")["fake_probability"]  # doctest: +SKIP
    0.93
    """

    def __init__(self, model, face_detector=None, num_frames=20, threshold=0.5, margin=None):
        model.view.check(margin=margin)
        self.model = model
        self.face_detector = MTCNNDetector() if face_detector is None else face_detector
        self.num_frames = num_frames
        self.threshold = threshold
        self.margin = margin
        self.view = model.view
        self.explainer = explain_model(model)

    def predict(self, path, visualize_dir=None, gradcam_faces=3):
        """Scores one video; never raises for a bad video (see `status`).

        Returns a dict `{"video", "status", "fake_probability", "label", "faces"}`; `status` is
        `"ok"`, `"no_faces"` (null probability and label) or `"error"`; the last two come with
        a `"reason"`. Each face is `{"frame", "box" [x, y, w, h], "fake_probability",
        "attention"}`.

        With `visualize_dir`, also writes (Fig. 4/5 of the paper) the sampled frames with boxes
        coloured by score, a strip of the face crops with their scores and attention weights,
        and Grad-CAM heat maps of the `gradcam_faces` faces with the highest attention.
        """
        result = {
            "video": str(path),
            "status": "ok",
            "fake_probability": None,
            "label": None,
            "faces": [],
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
        faces, crops = found.faces, found.crops

        bag = np.stack(crops)[None]  # uint8: the model casts
        outputs = self.explainer(
            {"faces": bag, "mask": np.ones(bag.shape[:2], dtype=bool)}, training=False
        )
        probability = float(np.asarray(outputs["fake_probability"])[0, 0])
        face_probabilities = np.asarray(outputs["face_probability"])[0]
        attention = np.asarray(outputs["attention"])[0]
        result.update(
            fake_probability=probability,
            label="fake" if probability >= self.threshold else "real",
            faces=[
                {
                    "frame": int(face.frame_index),
                    "box": [int(v) for v in face.box],
                    "fake_probability": float(face_probability),
                    "attention": float(weight),
                }
                for face, face_probability, weight in zip(
                    faces, face_probabilities, attention, strict=True
                )
            ],
        )
        if visualize_dir is not None:
            self._visualize(result, found, pathlib.Path(visualize_dir), gradcam_faces)
        return result

    def predict_many(self, paths, visualize_dir=None, gradcam_faces=3):
        """Scores many videos with a progress bar; a bad video is reported, never fatal."""
        results = []
        for path in tqdm(list(paths), desc="scoring videos", unit="video"):
            try:
                results.append(self.predict(path, visualize_dir, gradcam_faces))
            except Exception as error:  # anything unforeseen: report it, go on with the batch
                logger.info("%s: scoring failed", path, exc_info=True)
                results.append(
                    {
                        "video": str(path),
                        "status": "error",
                        "fake_probability": None,
                        "label": None,
                        "faces": [],
                        "reason": f"{type(error).__name__}: {error}",
                    }
                )
        return results

    def _visualize(self, result, found, out_dir, gradcam_faces):
        folder = out_dir / pathlib.Path(result["video"]).stem
        folder.mkdir(parents=True, exist_ok=True)
        faces = result["faces"]
        crops = found.crops
        for index, frame in zip(found.frame_indices, found.frames, strict=True):
            in_frame = [face for face in faces if face["frame"] == index]
            picture = draw_faces(frame, in_frame, self.threshold)
            write_rgb(folder / f"frame_{index:06d}.png", picture)
        write_rgb(folder / "faces.png", _face_strip(crops, faces, self.threshold))
        chosen = np.argsort([-face["attention"] for face in faces])[:gradcam_faces]
        if len(chosen):
            heatmaps = grad_cam(self.model, np.stack([crops[i] for i in chosen]))
            for rank, (index, heatmap) in enumerate(zip(chosen, heatmaps, strict=True)):
                name = f"gradcam_{rank}_frame_{faces[index]['frame']:06d}_face_{index}.png"
                write_rgb(folder / name, overlay_heatmap(crops[index], heatmap))
        logger.info("wrote pictures of %s to %s", result["video"], folder)


def _face_strip(crops, faces, threshold, min_side=128):
    """The face crops side by side (enlarged to `min_side`), boxed and labelled by score."""
    side = max(min_side, crops[0].shape[0])
    tiles = [
        draw_faces(
            np.pad(cv2.resize(crop, (side, side)), ((24, 0), (0, 0), (0, 0))),
            [{**face, "box": [0, 24, side - 1, side - 1]}],
            threshold,
        )
        for crop, face in zip(crops, faces, strict=True)
    ]
    return np.concatenate(tiles, axis=1)
