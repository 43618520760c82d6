"""Training on several devices or processes is training on one device, not just running.

Each run is a subprocess (the device count and the backend are fixed when a process starts):
- TensorFlow: `MirroredStrategy` over 2 logical CPU devices against 1 device;
- JAX: `keras.distribution.DataParallel` over 2 host devices
  (`XLA_FLAGS=--xla_force_host_platform_device_count=2`) against no distribution;
- JAX: 2 processes joined over 127.0.0.1, each reading its own shard file, killed after the
  first epoch and resumed, against one process training on the global batches they make.

Same global batch, same seed: the losses and the weights must agree to float32 rounding
(tolerance 1e-5; the runs here differ by about 1e-6: sums taken in another order).
A tiny S-MIL detector (tiny backbone, 32 px faces) on 8 bags in 2 shards, 2 epochs.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SIZE = 32
TOLERANCE = 1e-5

# The config of every run; `run_dir` and the distribution fields are added by each script.
CONFIG = dict(
    backbone="tiny",
    image_size=SIZE,
    weights=None,
    variant="s-mil",
    model_kwargs={"filters": 8},
    epochs=2,
    batch_size=4,
    instances=3,
    random_crop=False,
    learning_rate=1e-3,
    restore_best=False,
    seed=3,
)

# Writes what a run gives: its history and its final weights.
_REPORT = """
import json, numpy as np
def report(path, result, **extra):
    history = {key: [row[key] for row in result.history] for key in ("loss", "val_loss")}
    weights = [np.asarray(w).tolist() for w in result.model.get_weights()]
    with open(path, "w") as file:
        json.dump({**history, "weights": weights, **extra}, file)
"""

_TENSORFLOW_RUN = (
    _REPORT
    + """
import sys, tensorflow as tf
devices, shards, run_dir, out = int(sys.argv[1]), sys.argv[2:4], sys.argv[4], sys.argv[5]
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
from smil_keras.training import TrainConfig, train
config = TrainConfig(train_data=shards, val_data=shards, run_dir=run_dir, strategy="mirrored",
                     **CONFIG)
report(out, train(config), devices=len(tf.config.list_logical_devices("CPU")))
"""
)

_JAX_DEVICES_RUN = (
    _REPORT
    + """
import sys, keras
from smil_keras.training import TrainConfig, train
shards, folder = sys.argv[1:3], sys.argv[3]
for distribution in ("data_parallel", "none"):
    config = TrainConfig(train_data=shards, val_data=shards, run_dir=f"{folder}/{distribution}",
                         distribution=distribution, **CONFIG)
    report(f"{folder}/{distribution}.json", train(config),
           devices=len(keras.distribution.list_devices()))
"""
)

# One of 2 processes: killed after the first epoch, then resumed. It records the shard files
# it reads, the epochs and steps it runs, and the callbacks it trains with. Process 0 writes its
# history a second late, as a slow shared disk would.
_JAX_PROCESS_RUN = (
    _REPORT
    + """
import sys, keras
from jax.experimental import multihost_utils
import smil_keras.training.trainer as trainer
from smil_keras.training import TrainConfig, train
port, process, run_dir, out, shards = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], \\
    sys.argv[5:]
seen = {"files": [], "epochs": [], "steps": [], "callbacks": []}
make_bag_dataset = trainer.make_bag_dataset
def recording_make_bag_dataset(files, **kwargs):
    seen["files"].append({"training": kwargs["training"], "files": [str(f) for f in files]})
    return make_bag_dataset(files, **kwargs)
trainer.make_bag_dataset = recording_make_bag_dataset
fit = keras.Model.fit
def recording_fit(self, *args, callbacks=(), **kwargs):
    names = [type(callback).__name__ for callback in callbacks]
    names += [type(inner).__name__ for callback in callbacks
              for inner in getattr(callback, "callbacks", [])]  # those run undistributed
    seen["callbacks"].append(names)
    return fit(self, *args, callbacks=callbacks, **kwargs)
