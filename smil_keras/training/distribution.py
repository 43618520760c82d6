"""Where `train` runs: one device, several devices of one host, or several hosts (JAX).

Three set-ups, chosen by `TrainConfig` (`strategy` on TensorFlow, `distribution` on JAX) and by
the environment a cluster launcher gives each process:

- **One host, several devices, TensorFlow backend**: `tf.distribute.MirroredStrategy`
  (`strategy="mirrored"`, or `"auto"` when several GPUs are visible). Keras 3 averages the first
  batch across the replicas when `fit` starts, which cannot be done with a bool tensor, so the
  training pipelines feed the mask as uint8 0/1 (the detector casts it back to bool at its
  input). Batch normalization computes its statistics over the global batch while training
  (synchronized, as on one device), so a step on N replicas is the step on one device.
- **One or several hosts, JAX backend**: `keras.distribution.DataParallel` over every device of
  every process (`distribution="data_parallel"`, or `"auto"` when there is more than one device
  or process). Several processes (one per host, usually) are joined by
  `keras.distribution.initialize` before anything else runs on JAX.
- **Several hosts, TensorFlow backend**: refused. Keras 3 `fit` fails with
  `tf.distribute.MultiWorkerMirroredStrategy` for any input (keras-team/keras#20585,
  keras-team/keras#20329, open in Keras 3.15), and Keras calls its TensorFlow distribution
  module a prototype; train on several hosts with `KERAS_BACKEND=jax`.

A step on N devices is the step on one device with the same global batch, to float32 rounding
(`tests/training/test_distributed_training.py`). One difference in data order: under a
`tf.distribute` strategy Keras reads a first batch before training, which advances the seeded
shuffling by one pass, so `strategy="mirrored"` on one device, not `"default"`, sees the very
batches a run on N replicas sees.

With several replicas the global batch is `TrainConfig.batch_size` bags at every step: it must
divide evenly among the devices, and the bags left over at the end of an epoch are dropped (a
short batch would weigh its bags differently). With several processes each process reads its
own shard *files* (`shard_files`: whole files, balanced by bag count), decodes only those, and
feeds its part of the global batch (`batch_size / processes`); every process runs the same
number of steps per epoch (that of the process with the fewest bags), so each bag is seen at
most once per epoch and, when the shards divide evenly, exactly once. Validation is sharded
the same way. Only process 0 writes the run folder (config, history, checkpoints, TensorBoard
logs, backups); the others read it to resume, so `run_dir` must be a folder every host sees.
With several processes the batch normalization statistics are Keras' moving averages: `train`
recomputes them after each epoch (`RecomputeBatchStatistics`) in a single process only, where
its batches are the global ones.

The cluster (coordinator address, number of processes, this process's id) is given by the
`TrainConfig` fields `coordinator_address`, `num_processes` and `process_id`, or, where they are
`None`, by the environment (`cluster_from_environment`), in this order:

1. `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `KERAS_DISTRIBUTION_NUM_PROCESSES`,
   `KERAS_DISTRIBUTION_PROCESS_ID` (Keras' own names);
2. `MASTER_ADDR` and `MASTER_PORT`, `WORLD_SIZE`, `RANK`, as `torchrun`, Kubeflow's
   PyTorchJob and most launchers set them;
3. `SLURM_STEP_NUM_TASKS` > 1 (a job step started by `srun`, one task per host) or
   `OMPI_COMM_WORLD_SIZE` > 1 (`mpirun`): JAX finds the coordinator and the process id
   itself.
"""

import contextlib
import dataclasses
import logging
import os

import keras
import numpy as np
import tensorflow as tf

