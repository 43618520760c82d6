"""`train`: the paper's recipe around `model.fit`, with checkpoints, logs and resume."""

import collections
import csv
import dataclasses
import importlib.util
import logging
import math
import pathlib

import keras
import numpy as np
import tensorflow as tf

from smil_keras.bags import find_shards
from smil_keras.data import make_bag_dataset
from smil_keras.errors import BagFormatError, ConfigError
from smil_keras.models import build_detector
from smil_keras.training.batch_statistics import RecomputeBatchStatistics
from smil_keras.training.distribution import resolve_distribution
from smil_keras.training.learning_rate import step_decay
from smil_keras.training.train_config import TrainConfig
from smil_keras.training.train_result import TrainResult

logger = logging.getLogger(__name__)


def train(config, callbacks=()):
    """Trains a detector as `config` says and returns a `TrainResult`.

    The run folder `config.run_dir` receives:

    - `config.yaml`: the resolved config;
    - `history.csv`: one row per epoch (loss, AUC, accuracy, validation metrics, learning rate);
    - `logs/`: TensorBoard logs;
    - `last.keras` (after every epoch) and `best.keras` (best `config.monitor` so far);
    - `backup/`: the state `keras.callbacks.BackupAndRestore` needs to resume, removed once
      training ends.

    Running `train` again on a run folder whose training was killed resumes at the epoch after
    the last one completed, with weights, optimizer state, learning rate, history and the best
    score so far as they were. The config must be the one the run was started with: any field
    that differs from the saved `config.yaml` (variant, image size, learning rate, epochs, ...)
    is refused with a `ConfigError` naming each field's saved and new values, and `config.yaml`
    is never overwritten. A run folder holding a finished run is refused (pick another one).

    Before any folder is created, the shards are read once (their labels only) and training
    that cannot be right is refused: shards without any bag (`ConfigError` naming the files),
    bags without a 0/1 label, or training data of one class only (naming the files and the
    class counts; `TrainConfig(allow_one_class=True)` trains anyway). Validation data of one
    class only trains with a logged warning: its AUC is undefined.

    The detector carries the view it is trained on (`model.view`: image size, margin, faces per
    bag, preprocessing), and both pipelines are built from it, so the saved model tells
    evaluation, prediction and export how it sees a face. At the end, `TrainResult.model` holds
    the best epoch's weights (`best.keras`) unless `config.restore_best` is False.

    Args:
        config: a `TrainConfig`.
        callbacks: extra Keras callbacks, run after the built-in ones.

    Example:

    >>> from smil_keras.training import TrainConfig, train
    >>> config = TrainConfig(train_data=["bags/train"], val_data=["bags/val"],
    ...                      backbone="tiny", image_size=64, weights=None, epochs=2)
    >>> result = train(config)  # doctest: +SKIP
    >>> result.best_model_path  # doctest: +SKIP
    PosixPath('runs/smil/best.keras')
    """
    if not config.train_data:
        raise ConfigError("train_data", "no training data: give bag shard files or folders")
    train_files = find_shards(config.train_data)
    val_files = find_shards(config.val_data) if config.val_data else []
    _check_labels(train_files, "train_data", allow_one_class=config.allow_one_class)
    if val_files:
        _check_labels(val_files, "val_data", allow_one_class=True)
    run_dir = pathlib.Path(config.run_dir)
    backup_dir = run_dir / "backup"
    history_path = run_dir / "history.csv"
    previous = read_history(history_path)
    resuming = backup_dir.is_dir() and any(backup_dir.iterdir())
    if previous and not resuming:
        raise FileExistsError(
            f"{run_dir} already holds a finished run ({len(previous)} epochs in {history_path}); "
            "choose another run folder"
        )
    if resuming:
        _check_same_run(config, run_dir / "config.yaml")

    monitor = config.monitor
    if not val_files and monitor.startswith("val_"):
        monitor = monitor[len("val_") :]
        logger.warning("no validation data: best.keras is picked on the training %s", monitor)

    # Several devices or hosts (JAX: joins the other processes, before anything runs on JAX).
    distribution = resolve_distribution(config)
    logger.info("training on %s", distribution.describe())
    distribution.check_same_everywhere(
        "the run folder (resuming, epochs done)", [resuming, len(previous)]
    )
    keras.utils.set_random_seed(config.seed)
    with distribution.scope():
        model = _build_model(config)
    train_data = distribution.bag_dataset(  # each process its part of the global batches
        make_bag_dataset,
        train_files,
        training=True,
        batch_size=config.batch_size,
        view=model.view,
        seed=config.seed,
        random_crop=config.random_crop,
        flip=config.flip,
        balance=config.balance,
        persons=config.persons,
    )
    if config.steps_per_epoch and not config.balance:
        train_data = train_data.repeat()  # epochs of a fixed length run across passes
    val_data = None
    if val_files:
        val_data = distribution.bag_dataset(
            make_bag_dataset,
            val_files,
            training=False,
            batch_size=config.batch_size,
            view=model.view,
            persons=config.persons,
        )

    # Everything is checked: only now does the run folder appear (or the killed run resume).
    # Process 0 alone writes it (one process, but for training on several hosts).
    if distribution.is_chief:
        run_dir.mkdir(parents=True, exist_ok=True)
    if resuming:
        logger.info("resuming the run in %s after epoch %d", run_dir, len(previous))
    elif distribution.is_chief:
        config.save(run_dir / "config.yaml")

    best_so_far = [row[monitor] for row in previous if not math.isnan(row.get(monitor, math.nan))]
    pick = max if config.monitor_mode == "max" else min
    writers = [
        keras.callbacks.CSVLogger(str(history_path), append=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / "last.keras")),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"),
            monitor=monitor,
            mode=config.monitor_mode,
            save_best_only=True,
            initial_value_threshold=pick(best_so_far) if best_so_far else None,
        ),
    ]
    if importlib.util.find_spec("tensorboard"):
        writers.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")))
    else:
        logger.warning(
            "TensorBoard is not installed: no logs in %s (pip install tensorboard)",
            run_dir / "logs",
        )
    fit_callbacks = [
        *distribution.callbacks(),
        keras.callbacks.LearningRateScheduler(
            lambda epoch: step_decay(
                epoch, config.learning_rate, config.lr_decay_every, config.lr_decay_factor
            )
        ),
        *distribution.writers(writers),  # process 0 alone writes the run folder
        # Last of the built-ins: an epoch is backed up only once it is logged and saved.
        distribution.backup_and_restore(backup_dir),
    ]
    if distribution.num_processes == 1:  # not yet with several: each sees part of a batch
        # Evaluation-mode statistics of the weights of each epoch's end, before validation
        # and checkpoints (`batch_statistics`: the moving averages can collapse evaluation).
        fit_callbacks.insert(0, RecomputeBatchStatistics(train_data))
    fit_callbacks.extend(callbacks)
    with distribution.scope():
        model.fit(  # the bag pipeline has a known length: Keras counts the steps from the start
            train_data,
            validation_data=val_data,
            epochs=config.epochs,
            steps_per_epoch=config.steps_per_epoch,
            callbacks=fit_callbacks,
            shuffle=False,  # the bag pipeline shuffles
            verbose=2 if distribution.is_chief else 0,
        )
    distribution.wait_for_writers()
    history = read_history(history_path)
    if all(math.isnan(row.get(monitor, math.nan)) for row in history):
        logger.warning(
            "%s is NaN in every epoch: the training diverged (lower the learning rate?)", monitor
        )
    best_path = run_dir / "best.keras"
    if not best_path.exists():  # the monitor was never logged
        best_path = run_dir / "last.keras"
    elif config.restore_best:
        with distribution.scope():
            model.load_weights(best_path)
    return TrainResult(
        model=model,
        history=history,
        run_dir=run_dir,
        best_model_path=best_path,
    )


