"""What a run gives back: a killed run resumes only with its own settings, the returned model is
the best epoch's, and the detector carries the view it was trained on.

Tiny detectors (tiny backbone, 32 px faces, 4 filters) on 8 bags of random faces, 1-2 epochs;
the two runs that diverge at epoch 1 serve the best-epoch and the view tests.
"""

import keras
import numpy as np
import pytest

from smil_keras.errors import ConfigError
from smil_keras.faces import FaceView
from smil_keras.training import read_history, train

pytestmark = pytest.mark.slow

SIZE = 32  # the face size of tiny_train_config (tests/training/conftest.py)


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
def shards(tmp_path_factory, write_random_bags):
    """One shard of 8 bags (4 real, 4 fake) of 3 random faces."""
    return [
        str(shard) for shard in write_random_bags(tmp_path_factory.mktemp("bags"), [0, 1] * 4, SIZE)
    ]


def weights_of(path):
    return keras.saving.load_model(path).get_weights()


def assert_same_weights(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e)


def test_resuming_with_other_settings_is_refused_naming_each_field(
    tmp_path, shards, tiny_train_config, train_killed_after_first_epoch
):
    config = tiny_train_config(tmp_path / "run", shards)
    train_killed_after_first_epoch(config)
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


@pytest.fixture(scope="module", params=[True, False], ids=["restore_best", "keep_last"])
def diverged_run(request, tmp_path_factory, shards, tiny_train_config):
    """A 2-epoch run (3 faces per bag, margin 1.2) whose weights turn NaN when epoch 1 begins,
    with `restore_best` True and False: `(restore_best, result)`."""
    config = tiny_train_config(
        tmp_path_factory.mktemp("run"),
        shards,
        monitor="val_loss",
        monitor_mode="min",
        restore_best=request.param,
        margin=1.2,
        instances=3,
    )
    return request.param, train(config, callbacks=[DivergeAt(1)])


def test_the_returned_model_is_the_best_epochs_unless_told_otherwise(diverged_run):
    restore_best, result = diverged_run
    history = read_history(result.run_dir / "history.csv")
    assert np.isfinite(history[0]["val_loss"]) and np.isnan(history[1]["val_loss"])
    assert result.best_model_path == result.run_dir / "best.keras"
    best, last = (
        weights_of(result.run_dir / "best.keras"),
        weights_of(result.run_dir / "last.keras"),
    )
    assert all(np.isfinite(w).all() for w in best) and any(np.isnan(w).any() for w in last)
    assert_same_weights(result.model.get_weights(), best if restore_best else last)


def test_the_detector_carries_the_view_it_was_trained_on(diverged_run):
    _, result = diverged_run
    expected = FaceView(image_size=SIZE, margin=1.2, instances=3, preprocessing="tiny")
    assert result.model.view == expected
    for name in ("best.keras", "last.keras"):
        assert keras.saving.load_model(result.run_dir / name).view == expected
