"""`extract_to_shards(..., engine="ray")`: extraction with Ray Data, one shard range per row.

Ray is an optional dependency (`pip install "smil-keras[ray]"`); only this module and
`smil_keras.evaluation.ray_scoring` import it, and only `extract_to_shards(engine="ray")` and
`score_videos(engine="ray")` import them.

Both Ray engines are one Ray Data pipeline (`run_on_ray`): a dataset of work items, one block
each, mapped by a callable class on an actor pool (`map_batches`, `batch_size=1`), whose
outputs the driver reads as they finish (`iter_rows`, streaming execution). The work item is
coarse, a shard range here, a few videos for scoring, because Ray Data costs the driver about
9 ms of CPU per block (plain actors: under 1 ms per task; benchmarks/RESULTS.md, scale-out),
which is negligible per range of 100 videos. A worker that dies (a crash in a decoder, memory,
a node lost) is restarted by Ray and its item tried again (`max_task_retries`); an item whose
worker dies on every try is dropped (`DataContext.max_errored_blocks`) and the job goes on: the
engines know which items came back and deal with the others. TensorFlow's start-up lines in
the workers (`TF_CPP_MIN_LOG_LEVEL`), Ray's and Ray Data's logs are hidden unless wanted.
"""

import contextlib
import dataclasses
import json
import logging
import warnings

from smil_keras.bags.extract_to_shards import _extract_one, _init_worker
from smil_keras.bags.manifest import ManifestRow
from smil_keras.bags.shard_journal import ShardJournal

try:
    import ray
    import ray.data
    from ray.util.annotations import RayDeprecationWarning
except ImportError as error:
    raise ImportError(
        'engine="ray" needs Ray, an optional dependency: pip install "smil-keras[ray]"'
    ) from error

logger = logging.getLogger(__name__)

# A work item whose worker dies is tried this many more times, each on a restarted worker (an
# extraction resumes from the range's journal), before it is given up.
RETRIES = 2

# What the workers' TensorFlow prints at start-up, hidden unless the workers' output is wanted.
QUIET_WORKERS = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}}


def extract_with_ray(plan, done, spec, options, workers, finish, bar, address=None):
    """Extracts the shard ranges of `done` (`{k: positions already journaled}`) with Ray Data.

    The unit of work is one shard range (one row of the dataset): a worker (`workers` actors
    of one CPU, and one GPU each when the cluster has GPUs, each building its detector once
    from `spec`) extracts the videos of the range not yet in its journal, journals each
    (`ShardJournal`, temporary names then renames: writes are idempotent) and assembles the
    range's shard under its temporary name. This process, the driver, then saves the manifest
    and publishes the shard (`_ShardPlan.publish`), exactly as the local engine does, so both
    engines write the same bytes and manifest rows, and a rerun skips finished ranges and
    journaled videos. The progress bar advances as ranges finish.

    A range whose worker died on each of its `RETRIES + 1` tries stopped at the first video
    not journaled: that video gets an `"error"` manifest row saying so, and the range is
    extracted again from there, after the other ranges. `out_dir` must be on a file system
    that every node of the cluster sees. The workers' output (TensorFlow's start-up lines) and
    Ray's logs are shown only when the `smil_keras` logger is set to INFO or below
    (`smil --verbose`).

    Args:
        plan: the extraction's `_ShardPlan`.
        done: `{range index: {position: ManifestRow}}` of the ranges to extract.
        spec: `(detector class, config)` each actor builds its detector from.
        options: `_extract_one`'s options (frames, stored crop size and margin, JPEG quality).
        workers: number of actors.
        finish: the `_Finish` of the extraction (labels, dataset, `annotate`), run in the actors.
        bar: the driver's tqdm progress bar, in videos.
        address: the Ray cluster to join (`"auto"`, `"HOST:PORT"`); `None` starts a local one
            (unless Ray is already initialised in this process, which is then used).
    """
    if not done:
        return
    new = {k: len(plan.ranges[k]) - len(done[k]) for k in done}  # videos the bar counts
    todo = sorted(done)
    # `smil --verbose` (or SMIL_VERBOSE=1) sets this library's logger to INFO.
    verbose = logging.NOTSET < logging.getLogger("smil_keras").level <= logging.INFO
    with ray_session(address, worker_logs=verbose):
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if gpus and workers > gpus:
            logger.warning(
                "%d workers asked, the cluster has %d GPUs: %d workers", workers, gpus, gpus
            )
            workers = gpus
        while todo:
            items = [{"k": k, "shard": plan.shard(k), "videos": plan.ranges[k]} for k in todo]
            outputs = run_on_ray(
                items,
                _RangeWorker,
                {"spec": spec, "options": options, "finish": finish},
                workers=workers,
                gpus_per_worker=1 if gpus else 0,
                worker_logs=verbose,
            )
            for output in outputs:
                k = output["k"]
                plan.publish(k, [ManifestRow(**row) for row in json.loads(output["rows"])])
                bar.update(new[k])
                todo.remove(k)
            for k in todo:
                _record_death(plan, k, finish)