keras.Model.fit = recording_fit
if process == 0:  # a slow disk: the others must wait for the run folder before reading it
    import time
    log_epoch = keras.callbacks.CSVLogger.on_epoch_end
    def slow_log_epoch(self, epoch, logs=None):
        time.sleep(1)
        log_epoch(self, epoch, logs)
    keras.callbacks.CSVLogger.on_epoch_end = slow_log_epoch
class Steps(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        seen["epochs"].append(epoch)
        seen["steps"].append(0)
    def on_train_batch_end(self, batch, logs=None):
        seen["steps"][-1] += 1
class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt
config = TrainConfig(train_data=shards, val_data=shards, run_dir=run_dir,
                     coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                     process_id=process, **CONFIG)
try:
    train(config, callbacks=[Steps(), Kill()])
except KeyboardInterrupt:  # both processes "killed" after epoch 0; then both start again
    multihost_utils.sync_global_devices("killed")
report(out, train(config, callbacks=[Steps()]), **seen)
"""
)

# One process, one device, plain Keras: each global batch is the concatenation of the batches
# the 2 processes read from their own shards, killed and resumed as they were.
_JAX_REFERENCE_RUN = (
    _REPORT
    + """
import sys, json, keras, tensorflow as tf
from smil_keras.data import make_bag_dataset
from smil_keras.training import TrainConfig
from smil_keras.training.learning_rate import step_decay
from smil_keras.training.trainer import _build_model
files, folder = json.loads(sys.argv[1]), sys.argv[2]  # per process: its training files
config = TrainConfig(**CONFIG)
local_batch = config.batch_size // 2
def global_batches(model, training):
    parts = [make_bag_dataset(part, training=training, batch_size=local_batch,
                              drop_remainder=True, view=model.view, seed=config.seed,
                              random_crop=config.random_crop, flip=config.flip)
             if training else
             make_bag_dataset(part, training=False, batch_size=local_batch,
                              drop_remainder=True, view=model.view) for part in files]
    return tf.data.Dataset.zip(*parts).map(
        lambda *batches: tf.nest.map_structure(lambda *xs: tf.concat(xs, 0), *batches))
def run(callbacks):
    keras.utils.set_random_seed(config.seed)
    model = _build_model(config)
    rate = keras.callbacks.LearningRateScheduler(
        lambda epoch: step_decay(epoch, config.learning_rate, config.lr_decay_every,
                                 config.lr_decay_factor))
    model.fit(global_batches(model, True), validation_data=global_batches(model, False),
                        epochs=config.epochs, shuffle=False, verbose=0,
                        callbacks=[rate, keras.callbacks.BackupAndRestore(f"{folder}/backup"),
                                   *callbacks])
    return model
history = {"loss": [], "val_loss": []}
class Record(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        for key in history:
            history[key].append(float(logs[key]))
class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt
try:
    run([Record(), Kill()])
except KeyboardInterrupt:
    pass
model = run([Record()])
with open(f"{folder}/reference.json", "w") as file:
    json.dump({**history, "weights": [np.asarray(w).tolist() for w in model.get_weights()]},
              file)
"""
)


def _script(body):
    return f"CONFIG = {CONFIG!r}\n" + textwrap.dedent(body)


def _run(body, args, env, timeout=600):
    command = [sys.executable, "-c", _script(body), *map(str, args)]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"run failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"


def _start(body, args, env):
    command = [sys.executable, "-c", _script(body), *map(str, args)]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _read(path):
    with open(path) as file:
        return json.load(file)


def assert_same_training(run, reference):
    np.testing.assert_allclose(run["loss"], reference["loss"], rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(
        run["val_loss"], reference["val_loss"], rtol=TOLERANCE, atol=TOLERANCE
    )
    assert len(run["weights"]) == len(reference["weights"])
    for got, expected in zip(run["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, write_random_bags):
    """2 shards of 4 bags (2 real, 2 fake each) of 3 random faces."""
    paths = write_random_bags(tmp_path_factory.mktemp("bags"), [0, 1] * 4, SIZE, per_shard=4)
    assert len(paths) == 2
    return [str(path) for path in paths]


def test_tensorflow_mirrored_on_two_devices_trains_as_one_device(shards, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    for devices in (2, 1):
        _run(
            _TENSORFLOW_RUN,
            [devices, *shards, tmp_path / f"run{devices}", tmp_path / f"{devices}.json"],
            env,
        )
    two, one = _read(tmp_path / "2.json"), _read(tmp_path / "1.json")
    assert (two["devices"], one["devices"]) == (2, 1)
    assert_same_training(two, one)


def test_jax_data_parallel_on_two_devices_trains_as_one_device(shards, jax_env, tmp_path):
    env = {**jax_env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    _run(_JAX_DEVICES_RUN, [*shards, tmp_path], env)
    two, one = _read(tmp_path / "data_parallel.json"), _read(tmp_path / "none.json")
    assert two["devices"] == 2
    assert_same_training(two, one)


@pytest.fixture(scope="module")
def two_processes(shards, jax_env, tmp_path_factory):
    """2 JAX processes (one device each) joined over 127.0.0.1, killed after the first epoch
    and resumed; returns what each recorded and the reference run's results."""
    folder = tmp_path_factory.mktemp("two_processes")
    with socket.socket() as probe:  # a free port for the coordinator
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workers = [
        _start(
            _JAX_PROCESS_RUN,
            [port, process, folder / "run", folder / f"{process}.json", *shards],
            jax_env,
        )
        for process in range(2)
    ]
    try:
        outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, f"process failed:\n{output[-6000:]}"
    processes = [_read(folder / f"{process}.json") for process in range(2)]
    training_files = [
        [entry["files"] for entry in process["files"] if entry["training"]][0]
        for process in processes
    ]
    _run(_JAX_REFERENCE_RUN, [json.dumps(training_files), folder], jax_env)
    return {
        "processes": processes,
        "reference": _read(folder / "reference.json"),
        "run_dir": folder / "run",
        "shards": shards,
    }


def test_two_jax_processes_train_as_one_process_on_the_same_global_batches(two_processes):
    first, second = two_processes["processes"]
    assert_same_training(first, two_processes["reference"])
    for got, expected in zip(
        second["weights"], first["weights"], strict=True
    ):  # one model, everywhere
        np.testing.assert_array_equal(got, expected)


def test_two_jax_processes_read_each_bag_once_per_epoch(two_processes):
    processes, shards = two_processes["processes"], two_processes["shards"]
    for role in (True, False):  # training, then validation
        files = [
            {tuple(entry["files"]) for entry in process["files"] if entry["training"] is role}
            for process in processes
        ]
        assert all(len(reads) == 1 for reads in files)  # the same files on resuming
        files = [next(iter(reads)) for reads in files]
        assert sorted(files[0] + files[1]) == shards  # disjoint, and every shard is read
    # Each process: 4 bags, 2 per step (half the global batch of 4), 2 steps per epoch:
    # the 8 bags, each once.
    for process in processes:
        assert process["epochs"] == [0, 1]  # killed after epoch 0, resumed at epoch 1
        assert process["steps"] == [2, 2]


def test_only_process_zero_writes_the_run_folder_and_both_resume_from_it(two_processes):
    first, second = two_processes["processes"]
    writers = {"CSVLogger", "ModelCheckpoint", "TensorBoard"}
    for callbacks in first["callbacks"]:
        assert writers <= set(callbacks) and "_Backup" in callbacks
    for callbacks in second["callbacks"]:
        assert not writers & set(callbacks) and "_RestoreOnly" in callbacks
    run_dir = two_processes["run_dir"]
    assert len(first["loss"]) == 2 and first["loss"] == second["loss"]  # history.csv, read back
    for name in ("config.yaml", "history.csv", "last.keras", "best.keras"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "backup").exists()
