"""Corrupt and empty shards: `make_bag_dataset` names the shard file, never a silent dataset.

A shard is corrupted here as a disk or a copy corrupts it: one byte flipped inside the data of a
record in the middle of the file, which TensorFlow's reader finds only when it gets there (its
own error names no file: "corrupted record at N").
"""

import logging
import os
import struct

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from smil_keras.bags import BagRecord, BagShardWriter, count_bags, read_bags  # noqa: E402
from smil_keras.bags.shard_files import count_bags_per_shard  # noqa: E402
from smil_keras.data import make_bag_dataset  # noqa: E402
from smil_keras.errors import NoBagsError  # noqa: E402

BAGS = [(2, 0), (3, 1), (1, 1), (2, 0), (4, 1), (2, 0), (3, 1)]  # (faces, label); 3 per shard


def record_offsets(path):
    """`(offset of the header, data length)` of each record, from the TFRecord framing as the
    format defines it (an 8-byte length, 4 checksum bytes, the data, 4 checksum bytes)."""
    with open(path, "rb") as file:
        data = file.read()
    offsets, position = [], 0
    while position < len(data):
        (length,) = struct.unpack("<Q", data[position : position + 8])
        offsets.append((position, length))
        position += 12 + length + 4
    return offsets


def corrupt_record(path, index):
    """Flips one byte in the middle of record `index`'s data."""
    start, length = record_offsets(path)[index]
    with open(path, "r+b") as file:
        file.seek(start + 12 + length // 2)
        byte = file.read(1)[0]
        file.seek(-1, os.SEEK_CUR)
        file.write(bytes([byte ^ 0xFF]))


@pytest.fixture
def shards(tmp_path):
    """Three shards (3, 3 and 1 bags) of 8 px grey faces."""
    with BagShardWriter(tmp_path, videos_per_shard=3) as writer:
        for b, (n, label) in enumerate(BAGS):
            writer.write(
                BagRecord(
                    f"bag{b}",
                    f"bag{b}.mp4",
                    [np.full((8, 8, 3), 10 * b, np.uint8)] * n,
                    label=label,
                )
            )
    return sorted(str(path) for path in tmp_path.glob("*.tfrecord"))


@pytest.mark.parametrize(
    "options",
    [
        dict(training=True, instances=2, seed=0),
        dict(training=False),
        dict(training=True, instances=2, seed=0, balance=True, cache=True),
    ],
    ids=["training", "evaluation", "balanced-cached"],
)
def test_a_record_corrupt_in_the_middle_of_a_shard_fails_naming_the_shard(shards, options):
    corrupt_record(shards[1], 1)
    # The framing is intact: the dataset builds (its first record is good), then fails when
    # the corrupt record is reached, naming the file and the record.
    dataset = make_bag_dataset(shards, batch_size=2, image_size=8, **options)
    pattern = os.path.basename(shards[1]) + r".*is corrupt: not all of its\] \[3\] \[records"
    with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
        for _ in dataset.take(20):
            pass


def test_good_shards_read_in_full_with_the_check(shards):
    """The check adds nothing and drops nothing: every bag of every shard, in order."""
    assert count_bags_per_shard(shards) == {
        shard: sum(1 for _ in tf.data.TFRecordDataset(shard)) for shard in shards
    }
    rows = [
        label.numpy()[:, 0]
        for _, label in make_bag_dataset(shards, training=False, batch_size=3, image_size=8)
    ]
    np.testing.assert_array_equal(np.concatenate(rows), [r.label for r in read_bags(shards)])


def test_a_shard_changed_after_the_dataset_was_made_fails_naming_it(shards):
    dataset = make_bag_dataset(shards, training=False, batch_size=2, image_size=8)
    start, _ = record_offsets(shards[0])[2]
    with open(shards[0], "r+b") as file:  # the last record cut off
        file.truncate(start)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=os.path.basename(shards[0]) + r".*is corrupt"
    ):
        list(dataset)


def test_an_empty_shard_among_others_is_skipped_with_a_warning_naming_it(shards, tmp_path, caplog):
    empty = tmp_path / "bags-00099.tfrecord"
    empty.write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        dataset = make_bag_dataset(tmp_path, training=False, batch_size=2, image_size=8)
    assert any(str(empty) in message and "empty" in message for message in caplog.messages)
    assert sum(int(label.shape[0]) for _, label in dataset) == len(BAGS)


def test_shards_without_any_bag_are_refused_naming_every_file(tmp_path):
    for name in ("a.tfrecord", "b.tfrecord"):
        (tmp_path / name).write_bytes(b"")
    for training in (True, False):
        with pytest.raises(NoBagsError, match=r"a\.tfrecord, .*b\.tfrecord") as caught:
            make_bag_dataset(tmp_path, training=training, batch_size=2)
        assert isinstance(caught.value, ValueError)  # the command line's exit code 2


def test_drop_remainder_with_fewer_bags_than_a_batch_is_refused(shards):
    assert count_bags(shards) == 7
    with pytest.raises(ValueError, match="hold 7 bags, fewer than batch_size=8"):
        make_bag_dataset(shards, training=True, batch_size=8, drop_remainder=True)
    assert len(make_bag_dataset(shards, training=True, batch_size=7, drop_remainder=True)) == 1