def _record_death(plan, k, finish):
    """Journals an `"error"` row for the first video of range `k` not journaled: the video
    its worker died on at each try.

    Raises:
        RuntimeError: every video of the range is journaled: its workers died assembling it.
    """
    journal = plan.journal(k)
    missing = set(range(len(plan.ranges[k]))) - set(journal.entries(plan.ranges[k]))
    if not missing:
        raise RuntimeError(
            f"the Ray workers died writing {plan.shard(k)} on each try; run again to resume"
        )
    path, video_id = plan.ranges[k][min(missing)]
    reason = (
        f"the Ray worker extracting it died on each of {RETRIES + 1} tries (a crash, out of "
        "memory or a lost node)"
    )
    logger.warning("%s: %s", path, reason)
    row = ManifestRow(video=path, status="error", reason=reason, video_id=video_id)
    journal.add(min(missing), *finish((path, None, row), plan.shard(k)))


@contextlib.contextmanager
def ray_session(address, worker_logs):
    """Ray for one job: joins the cluster at `address` (`None`: starts a local one), or uses
    the Ray already initialised in this process; shuts down what it started.

    `worker_logs`: show the workers' output here (Ray's `log_to_driver`, for a Ray it starts)
    and Ray's and Ray Data's logs below errors.
    """
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING if worker_logs else logging.ERROR,
            log_to_driver=worker_logs,
        )
    elif address is not None:
        logger.warning("Ray is already initialised in this process; address %r is ignored", address)
    data_logger = logging.getLogger("ray.data")
    level = data_logger.level
    if not worker_logs:  # its start and end of execution, and each worker's death, at length
        data_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        data_logger.setLevel(level)
        if started:
            ray.shutdown()


def run_on_ray(items, worker, settings, *, workers, gpus_per_worker, worker_logs):
    """Maps `items` (dicts, one row and one block each) with `workers` actors of class
    `worker` (built once per actor as `worker(**settings)`, called with a batch of one row),
    on one CPU and `gpus_per_worker` GPUs each.

    Yields each output row as it finishes (in the order they finish). An item whose actor
    died on each of `RETRIES + 1` tries yields nothing.

    Raises:
        RuntimeError: the actors could not start (a library or file missing on a node); the
            message is the actors' error.
    """
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    context = dataset.context  # this dataset's copy of the DataContext
    context.max_errored_blocks = -1  # the job goes on; the caller sees what came back
    context.enable_progress_bars = False  # the caller shows its own
    context.print_on_execution_start = False
    # Ray 2.60 deprecates `map_batches(**ray_remote_args)` but names no parameter for task
    # retries; without `max_task_retries` an item that kills its actor is retried forever.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RayDeprecationWarning)
        dataset = dataset.map_batches(
            worker,
            fn_constructor_kwargs=settings,
            batch_size=1,
            # One item in flight per actor: an actor that dies takes only its own item with it.
            compute=ray.data.ActorPoolStrategy(
                size=min(workers, len(items)), max_tasks_in_flight_per_actor=1
            ),
            num_cpus=1,
            num_gpus=gpus_per_worker,
            runtime_env=None if worker_logs else QUIET_WORKERS,
            max_restarts=-1,
            max_task_retries=RETRIES,
        )
    try:
        yield from dataset.iter_rows()
    except ray.exceptions.RayActorError as error:  # not any item's fault: no actor started
        raise RuntimeError(f"the Ray workers could not start: {_last_line(error)}") from None


def _last_line(error):
    """The last line of a Ray error: the exception raised in the worker, without its traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


class _RangeWorker:
    """A Ray Data worker (an actor): builds its detector once, then extracts whole shard
    ranges, one per batch."""

    def __init__(self, spec, options, finish):
        _init_worker(spec, options, threads=1)  # one CPU per actor
        self.finish = finish

    def __call__(self, batch):
        """Extracts the videos of the batch's range not journaled, journals each and assembles
        the shard (temporary name); gives the range index and its manifest rows (JSON) in
        range order."""
        (k,), (shard,), (videos,) = batch["k"], batch["shard"], batch["videos"]
        videos = [(str(path), str(video_id)) for path, video_id in videos]
        journal = ShardJournal(shard)
        done = journal.entries(videos)
        for position, job in enumerate(videos):
            if position not in done:
                journal.add(position, *self.finish(_extract_one(job), shard))
        rows = [dataclasses.asdict(row) for row in journal.assemble(videos)]
        return {"k": [k], "rows": [json.dumps(rows)]}
