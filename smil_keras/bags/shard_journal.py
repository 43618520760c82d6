"""The finished videos of a shard not yet complete, kept beside it so a killed extraction resumes
per video."""

import dataclasses
import json
import os
import shutil

import tensorflow as tf

from smil_keras.bags.manifest import ManifestRow


class ShardJournal:
    """The videos of one shard range that are done, while the range's shard is not complete.

    `extract_to_shards` records each video of a range as soon as it is done: its serialised
    bag record (none for a video without a bag) in `{pos:05d}.example`, then its manifest row in
    `{pos:05d}.json`, in the folder `{shard}.journal` beside the shard (`pos`: the video's
    position in its range). Each file is written under a temporary name and renamed, and the row
    is written last, so an entry whose row exists is whole. When every video of the range is
    done, `assemble` writes the shard from the journaled records in range order, the caller
    saves the manifest and publishes the shard (`publish`), and the journal is removed. A
    resumed extraction extracts only the videos without an entry; because a shard is always
    assembled from the serialised records, in range order, it is byte-identical to the shard of
    an uninterrupted run.

    Args:
        shard: final path of the range's shard.

    Example:

    >>> journal = ShardJournal("bags/bags-00003.tfrecord")  # doctest: +SKIP
    >>> journal.add(0, row, record.serialize())  # doctest: +SKIP
    >>> sorted(journal.entries(videos))  # positions done  # doctest: +SKIP
    [0]
    """

    def __init__(self, shard):
        self.shard = os.fspath(shard)
        self.folder = self.shard + ".journal"

    def add(self, position, row, serialized=None):
        """Records video `position` of the range as done: its `ManifestRow` and, when it has a
        bag, the bag's serialised `tf.train.Example`."""
        os.makedirs(self.folder, exist_ok=True)
        stem = os.path.join(self.folder, f"{position:05d}")
        if serialized is not None:
            _write_atomically(stem + ".example", serialized)
        _write_atomically(stem + ".json", json.dumps(dataclasses.asdict(row)).encode("utf-8"))

    def entries(self, videos):
        """`{position: ManifestRow}` of the videos of the range (`[(path, video_id)]`) done.

        An entry that names another video than `videos` holds at its position, or whose record
        is missing, is not done.
        """
        done = {}
        for position, (path, _) in enumerate(videos):
            stem = os.path.join(self.folder, f"{position:05d}")
            try:
                with open(stem + ".json", encoding="utf-8") as file:
                    row = ManifestRow(**json.load(file))
            except (OSError, ValueError, TypeError):
                continue  # not done (or unreadable: done again)
            if row.video == path and (row.status != "ok" or os.path.exists(stem + ".example")):
                done[position] = row
        return done

    def assemble(self, videos):
        """Writes the range's shard from the journal, under the temporary name `shard +
        ".partial"` (when at least one video has a bag), and returns the rows in range order.

        Raises:
            ValueError: a video of the range is not done.
        """
        rows = self.entries(videos)
        missing = [path for position, (path, _) in enumerate(videos) if position not in rows]
        if missing:
            raise ValueError(f"{self.folder}: {len(missing)} videos not done, e.g. {missing[0]}")
        ordered = [rows[position] for position in range(len(videos))]
        with_bags = [position for position, row in enumerate(ordered) if row.status == "ok"]
        if with_bags:
            with tf.io.TFRecordWriter(self.shard + ".partial") as writer:
                for position in with_bags:
                    with open(os.path.join(self.folder, f"{position:05d}.example"), "rb") as file:
                        writer.write(file.read())
        elif os.path.exists(self.shard + ".partial"):
            os.remove(self.shard + ".partial")  # left by an earlier run
        return ordered

    def publish(self):
        """Renames the assembled shard to its final name (removes a stale one when the range
        has no bag), then removes the journal."""
        if os.path.exists(self.shard + ".partial"):
            os.replace(self.shard + ".partial", self.shard)
        elif os.path.exists(self.shard):
            os.remove(self.shard)  # a stale shard of this range from an earlier run
        self.remove()

    def remove(self):
        """Deletes the journal (and an assembled shard not yet published)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if os.path.exists(self.shard + ".partial"):
            os.remove(self.shard + ".partial")


def _write_atomically(path, data):
    with open(path + ".tmp", "wb") as file:
        file.write(data)
    os.replace(path + ".tmp", path)
