"""`train`: the paper's recipe around `model.fit`, with checkpoints, logs and resume."""

import csv
import importlib.util
import logging
import math
import pathlib

import keras
import tensorflow as tf

from smil_keras.training.learning_rate import step_decay
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
    score so far as they were. A run folder holding a finished run is refused (pick another one).

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
    from smil_keras.bags import find_shards
    from smil_keras.data import make_bag_dataset

    if not config.train_data:
        raise ValueError("no training data: set train_data (bag shard files or folders)")
    train_files = find_shards(config.train_data)
    val_files = find_shards(config.val_data) if config.val_data else []
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
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.yaml")
    if resuming:
        logger.info("resuming the run in %s after epoch %d", run_dir, len(previous))

    monitor = config.monitor
    if not val_files and monitor.startswith("val_"):
        monitor = monitor[len("val_"):]
        logger.warning("no validation data: best.keras is picked on the training %s", monitor)

    keras.utils.set_random_seed(config.seed)
    train_data = make_bag_dataset(
        train_files,
        training=True,
        batch_size=config.batch_size,
        instances=config.instances,
        image_size=config.image_size,
        seed=config.seed,
        margin=config.margin,
        random_crop=config.random_crop,
        flip=config.flip,
        balance=config.balance,
    )
    if config.steps_per_epoch and not config.balance:
        train_data = train_data.repeat()  # epochs of a fixed length run across passes
    val_data = None
    if val_files:
        val_data = make_bag_dataset(
            val_files, training=False, batch_size=config.batch_size, image_size=config.image_size,
            margin=config.margin,
        )

    with _strategy(config.strategy).scope():
        model = _build_model(config)

    best_so_far = [row[monitor] for row in previous if monitor in row]
    pick = max if config.monitor_mode == "max" else min
    fit_callbacks = [
        keras.callbacks.LearningRateScheduler(
            lambda epoch: step_decay(
                epoch, config.learning_rate, config.lr_decay_every, config.lr_decay_factor
            )
        ),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / "last.keras")),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"),
            monitor=monitor,
            mode=config.monitor_mode,
            save_best_only=True,
            initial_value_threshold=pick(best_so_far) if best_so_far else None,
        ),
        # Last of the built-ins: an epoch is backed up only once it is logged and saved.
        keras.callbacks.BackupAndRestore(str(backup_dir)),
    ]
    if importlib.util.find_spec("tensorboard"):
        fit_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")))
    else:
        logger.warning("TensorBoard is not installed: no logs in %s (pip install tensorboard)",
                       run_dir / "logs")
    fit_callbacks.extend(callbacks)
    model.fit(  # the bag pipeline has a known length: Keras counts the steps from the start
        train_data,
        validation_data=val_data,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        callbacks=fit_callbacks,
        shuffle=False,  # the bag pipeline shuffles
        verbose=2,
    )
    best_path = run_dir / "best.keras"
    return TrainResult(
        model=model,
        history=read_history(history_path),
        run_dir=run_dir,
        best_model_path=best_path if best_path.exists() else run_dir / "last.keras",
    )


def _build_model(config):
    from smil_keras.models import build_detector

    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    try:
        model = build_detector(
            variant=config.variant,
            backbone=config.backbone,
            image_size=config.image_size,
            weights=config.weights,
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


def _strategy(name):
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        strategy = tf.distribute.MirroredStrategy()
        logger.info("training on %d replicas", strategy.num_replicas_in_sync)
        return strategy
    return tf.distribute.get_strategy()


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