def _build_model(config):
    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    try:
        model = build_detector(
            variant=config.variant,
            backbone=config.backbone,
            image_size=config.image_size,
            weights=config.weights,
            margin=config.margin,
            instances=config.instances,
            **config.model_kwargs,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
        jit_compile=config.jit_compile,
    )
    return model


def read_history(path):
    """Reads a run's `history.csv` into a list of dicts (one per epoch), `[]` if absent."""
    path = pathlib.Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return [
        {key: int(value) if key == "epoch" else _number(value) for key, value in row.items()}
        for row in rows
    ]


def _number(text):
    return math.nan if text in ("", "NA", None) else float(text)


# Not settings of the run: where it lives (a folder may be moved between sessions) and which
# process of a cluster reads the config.
_NOT_SETTINGS = ("run_dir", "coordinator_address", "num_processes", "process_id")


def _check_same_run(config, saved_path):
    """Refuses to resume the run saved at `saved_path` with a config that differs from it,
    naming each differing field with its saved and new values."""
    if not saved_path.is_file():
        logger.warning("%s is missing: resuming without checking the settings", saved_path)
        return
    try:
        saved = TrainConfig.from_file(saved_path)
    except ConfigError as error:
        raise ConfigError(
            error.key,
            f"{error.reason}; the run cannot be checked for resuming, choose another run folder",
        ) from None
    changed = [
        field.name
        for field in dataclasses.fields(config)
        if field.name not in _NOT_SETTINGS
        and getattr(saved, field.name) != getattr(config, field.name)
    ]
    if changed:
        differences = "; ".join(
            f"{name}: {getattr(saved, name)!r} -> {getattr(config, name)!r}" for name in changed
        )
        raise ConfigError(
            changed[0] if len(changed) == 1 else changed,
            f"{saved_path.parent} holds a killed run with other settings ({differences}); "
            f"resume it with the settings of {saved_path}, or choose another run folder",
        )