from smil_keras.bags.shard_files import count_bags_per_shard
from smil_keras.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The processes of one training job, as a launcher describes them.

    Args:
        coordinator_address: `"host:port"` of process 0, `None` where JAX finds it itself.
        num_processes: number of processes (1: a single process).
        process_id: this process's index, `0 .. num_processes - 1` (`None` where JAX finds it).
        source: where the values came from, for messages (`"TrainConfig"`, `"WORLD_SIZE=2"`).
        detected: JAX finds the coordinator and the process id itself (SLURM, Open MPI).
    """

    coordinator_address: str | None = None
    num_processes: int = 1
    process_id: int | None = 0
    source: str = "a single process"
    detected: bool = False

    def check_joinable(self):
        """Raises a `ConfigError` unless the processes can be joined: the coordinator's address
        and this process's id are known, or JAX finds them itself (`detected`)."""
        if self.num_processes == 1 or self.detected:
            return
        if self.coordinator_address is None:
            raise ConfigError(
                "coordinator_address",
                f"{self.num_processes} processes ({self.source}) need process 0's address: set "
                "coordinator_address (smil train --coordinator-address HOST:PORT) or "
                "MASTER_ADDR and MASTER_PORT",
            )
        if self.process_id is None:
            raise ConfigError(
                "process_id",
                f"{self.num_processes} processes ({self.source}): set this process's "
                "process_id (smil train --process-id N) or RANK",
            )


def cluster_from_environment(config, environ=None):
    """The `Cluster` a `TrainConfig` and the environment describe (see the module docstring).

    A config field that is set wins over the environment; the environment is read from the
    first launcher whose variables are present.

    Args:
        config: a `TrainConfig` (its `coordinator_address`, `num_processes`, `process_id`).
        environ: the environment variables (default `os.environ`).

    Returns:
        A `Cluster`.

    Raises:
        ConfigError: a count or id that is not an integer, or a process id out of range.

    Example:

    >>> torchrun = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "2",
    ...             "RANK": "1"}
    >>> cluster = cluster_from_environment(TrainConfig(), torchrun)
    >>> cluster.coordinator_address, cluster.num_processes, cluster.process_id
    ('10.0.0.1:29500', 2, 1)
    """
    environ = os.environ if environ is None else environ
    address, count, index, source = None, None, None, "a single process"
    detected = False  # a cluster JAX describes itself (SLURM, Open MPI)
    if "KERAS_DISTRIBUTION_NUM_PROCESSES" in environ:
        address = environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
        count = _integer(environ, "KERAS_DISTRIBUTION_NUM_PROCESSES")
        index = _integer(environ, "KERAS_DISTRIBUTION_PROCESS_ID")
        source = f"KERAS_DISTRIBUTION_NUM_PROCESSES={count}"
    elif "WORLD_SIZE" in environ:
        if "MASTER_ADDR" in environ:
            address = f"{environ['MASTER_ADDR']}:{environ.get('MASTER_PORT', '29500')}"
        count = _integer(environ, "WORLD_SIZE")
        index = _integer(environ, "RANK")
        source = f"WORLD_SIZE={count}"
    else:
        for name in ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"):
            if _integer(environ, name) and _integer(environ, name) > 1:
                count = _integer(environ, name)
                source, detected = f"{name}={count}", True
                break
    if config.coordinator_address is not None:
        address = config.coordinator_address
    if config.num_processes is not None:
        count, source = config.num_processes, f"num_processes={config.num_processes}"
    if config.process_id is not None:
        index = config.process_id
    count = 1 if count is None else count
    if count < 1:
        raise ConfigError("num_processes", f"expected an integer >= 1, got {count} ({source})")
    if count == 1:
        return Cluster()
    if index is not None and not 0 <= index < count:
        raise ConfigError(
            "process_id", f"expected 0 .. {count - 1} for {count} processes ({source}), got {index}"
        )
    return Cluster(address, count, index, source, detected)


def _integer(environ, name):
    if environ.get(name) in (None, ""):
        return None
    try:
        return int(environ[name])
    except ValueError:
        raise ConfigError(
            name, f"the environment variable is not an integer: {environ[name]!r}"
        ) from None


def shard_files(counts, num_processes):
    """Splits shard files among processes, whole files, balancing the number of bags.

    Files are taken from the largest (ties: in the given order) and each goes to the process
    holding the fewest bags so far (ties: the lowest id), so every process computes the same
    split from the same counts.

    Args:
        counts: dict `{path: number of bags}` (`smil_keras.bags.count_bags_per_shard`).
        num_processes: int.

    Returns:
        A list of `num_processes` lists of paths, each in the given order.

    Example:

    >>> shard_files({"a": 4, "b": 4, "c": 2, "d": 2}, 2)
    [['a', 'c'], ['b', 'd']]
    """
    paths = list(counts)
    order = sorted(range(len(paths)), key=lambda index: -counts[paths[index]])
    loads = [0] * num_processes
    chosen = [[] for _ in range(num_processes)]
    for index in order:
        process = loads.index(min(loads))
        chosen[process].append(index)
        loads[process] += counts[paths[index]]
    return [[paths[index] for index in sorted(indices)] for indices in chosen]


