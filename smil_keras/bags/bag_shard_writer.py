"""Writing bags to sharded TFRecord files, one shard at a time, atomically."""

import logging
import os

import tensorflow as tf

from smil_keras.bags.schema import SHARD_SUFFIX

logger = logging.getLogger(__name__)


class BagShardWriter:
    """Writes `BagRecord`s to `{prefix}-{index:05d}.tfrecord` shards of `videos_per_shard` bags.

    Each shard is written under a temporary name (`....tfrecord.partial`) and renamed to its final
    name only once it is complete, so a shard file that exists is always whole: an interrupted
    run loses at most the shard being written. Leaving the `with` block normally completes the
    last shard; leaving it with an exception deletes the partial one. An existing shard of the
    same name is replaced.

    Args:
        out_dir: folder of the shards (created if missing).
        prefix: file name prefix of the shards.
        videos_per_shard: bags per shard; a new shard starts after this many.
        first_shard: index of the first shard written (numbers then increase by one).
        jpeg_quality: JPEG quality for crops given as arrays (crops given as bytes are kept).

    Attributes:
        shards: paths of the completed shards, in order.

    Example:

    >>> with BagShardWriter("bags/", prefix="train", videos_per_shard=100) as writer:
    ...     for record in records:
    ...         writer.write(record)
    >>> writer.shards
    ['bags/train-00000.tfrecord', ...]
    """

    def __init__(
        self, out_dir, prefix="bags", videos_per_shard=100, first_shard=0, jpeg_quality=95
    ):
        if videos_per_shard < 1:
            raise ValueError(f"videos_per_shard must be at least 1, got {videos_per_shard}")
        self.out_dir = os.fspath(out_dir)
        self.prefix = prefix
        self.videos_per_shard = videos_per_shard
        self.first_shard = first_shard
        self.jpeg_quality = jpeg_quality
        self.shards = []
        self._writer = None
        self._count = 0
        self._index = first_shard
        os.makedirs(self.out_dir, exist_ok=True)

    def shard_path(self, index):
        """Final path of shard number `index`."""
        return os.path.join(self.out_dir, f"{self.prefix}-{index:05d}{SHARD_SUFFIX}")

    def write(self, record):
        """Appends one `BagRecord`; returns the path of the shard it goes to."""
        if self._writer is None:
            self._writer = tf.io.TFRecordWriter(self.shard_path(self._index) + ".partial")
        self._writer.write(record.serialize(self.jpeg_quality))
        self._count += 1
        path = self.shard_path(self._index)
        if self._count == self.videos_per_shard:
            self._finish()
        return path

    def close(self):
        """Completes the shard being written, if any (renames it to its final name)."""
        if self._writer is not None:
            self._finish()

    def abort(self):
        """Deletes the shard being written, if any; completed shards stay."""
        if self._writer is not None:
            self._writer.close()
            os.remove(self.shard_path(self._index) + ".partial")
            self._writer, self._count = None, 0

    def _finish(self):
        self._writer.close()
        path = self.shard_path(self._index)
        os.replace(path + ".partial", path)
        logger.debug("completed shard %s (%d bags)", path, self._count)
        self.shards.append(path)
        self._writer, self._count = None, 0
        self._index += 1

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:
            self.close()
        else:
            self.abort()
