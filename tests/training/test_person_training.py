"""`TrainConfig(persons=True)`: training and validation on bags ordered person by person.

A tiny S-MIL-T (tiny backbone, 32 px faces, 4 filters) on 8 bags of two people talking (tracks
alternating A, B, A, B, ...), random faces, 2 epochs.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from smil_keras.bags import BagRecord, BagShardWriter
from smil_keras.data import make_bag_dataset
from smil_keras.errors import ConfigError
from smil_keras.training import train, trainer

pytestmark = pytest.mark.slow

SIZE = 32  # the face size of tiny_train_config (tests/training/conftest.py)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """One shard of 8 bags (4 real, 4 fake) of 6 random faces of two alternating people."""
    folder = tmp_path_factory.mktemp("bags")
    rng = np.random.default_rng(0)
    with BagShardWriter(folder, videos_per_shard=8) as writer:
        for b in range(8):
            crops = list(rng.integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8))
            writer.write(
                BagRecord(
                    f"bag{b}",
                    f"bag{b}.mp4",
                    crops,
                    label=b % 2,
                    frame_indices=np.arange(6) // 2,
                    track_ids=[3, 8] * 3,
                )
            )
    return [str(path) for path in sorted(folder.glob("*.tfrecord"))]


def test_a_run_with_persons_trains_on_person_ordered_bags_and_resumes_only_with_them(
    tmp_path, shards, monkeypatch, tiny_train_config, train_killed_after_first_epoch
):
    made = []

    def spy(*args, **kwargs):
        dataset = make_bag_dataset(*args, **kwargs)
        made.append((kwargs["training"], kwargs.get("persons"), dataset.element_spec[0]))
        return dataset

    monkeypatch.setattr(trainer, "make_bag_dataset", spy)
    config = tiny_train_config(
        tmp_path / "run", shards, variant="s-mil-t", instances=4, persons=True
    )
    train_killed_after_first_epoch(config)
    # Training and validation both give the detector the people.
    assert [(training, persons) for training, persons, _ in made] == [(True, True), (False, True)]
    for _, _, spec in made:
        assert spec["person_ids"].dtype == tf.int32

    with pytest.raises(ConfigError, match=r"persons: True -> False") as error:
        train(config.override({"persons": False}))
    assert error.value.key == "persons"

    result = train(config)  # the same settings resume where the run stopped
    assert [row["epoch"] for row in result.history] == [0, 1]
    for row in result.history:
        assert math.isfinite(row["loss"]) and math.isfinite(row["val_loss"])
