"""`score_videos(..., engine="ray")`: videos scored with Ray Data, a few videos per row.

Ray is an optional dependency (`pip install "smil-keras[ray]"`); only this module and
`smil_keras.bags.ray_engine` import it, and only `score_videos(engine="ray")` imports this one.

The pipeline is `ray_engine.run_on_ray`'s: a dataset of chunks of `VIDEOS_PER_ROW` videos, one
block each, mapped by `_ChunkScorer` actors (the model loaded once per actor), whose results the
driver writes as each chunk finishes (streaming execution). Chunks, not single videos: Ray Data
costs the driver about 9 ms of CPU per block (8.7 ms per video with one video per block, against
0.5 ms for plain Ray actors fed one video per task; benchmarks/RESULTS.md, scale-out), and a
chunk of `VIDEOS_PER_ROW` videos brings that to about 1 ms per video, against seconds of
decoding and detection. A chunk whose worker dies on every try is dropped and the job goes on;
its videos are then scored again one per row, so the video that kills its worker is the only
one reported.
"""

import json
import logging
import math

import smil_keras.bags.ray_engine as ray_engine
from smil_keras.bags.extract_to_shards import _detector_spec
from smil_keras.evaluation.exported_detector import load_scoring_model
from smil_keras.evaluation.video_predictor import VideoPredictor

logger = logging.getLogger(__name__)

# Videos per row (unit of work) of the Ray Data pipeline, at most.
VIDEOS_PER_ROW = 8


def score_with_ray(
    videos,
    model,
    on_result,
    *,
    workers,
    face_detector=None,
    num_frames=20,
    threshold=0.5,
    visualize_dir=None,
    gradcam_faces=3,
    gpus_per_worker=0,
    address=None,
    worker_logs=True,
):
    """Scores `videos` with `workers` Ray Data actors; `on_result(result)` runs in this process,
    the driver, for each video as its chunk finishes (in the order the chunks finish).

    Each actor (one CPU, and `gpus_per_worker` GPUs) loads the model and builds its face
    detector once, then scores chunks of up to `VIDEOS_PER_ROW` videos with
    `VideoPredictor.predict_iter` (a bad video is a result with its status and reason, never an
    error). A worker that dies is restarted and its chunk tried again, `ray_engine.RETRIES`
    more times; a chunk whose worker died on every try is scored again one video per row, and a
    video whose worker still dies on every try is reported.

    Args:
        videos: video paths, each seen by every node of the cluster.
        model: a `.keras` file or a SavedModel folder (`load_scoring_model`), seen by every node.
        on_result: called with each result dict (`VideoPredictor.predict`'s fields).
        workers: number of actors.
        face_detector: a `FaceDetector` with `get_config()`, rebuilt in each actor as
            `type(detector)(**detector.get_config())`; `None`: `MTCNNDetector()`.
        num_frames, threshold, visualize_dir, gradcam_faces: as for `VideoPredictor`.
        gpus_per_worker: GPUs each actor takes (0: CPU only).
        address: the Ray cluster to join (`"auto"`, `"HOST:PORT"`); `None` starts a local one
            (unless Ray is already initialised in this process, which is then used).
        worker_logs: show the workers' output here (Ray's `log_to_driver`, TensorFlow's
            start-up lines, Ray Data's logs).

    Returns:
        `{video: reason}` for the videos that have no result because their worker died on each
        try (reported, not scored).

    Raises:
        RuntimeError: the workers could not start (the model or a library missing on a node);
            the message is the workers' error.
    """
    if not videos:
        return {}
    settings = {
        "model": str(model),
        "detector_spec": _detector_spec(face_detector),
        "predictor": {"num_frames": num_frames, "threshold": threshold},
        "visualize": (None if visualize_dir is None else str(visualize_dir), gradcam_faces),
        "limit_threads": not gpus_per_worker,
    }
    left = list(videos)
    per_row = min(VIDEOS_PER_ROW, math.ceil(len(videos) / workers))
    with ray_engine.ray_session(address, worker_logs):
        for size in sorted({per_row, 1}, reverse=True):  # then one per row: who killed it
            if not left:
                break
            chunks = [{"videos": left[start : start + size]} for start in range(0, len(left), size)]
            outputs = ray_engine.run_on_ray(
                chunks,
                _ChunkScorer,
                settings,
                workers=workers,
                gpus_per_worker=gpus_per_worker,
                worker_logs=worker_logs,
            )
            scored = set()
            for output in outputs:
                scored.update(json.loads(output["videos"]))
                for result in json.loads(output["results"]):
                    on_result(result)
            left = [video for video in left if video not in scored]
    reason = (
        f"not scored: the Ray worker scoring it died on each of {ray_engine.RETRIES + 1} tries "
        "(a crash, out of memory or a lost node); run again to retry it"
    )
    for video in left:
        logger.warning("%s: %s", video, reason)
    return dict.fromkeys(left, reason)


class _ChunkScorer:
    """A Ray Data worker (an actor): loads the model and builds the face detector once, then
    scores chunks of videos, one per batch."""

    def __init__(self, model, detector_spec, predictor, visualize, limit_threads):
        if limit_threads:
            _one_thread(model)  # one CPU per actor
        cls, config = detector_spec
        self.predictor = VideoPredictor(
            load_scoring_model(model), face_detector=cls(**config), **predictor
        )
        self.visualize_dir, self.gradcam_faces = visualize

    def __call__(self, batch):
        """Scores the batch's chunk of videos; gives them and their results (JSON), in order."""
        videos = [str(video) for video in batch["videos"][0]]
        results = list(self.predictor.predict_iter(videos, self.visualize_dir, self.gradcam_faces))
        return {"videos": [json.dumps(videos)], "results": [json.dumps(results)]}


def _one_thread(model):
    """Limits TensorFlow, where it runs the model, to one thread per operation (an actor holds
    one CPU); the JAX backend needs nothing here."""
    import keras

    if keras.backend.backend() != "tensorflow" and str(model).endswith(".keras"):
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started in this worker process
        logger.info("TensorFlow already initialised: its thread counts are kept")
