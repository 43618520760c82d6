"""What a run gives back: a killed run resumes only with its own settings, the returned model is
the best epoch's, and the detector carries the view it was trained on.

Tiny detectors (tiny backbone, 32 px faces, 4 filters) on 8 bags of random faces, 1-2 epochs.
"""

import keras
import numpy as np
import pytest

from smil_keras.bags import BagRecord, BagShardWriter
from smil_keras.errors import ConfigError
from smil_keras.faces import FaceView
from smil_keras.training import TrainConfig, read_history, train

pytestmark = pytest.mark.slow

SIZE = 32


class SimulatedKill(Exception):
    pass


class KillAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise SimulatedKill(f"killed after epoch {epoch}")


class DivergeAt(keras.callbacks.Callback):
    """Makes every weight NaN when epoch `epoch` begins, as a diverging run does: that epoch
    and the next ones cannot be the best."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.set_weights(
                [np.full(w.shape, np.nan, w.dtype) for w in self.model.get_weights()]
            )


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """One shard of 8 bags (4 real, 4 fake) of 3 random faces each."""
    folder = tmp_path_factory.mktemp("bags")
    rng = np.random.default_rng(0)
    with BagShardWriter(folder, videos_per_shard=8) as writer:
        for b in range(8):
            crops = list(rng.integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8))
            writer.write(BagRecord(f"bag{b}", f"bag{b}.mp4", crops, label=b % 2))
    return [str(path) for path in sorted(folder.glob("*.tfrecord"))]


def tiny_config(run_dir, shards, **changes):
    values = dict(
        train_data=shards,
        val_data=shards,
        run_dir=str(run_dir),
        variant="s-mil",
        backbone="tiny",
        image_size=SIZE,
        weights=None,
        model_kwargs={"filters": 4},
        epochs=2,
        batch_size=4,
        instances=2,
        learning_rate=1e-3,
    )
    return TrainConfig(**{**values, **changes})


def weights_of(path):
    return keras.saving.load_model(path).get_weights()


def assert_same_weights(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e)


def test_resuming_with_other_settings_is_refused_naming_each_field(tmp_path, shards):
    config = tiny_config(tmp_path / "run", shards)
    with pytest.raises(SimulatedKill):
        train(config, callbacks=[KillAfterFirstEpoch()])
    saved = {
        name: (tmp_path / "run" / name).read_bytes() for name in ("config.yaml", "history.csv")
    }
    other = config.override({"variant": "mil", "learning_rate": 2e-3, "image_size": 48})
    with pytest.raises(ConfigError) as error:
        train(other)
    message = str(error.value)
    assert error.value.key == ["variant", "image_size", "learning_rate"]
    for difference in (
        "variant: 's-mil' -> 'mil'",
        "image_size: 32 -> 48",
        "learning_rate: 0.001 -> 0.002",
    ):
        assert difference in message
    assert "epochs" not in message and "batch_size" not in message  # only what differs
    for name, content in saved.items():  # nothing overwritten, nothing appended
        assert (tmp_path / "run" / name).read_bytes() == content, name

    result = train(config)  # the same settings resume where the run stopped
    assert [row["epoch"] for row in result.history] == [0, 1]
    assert (tmp_path / "run" / "config.yaml").read_bytes() == saved["config.yaml"]


@pytest.mark.parametrize("restore_best", [True, False])
def test_the_returned_model_is_the_best_epochs_unless_told_otherwise(
    tmp_path, shards, restore_best
):
    config = tiny_config(
        tmp_path / "run", shards, monitor="val_loss", monitor_mode="min", restore_best=restore_best
    )
    result = train(config, callbacks=[DivergeAt(1)])
    history = read_history(result.run_dir / "history.csv")
    assert np.isfinite(history[0]["val_loss"]) and np.isnan(history[1]["val_loss"])
    assert result.best_model_path == result.run_dir / "best.keras"
    best, last = (
        weights_of(result.run_dir / "best.keras"),
        weights_of(result.run_dir / "last.keras"),
    )
    assert all(np.isfinite(w).all() for w in best) and any(np.isnan(w).any() for w in last)
    assert_same_weights(result.model.get_weights(), best if restore_best else last)


def test_the_detector_carries_the_view_it_was_trained_on(tmp_path, shards):
    config = tiny_config(tmp_path / "run", shards, epochs=1, margin=1.2, instances=3)
    result = train(config)
    expected = FaceView(image_size=SIZE, margin=1.2, instances=3, preprocessing="tiny")
    assert result.model.view == expected
    for name in ("best.keras", "last.keras"):
        assert keras.saving.load_model(result.run_dir / name).view == expected
