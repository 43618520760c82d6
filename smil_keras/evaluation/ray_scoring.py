"""`score_videos(..., engine="ray")`: videos scored on a Ray cluster, one video per task.

Ray is an optional dependency (`pip install "smil-keras[ray]"`); only this module and
`smil_keras.bags.ray_engine` import it, and only `score_videos(engine="ray")` imports this one.

Ray actors, not Ray Data: the output is one line per video written as soon as the video is
scored, so every video has to be its own unit of work. A Ray Data pipeline
(`from_items(...).map_batches(Scorer, compute=ActorPoolStrategy(size=n))`) hands its results
back a block at a time, so that needs one block per video, which cost about 11 ms of driver
time per video here (20,000 paths: 21 s to build the blocks, 191 s to stream them through two
no-op actors) against under 1 ms for an actor pool fed one path per task; and a worker that dies
on a video (a crash in a decoder, memory) ends the whole Ray Data job unless failed blocks are
ignored process-wide (`DataContext.max_errored_blocks`), while here the video is known and
reported. The extraction engine (`bags/ray_engine.py`) uses actors too.
"""

import collections
import logging

from smil_keras.bags.extract_to_shards import _detector_spec
from smil_keras.evaluation.exported_detector import load_scoring_model
from smil_keras.evaluation.video_predictor import VideoPredictor

try:
    import ray
except ImportError as error:
    raise ImportError(
        'engine="ray" needs Ray, an optional dependency: pip install "smil-keras[ray]"'
    ) from error

logger = logging.getLogger(__name__)

# A video whose worker dies (a crash, out of memory, a node lost) is tried this many more times,
# each on a new worker, before it is reported as not scored.
RETRIES = 2


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
    """Scores `videos` with `workers` Ray actors; `on_result(result)` runs in this process, the
    driver, as each video is scored (in the order they finish).

    Each actor (one CPU, and `gpus_per_worker` GPUs) loads the model and builds its face
    detector once, then scores one video per task with `VideoPredictor.predict_iter` (a bad
    video is a result with its status and reason, never an error). A worker that dies is
    replaced by a new one, and the video it was scoring is tried again, `RETRIES` more times.

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
        worker_logs: show the workers' output here (Ray's `log_to_driver`).

    Returns:
        `{video: reason}` for the videos that have no result because their worker died on each
        try (reported, not scored).

    Raises:
        RuntimeError: the workers could not start (the model or a library missing on a node);
            the message is the workers' error.
    """
    if not videos:
        return {}
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=worker_logs,
        )
    elif address is not None:
        logger.warning("Ray is already initialised in this process; address %r is ignored", address)
    settings = {
        "model": str(model),
        "detector_spec": _detector_spec(face_detector),
        "predictor": {"num_frames": num_frames, "threshold": threshold},
        "visualize": (None if visualize_dir is None else str(visualize_dir), gradcam_faces),
        "limit_threads": not gpus_per_worker,
    }
    # One video in flight per actor, so a dead actor names the video it died on; it is replaced
    # by a new actor (Ray's own restarts would hand the next video to a restarting actor).
    worker = ray.remote(num_cpus=1, num_gpus=gpus_per_worker, max_restarts=0)(_VideoScorer)
    pending = collections.deque(videos)
    tries = collections.Counter()
    running = {}  # task -> (actor, video)

    def give_work(actor):
        if pending:
            video = pending.popleft()
            tries[video] += 1
            running[actor.score.remote(video)] = (actor, video)

    actors = [worker.remote(**settings) for _ in range(min(workers, len(videos)))]
    not_scored = {}
    try:
        for actor in actors:
            give_work(actor)
        while running:
            (done,), _ = ray.wait(list(running), num_returns=1)
            actor, video = running.pop(done)
            try:
                result = ray.get(done)
            except ray.exceptions.RayActorError as error:
                reason = _last_line(error)
                if error.actor_init_failed:
                    raise RuntimeError(f"the Ray workers could not start: {reason}") from None
                logger.warning("%s: the Ray worker scoring it died (%s)", video, reason)
                if tries[video] <= RETRIES:
                    pending.appendleft(video)
                else:
                    count = f"{tries[video]} {'try' if tries[video] == 1 else 'tries'}"
                    not_scored[video] = (
                        f"not scored: the Ray worker scoring it died, {count} (a crash, out of "
                        f"memory or a lost node: {reason}); run again to retry it"
                    )
                ray.kill(actor)
                actors.remove(actor)
                actor = worker.remote(**settings)
                actors.append(actor)
            else:
                on_result(result)
            give_work(actor)
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
    return not_scored


def _last_line(error):
    """The last line of a Ray error: the exception raised in the worker, without its traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


class _VideoScorer:
    """A Ray actor: loads the model and builds the face detector once, then scores videos."""

    def __init__(self, model, detector_spec, predictor, visualize, limit_threads):
        if limit_threads:
            _one_thread(model)  # one CPU per actor
        cls, config = detector_spec
        self.predictor = VideoPredictor(
            load_scoring_model(model), face_detector=cls(**config), **predictor
        )
        self.visualize_dir, self.gradcam_faces = visualize

    def score(self, video):
        (result,) = self.predictor.predict_iter([video], self.visualize_dir, self.gradcam_faces)
        return result


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
