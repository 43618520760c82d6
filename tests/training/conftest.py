"""Tiny trainings shared by the training tests (fixtures, so that the test modules stay
importable under ``--import-mode=importlib``)."""

import keras
import pytest

from smil_keras.training import TrainConfig, train


def _tiny_train_config(run_dir, shards, **changes):
    values = dict(
        train_data=shards,
        val_data=shards,
        run_dir=str(run_dir),
        variant="s-mil",
        backbone="tiny",
        image_size=32,
        weights=None,
        model_kwargs={"filters": 4},
        epochs=2,
        batch_size=4,
        instances=2,
        learning_rate=1e-3,
    )
    return TrainConfig(**{**values, **changes})


@pytest.fixture(scope="session")
def tiny_train_config():
    """The function ``tiny_train_config(run_dir, shards, **changes)``: the `TrainConfig` of a
    tiny S-MIL detector (tiny backbone, 32 px faces, 4 filters) trained and validated on
    `shards` for 2 epochs, batches of 4 bags of 2 faces, learning rate 1e-3, its run folder
    `run_dir`; `changes` override any field."""
    return _tiny_train_config


class _SimulatedKill(Exception):
    pass


class _KillAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise _SimulatedKill(f"killed after epoch {epoch}")


def _train_killed_after_first_epoch(config):
    with pytest.raises(_SimulatedKill):
        train(config, callbacks=[_KillAfterFirstEpoch()])


@pytest.fixture(scope="session")
def train_killed_after_first_epoch():
    """The function ``train_killed_after_first_epoch(config)``: runs ``train(config)`` and
    kills it as its first epoch ends (an exception out of ``fit``, as a killed job stops),
    leaving its run folder as the kill left it."""
    return _train_killed_after_first_epoch
