"""`extract_to_shards(..., engine="ray")`: extraction on a Ray cluster, one shard range per task.

Ray is an optional dependency (`pip install "smil-keras[ray]"`); only this module imports it,
and only `extract_to_shards(engine="ray")` imports this module.
"""

import logging

from smil_keras.bags.extract_to_shards import _extract_one, _init_worker
from smil_keras.bags.shard_journal import ShardJournal

try:
    import ray
    from ray.util import ActorPool
except ImportError as error:
    raise ImportError(
        'engine="ray" needs Ray, an optional dependency: pip install "smil-keras[ray]"'
    ) from error

logger = logging.getLogger(__name__)

# A range whose actor dies (a crash in a decoder, a node lost) is retried on a restarted actor;
# it resumes from the range's journal.
RETRIES = 2


def extract_with_ray(plan, done, spec, options, workers, finish, bar, address=None):
    """Extracts the shard ranges of `done` (`{k: positions already journaled}`) with Ray actors.

    The unit of work is one shard range: an actor (`workers` of them, each building its detector
    once from `spec`) extracts the videos of the range not yet in its journal, journals each
    (`ShardJournal`, temporary names then renames: writes are idempotent) and assembles the
    range's shard under its temporary name. This process, the driver, then saves the manifest
    and publishes the shard (`_ShardPlan.publish`), exactly as the local engine does, so both
    engines write the same bytes and manifest rows, and a rerun skips finished ranges and
    journaled videos. `out_dir` must be on a file system that every node of the cluster sees.
    The progress bar advances as ranges finish.

    Args:
        plan: the extraction's `_ShardPlan`.
        done: `{range index: {position: ManifestRow}}` of the ranges to extract.
        spec: `(detector class, config)` each actor builds its detector from.
        options: `_extract_one`'s options (frames, stored crop size and margin, JPEG quality).
        workers: number of actors (one CPU each).
        finish: the `_Finish` of the extraction (labels, dataset, `annotate`), run in the actors.
        bar: the driver's tqdm progress bar, in videos.
        address: the Ray cluster to join (`"auto"`, `"HOST:PORT"`); `None` starts a local one
            (unless Ray is already initialised in this process, which is then used).
    """
    if not done:
        return
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    elif address is not None:
        logger.warning("Ray is already initialised in this process; address %r is ignored", address)
    worker = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(_RangeWorker)
    actors = [worker.remote(spec, options, finish) for _ in range(min(workers, len(done)))]
    try:
        jobs = [(k, plan.shard(k), plan.ranges[k]) for k in done]
        ranges = ActorPool(actors).map_unordered(
            lambda actor, job: actor.extract_range.remote(*job), jobs
        )
        for k, rows in ranges:
            plan.publish(k, rows)
            bar.update(len(plan.ranges[k]) - len(done[k]))
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()


class _RangeWorker:
    """A Ray actor: builds its detector once, then extracts whole shard ranges."""

    def __init__(self, spec, options, finish):
        _init_worker(spec, options, threads=1)  # one CPU per actor
        self.finish = finish

    def extract_range(self, k, shard, videos):
        """Extracts the videos of range `k` not journaled, journals each and assembles the
        shard (temporary name); returns `(k, manifest rows in range order)`."""
        journal = ShardJournal(shard)
        done = journal.entries(videos)
        for position, job in enumerate(videos):
            if position not in done:
                journal.add(position, *self.finish(_extract_one(job), shard))
        return k, journal.assemble(videos)