def _check_labels(files, key, allow_one_class):
    """Refuses shards without any bag, bags without a 0/1 label and (unless `allow_one_class`)
    data of one class, naming the files and the class counts; warns about validation data of
    one class (`key` "val_data", whose AUC is then undefined)."""
    counts = {path: _label_counts(path) for path in files}
    total = sum(counts.values(), collections.Counter())
    what = "training" if key == "train_data" else "validation"
    if not total:
        raise ConfigError(key, f"no bag in the {what} shards {_names(files)}: they are empty")
    unlabelled = {
        path: sum(n for label, n in count.items() if label not in (0, 1))
        for path, count in counts.items()
    }
    if any(unlabelled.values()):
        where = _names([path for path, n in unlabelled.items() if n])
        raise ConfigError(
            key,
            f"{sum(unlabelled.values())} {what} bag(s) without a 0 (real) / 1 (fake) label "
            f"in {where}: label them (smil extract --labels) or leave those shards out",
        )
    classes = f"{total[0]} real, {total[1]} fake bags in {_names(files)}"
    if total[0] and total[1]:
        logger.info("%s data: %s", what, classes)
    elif key == "val_data":
        logger.warning(
            "validation data of one class only (%s): its AUC is undefined, and "
            "best.keras is picked on it",
            classes,
        )
    elif not allow_one_class:
        raise ConfigError(
            key,
            f"training data of one class only ({classes}): a detector cannot learn what "
            "separates real from fake videos; add the other class, or set allow_one_class=True",
        )
    else:
        logger.warning("training data of one class only (%s): allow_one_class is set", classes)


def _label_counts(path):
    """`Counter` of the video labels in one shard, parsing the label feature only."""
    labels = (
        tf.data.TFRecordDataset(path)
        .batch(1024)
        .map(
            lambda records: tf.io.parse_example(
                records, {"label": tf.io.FixedLenFeature([], tf.int64, default_value=-1)}
            )["label"]
        )
    )
    try:
        values = [batch.numpy() for batch in labels]
    except tf.errors.OpError as error:  # a corrupt or truncated record
        raise BagFormatError(path, error.message) from None
    return collections.Counter(np.concatenate(values).tolist() if values else [])


def _names(files, limit=4):
    """Up to `limit` file names, then how many more."""
    shown = ", ".join(str(path) for path in files[:limit])
    return shown + (f" and {len(files) - limit} more" if len(files) > limit else "")