@dataclasses.dataclass(frozen=True)
class TrainingDistribution:
    """How `train` spreads its work: devices, processes, data, and who writes the run folder.

    Built by `resolve_distribution`; `train` builds the model and runs `fit` in `scope()`,
    reads its data through `bag_dataset` and keeps the callbacks `callbacks` returns.

    Args:
        strategy: the `tf.distribute.Strategy` (TensorFlow backend), else `None`.
        distribution: the `keras.distribution.DataParallel` (JAX backend), else `None`.
        num_replicas: devices the global batch is split over (all processes together).
        cluster: the `Cluster` of processes.
    """

    strategy: object = None
    distribution: object = None
    num_replicas: int = 1
    cluster: Cluster = Cluster()

    @property
    def num_processes(self):
        return self.cluster.num_processes

    @property
    def process_id(self):
        """This process's index (0 for a single process)."""
        return self.cluster.process_id or 0

    @property
    def is_chief(self):
        """Whether this process writes the run folder (process 0)."""
        return self.process_id == 0

    def scope(self):
        """The context in which the model is built and trained."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()

    def bag_dataset(self, make_dataset, files, *, batch_size, **kwargs):
        """This process's part of the global batches, from `make_dataset(files, batch_size=...,
        **kwargs)` (`make_bag_dataset`).

        On one device without a strategy it is `make_dataset(files, batch_size=batch_size,
        **kwargs)` as is. Otherwise: the files of this process (`shard_files`),
        `batch_size / processes` bags per batch, the remainder dropped, the same number of
        batches in every process, and, under a `tf.distribute` strategy, the mask as uint8.

        Raises:
            ConfigError: a `batch_size` that does not divide among the devices, or too few
                shard files or bags for the processes.
        """
        if self.strategy is None and self.num_replicas == 1:
            return make_dataset(files, batch_size=batch_size, **kwargs)
        if batch_size % self.num_replicas:
            raise ConfigError(
                "batch_size",
                f"{batch_size} bags per batch do not divide among "
                f"{self.num_replicas} devices: use a multiple of {self.num_replicas}",
            )
        local_batch = batch_size // self.num_processes
        counts = count_bags_per_shard(files)
        parts = shard_files(counts, self.num_processes)
        what = "training" if kwargs.get("training") else "validation"
        if self.num_processes > 1 and len(counts) < self.num_processes:
            raise ConfigError(
                "train_data" if what == "training" else "val_data",
                f"{len(counts)} {what} shard file(s) for {self.num_processes} processes: each "
                "process reads whole files; write more, smaller shards (smil extract "
                "--videos-per-shard)",
            )
        bags = [sum(counts[path] for path in part) for part in parts]
        steps = min(bags) // local_batch
        if steps == 0:
            raise ConfigError(
                "batch_size",
                f"{batch_size} bags per batch: a process has only {min(bags)} "
                f"{what} bags for its {local_batch} bags per batch",
            )
        left_out = sum(bags) - steps * batch_size
        if left_out and not kwargs.get("balance"):
            logger.warning(
                "%d of %d %s bags are left out of each epoch: %d full global batches of %d bags",
                left_out,
                sum(bags),
                what,
                steps,
                batch_size,
            )
        mine = parts[self.process_id]
        logger.info(
            "process %d of %d reads %d %s shard file(s), %d bags",
            self.process_id,
            self.num_processes,
            len(mine),
            what,
            bags[self.process_id],
        )
        dataset = make_dataset(mine, batch_size=local_batch, drop_remainder=True, **kwargs)
        if dataset.cardinality() != tf.data.INFINITE_CARDINALITY:
            dataset = dataset.take(steps)
        if self.strategy is not None:
            # Keras 3 sums the first batch across replicas (`_maybe_symbolic_build`): not bools.
            dataset = dataset.map(
                lambda inputs, *rest: (
                    {**inputs, "mask": tf.cast(inputs["mask"], tf.uint8)},
                    *rest,
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        return dataset

    def callbacks(self):
        """Callbacks to run first in `fit`: batch normalization over the global batch under a
        `tf.distribute` strategy with several replicas (none otherwise)."""
        if self.strategy is None or self.num_replicas == 1:
            return []
        return [_GlobalBatchNormalization()]

    def writers(self, callbacks):
        """The callbacks that write files (logs, checkpoints), in process 0 only.

        Under `keras.distribution` they run with no distribution current: Keras' saving
        creates a variable, and creating a distributed one is a step every process must take
        together, which the others, writing nothing, never do.
        """
        if not self.is_chief:
            return []
        if self.distribution is None:
            return list(callbacks)
        return [_Undistributed(callbacks)]

    def backup_and_restore(self, backup_dir):
        """`keras.callbacks.BackupAndRestore` whose backups process 0 alone writes (with no
        distribution current, as `writers`); every process restores from them."""
        if self.is_chief:
            return _Backup(str(backup_dir))
        return _RestoreOnly(str(backup_dir), delete_checkpoint=False)

    def wait_for_writers(self):
        """Returns in every process once all of them got here: after `fit`, the others read the
        run folder (history, best checkpoint) only once process 0 has finished writing it."""
        if self.num_processes == 1:
            return
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("smil_keras: the run folder is written")

    def check_same_everywhere(self, what, value):
        """Raises a `ConfigError` in every process unless `value` (ints) is the same in all of
        them: e.g. what each process finds in a run folder it should share with the others."""
        if self.num_processes == 1:
            return
        from jax.experimental import multihost_utils

        values = multihost_utils.process_allgather(np.asarray(value, dtype=np.int64))
        values = np.asarray(values).reshape(self.num_processes, -1)
        if (values != values[0]).any():
            found = ", ".join(f"process {index}: {list(row)}" for index, row in enumerate(values))
            raise ConfigError(
                "run_dir",
                f"the processes disagree on {what} ({found}): run_dir "
                "must be a folder every host sees, with the same contents",
            )

    def describe(self):
        if self.strategy is not None:
            return f"{self.num_replicas} replica(s) of tf.distribute.{type(self.strategy).__name__}"
        if self.distribution is not None:
            return (
                f"keras.distribution.DataParallel over {self.num_replicas} device(s) in "
                f"{self.num_processes} process(es); this is process {self.process_id}"
            )
        return "one device"


class _GlobalBatchNormalization(keras.callbacks.Callback):
    """Batch normalization over the global batch (`synchronized=True`) while epochs train, as
    one device computes it; off between epochs, so checkpoints keep the layers' saved config
    (a `synchronized` layer cannot be loaded on another backend)."""

    def _synchronize(self, value):
        for layer in self.model._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = value

    def on_epoch_begin(self, epoch, logs=None):
        self._synchronize(True)

    def on_epoch_end(self, epoch, logs=None):
        self._synchronize(False)

    def on_train_end(self, logs=None):
        self._synchronize(False)


@contextlib.contextmanager
def _no_distribution():
    """No `keras.distribution` current: the variables created are this process's own."""
    current = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(current)


class _Undistributed(keras.callbacks.Callback):
    """Runs `callbacks` with no distribution current (`TrainingDistribution.writers`)."""

    def __init__(self, callbacks):
        super().__init__()
        self.callbacks = list(callbacks)

    def set_model(self, model):
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)


def _forward(hook):
    def forwarded(self, *args, **kwargs):
        with _no_distribution():
            for callback in self.callbacks:
                getattr(callback, hook)(*args, **kwargs)

    forwarded.__name__ = hook
    return forwarded


# Every hook (`on_epoch_end`, `on_train_batch_end`, ...) goes to the wrapped callbacks.
for _hook in [name for name in dir(keras.callbacks.Callback) if name.startswith("on_")]:
    setattr(_Undistributed, _hook, _forward(_hook))


class _Backup(keras.callbacks.BackupAndRestore):
    """Process 0's `BackupAndRestore`: restores as usual, saves with no distribution current."""

    def _save_model(self):
        with _no_distribution():
            super()._save_model()


class _RestoreOnly(keras.callbacks.BackupAndRestore):
    """Restores process 0's backup in the other processes; writes nothing."""

    def _save_model(self):
        pass


def resolve_distribution(config):
    """The `TrainingDistribution` for `config` on this machine and Keras backend.

    On the JAX backend with several processes this joins them
    (`keras.distribution.initialize`): call it before anything else runs on JAX.

    Args:
        config: a `TrainConfig` (`strategy`, `distribution`, `coordinator_address`,
            `num_processes`, `process_id`).

    Returns:
        A `TrainingDistribution`.

    Raises:
        ConfigError: a set-up this backend cannot train with (several hosts on TensorFlow,
            `strategy="mirrored"` on JAX, `distribution="data_parallel"` on TensorFlow, ...).

    Example:

    >>> distribution = resolve_distribution(TrainConfig(distribution="auto"))  # doctest: +SKIP
    >>> with distribution.scope():  # doctest: +SKIP
    ...     model = build_detector(...)
    """
    cluster = cluster_from_environment(config)
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_distribution(config, cluster)
    if config.distribution == "data_parallel":
        raise ConfigError(
            "distribution",
            f"keras.distribution.DataParallel needs the JAX "
            f"backend (KERAS_BACKEND=jax), not {backend}; on TensorFlow use "
            "strategy='mirrored' for several devices of one host",
        )
    if cluster.num_processes > 1:
        raise ConfigError(
            "num_processes",
            f"{cluster.num_processes} processes ({cluster.source}): training on several hosts "
            f"needs the JAX backend (KERAS_BACKEND=jax). On {backend} `smil train` uses the "
            "devices of one host only: Keras 3 fit fails with TensorFlow's "
            "MultiWorkerMirroredStrategy (keras-team/keras#20585, #20329)",
        )
    if backend != "tensorflow":
        if config.strategy == "mirrored":
            raise ConfigError(
                "strategy",
                f"'mirrored' is a TensorFlow strategy; the {backend} backend trains on one device",
            )
        return TrainingDistribution()
    gpus = tf.config.list_logical_devices("GPU")
    if config.strategy == "mirrored" or (config.strategy == "auto" and len(gpus) > 1):
        strategy = tf.distribute.MirroredStrategy()
        return TrainingDistribution(strategy=strategy, num_replicas=strategy.num_replicas_in_sync)
    return TrainingDistribution()


def _jax_distribution(config, cluster):
    if config.strategy == "mirrored":
        raise ConfigError(
            "strategy",
            "'mirrored' is a TensorFlow strategy; on the JAX backend "
            "use distribution='data_parallel' (or 'auto')",
        )
    if cluster.num_processes > 1:
        if config.distribution == "none":
            raise ConfigError(
                "distribution",
                f"'none' with {cluster.num_processes} processes "
                f"({cluster.source}): use 'data_parallel' or 'auto'",
            )
        cluster = _join(cluster)
    devices = keras.distribution.list_devices()
    if config.distribution == "none" or (config.distribution == "auto" and len(devices) == 1):
        return TrainingDistribution()
    distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    return TrainingDistribution(
        distribution=distribution, num_replicas=len(devices), cluster=cluster
    )


def _join(cluster):
    """Joins this process to the others (`keras.distribution.initialize`), once."""
    import jax

    cluster.check_joinable()
    if not jax.distributed.is_initialized():
        logger.info(
            "joining %d processes (%s), coordinator %s",
            cluster.num_processes,
            cluster.source,
            cluster.coordinator_address or "found by JAX",
        )
        keras.distribution.initialize(
            cluster.coordinator_address, cluster.num_processes, cluster.process_id
        )
    if jax.process_count() != cluster.num_processes:
        raise ConfigError(
            "num_processes",
            f"JAX runs {jax.process_count()} processes, but "
            f"{cluster.num_processes} were asked for ({cluster.source})",
        )
    return dataclasses.replace(cluster, process_id=jax.process_index())
