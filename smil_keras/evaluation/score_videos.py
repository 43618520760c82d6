"""Scoring many videos into a JSON Lines file that a rerun resumes (`smil predict --out`)."""

import contextlib
import json
import logging
import os

import tqdm

from smil_keras.evaluation.exported_detector import ExportedDetector, load_scoring_model
from smil_keras.evaluation.video_predictor import VideoPredictor

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")


def score_videos(
    inputs,
    model,
    out,
    *,
    engine="local",
    workers=1,
    address=None,
    num_frames=20,
    threshold=0.5,
    face_detector=None,
    visualize_dir=None,
    gradcam_faces=3,
    gpus_per_worker=0,
    worker_logs=True,
    progress=True,
):
    """Scores videos end to end (`VideoPredictor`) into `out`, one JSON line per video.

    Each video's result is appended to `out` as soon as it is scored, as one line of JSON with
    the fields of `VideoPredictor.predict` (`"video"`, `"status"`, `"fake_probability"`,
    `"label"`, the faces and persons, and `"reason"` when the status is `"no_faces"` or
    `"error"`): a bad video is a line with its status and reason, and the batch goes on. Lines
    come in the order the videos finish.

    Resumable: videos that already have a line in `out` (by absolute path, `"video"`) are
    skipped, so running again after a kill, with the same or more inputs, scores only the videos
    left (a line cut short by the kill is dropped, and that video scored again). To score a
    video again, delete its line. One writer per file: `out` is locked (`OUT.lock` beside it)
    while the job runs, and a second job on it gets a `LockedError`.

    Engines: `"local"` scores in this process; `"ray"` on a Ray cluster
    (`smil_keras.evaluation.ray_scoring`, `pip install "smil-keras[ray]"`): Ray Data on a pool
    of `workers` actors, each loading the model once, a few videos per row. There the videos,
    the model and `out`'s folder must be paths every node sees, and a video whose worker dies on
    each try (a crash, out of memory) gets an `"error"` result that is *not* written to `out`,
    so a rerun tries it again.

    Args:
        inputs: video files, folders (searched for videos) or list files (`find_videos`).
        model: a `.keras` detector or a SavedModel folder from `export_saved_model`
            (`load_scoring_model`); faces are cut with its view.
        out: the JSON Lines file to write (created, or appended to).
        engine: `"local"` or `"ray"`.
        workers: with `engine="ray"`, the number of Ray actors (1 for `"local"`).
        address: with `engine="ray"`, the cluster to join (`"auto"`, `"HOST:PORT"`); `None`
            starts a local one.
        num_frames: frames sampled per video.
        threshold: probability from which a video (or face) is `"fake"`.
        face_detector: a `FaceDetector`; default `MTCNNDetector()`. With `engine="ray"` it
            needs `get_config()`: each worker builds its own.
        visualize_dir: write pictures of each video here (`VideoPredictor.predict`).
        gradcam_faces: Grad-CAM maps per video with `visualize_dir` (0 with a SavedModel).
        gpus_per_worker: with `engine="ray"`, GPUs each worker takes (0: CPU only).
        worker_logs: with `engine="ray"`, show the workers' output in this process.
        progress: show a progress bar.

    Returns:
        The result of every input video, in input order, those found in `out` included.

    Raises:
        FileNotFoundError: an input or the model does not exist, or no video is found.
        ValueError: bad arguments, a model that cannot be used (`ModelFileError`), an `out`
            holding lines that are not results.
        LockedError: another job is writing `out`.
        ImportError: `engine="ray"` without Ray installed.
        RuntimeError: the Ray workers could not start.

    Example:

    >>> results = score_videos(["dfdc/"], "best.keras", "scores.jsonl", engine="ray",
    ...                        workers=64, address="auto")  # doctest: +SKIP
    >>> sum(result["status"] == "ok" for result in results)  # doctest: +SKIP
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if workers < 1 or (engine == "local" and workers != 1):
        raise ValueError(f"workers must be 1 with engine='local', >= 1 with 'ray'; got {workers}")
    if address is not None and engine != "ray":
        raise ValueError("address is for engine='ray'")
    # Imported here: `smil_keras.bags` needs TensorFlow, and `smil_keras.evaluation` must import
    # without it (`smil predict` on JAX).
    from smil_keras.bags import FolderLock, find_videos
    from smil_keras.bags.find_videos import VIDEO_EXTENSIONS

    videos = [path for path, _ in find_videos(inputs)]
    if not videos:
        raise FileNotFoundError(
            f"no videos found in {inputs} (video extensions: {', '.join(VIDEO_EXTENSIONS)})"
        )
    if engine == "ray":  # before anything is written: Ray is an optional dependency
        from smil_keras.evaluation.ray_scoring import score_with_ray
    scores = _ScoresFile(out)
    with FolderLock(scores.folder, f"{os.path.basename(scores.path)}.lock"):
        results = scores.read()
        todo = [video for video in videos if video not in results]
        if len(todo) < len(videos):
            logger.info(
                "%s: resuming, %d of %d videos already scored",
                scores.path,
                len(videos) - len(todo),
                len(videos),
            )
        if not todo:
            return [results[video] for video in videos]
        loaded = load_scoring_model(model)  # here, before any worker starts
        if isinstance(loaded, ExportedDetector) and visualize_dir is not None and gradcam_faces:
            raise ValueError(
                f"Grad-CAM maps need the .keras detector's gradients, not the SavedModel "
                f"{model}; use the .keras file, or no Grad-CAM maps (gradcam_faces=0)"
            )
        with (
            scores.appending() as append,
            tqdm.tqdm(total=len(todo), desc="scoring", unit="video", disable=not progress) as bar,
        ):

            def on_result(result):
                if result["video"] not in results:  # never two lines for one video
                    append(result)
                    results[result["video"]] = result
                bar.update()

            options = dict(num_frames=num_frames, threshold=threshold, face_detector=face_detector)
            if engine == "local":
                predictor = VideoPredictor(loaded, **options)
                for result in predictor.predict_iter(todo, visualize_dir, gradcam_faces):
                    on_result(result)
            else:
                del loaded  # each worker loads its own
                not_scored = score_with_ray(
                    todo,
                    model,
                    on_result,
                    workers=workers,
                    address=address,
                    visualize_dir=visualize_dir,
                    gradcam_faces=gradcam_faces,
                    gpus_per_worker=gpus_per_worker,
                    worker_logs=worker_logs,
                    **options,
                )
                for video, reason in not_scored.items():  # not written: a rerun retries them
                    results[video] = _error(video, reason)
    return [results[video] for video in videos]


def _error(video, reason):
    return {
        "video": video,
        "status": "error",
        "fake_probability": None,
        "label": None,
        "faces": [],
        "reason": reason,
    }


class _ScoresFile:
    """A JSON Lines file of video results: read back (`read`) and appended to (`appending`).

    Args:
        path: the file (its folder is created when it is written).
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        self.folder = os.path.dirname(self.path)

    def read(self):
        """`{video: result}` of the lines in the file (`{}` when it does not exist).

        A last line without its newline (the writer was killed while writing it) is cut off the
        file and logged; its video is not in the result.

        Raises:
            ValueError: a line that is not a JSON object with a `"video"` (naming the line): the
                file is not a results file of `score_videos`; it is left as it is.
        """
        if not os.path.exists(self.path):
            return {}
        with open(self.path, "rb") as file:
            data = file.read()
        complete = data.rfind(b"\n") + 1
        results = {}
        for number, line in enumerate(data[:complete].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                result = json.loads(line)
                video = result["video"]
            except (ValueError, TypeError, KeyError) as error:  # UnicodeDecodeError included
                problem = f"{type(error).__name__}: {error}"
                raise ValueError(self._not_results(number, problem)) from None
            results[video] = result
        torn = data[complete:]
        if torn:
            if not torn.startswith(b'{"video": '):  # how every line `append` writes begins
                raise ValueError(self._not_results(data.count(b"\n") + 1, "no JSON result"))
            logger.warning(
                "%s: dropping an incomplete last line (%d bytes) from a run that was stopped",
                self.path,
                len(torn),
            )
            with open(self.path, "r+b") as file:
                file.truncate(complete)
        return results

    def _not_results(self, number, problem):
        return (
            f"{self.path}, line {number}: not a video result of smil predict ({problem}); "
            "write the results to another file"
        )

    @contextlib.contextmanager
    def appending(self):
        """A context manager giving `append(result)`, which writes `result` as one line and
        flushes it (the line is in the file as soon as `append` returns)."""
        os.makedirs(self.folder, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as file:

            def append(result):
                file.write(json.dumps(result) + "\n")
                file.flush()

            yield append
