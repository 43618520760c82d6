"""Reading bag shards back in Python, with schema validation."""

import tensorflow as tf

from smil_keras.bags.bag_record import BagRecord
from smil_keras.bags.shard_files import find_shards
from smil_keras.errors import BagFormatError


def read_bags(files):
    """Yields the `BagRecord` of every record in the shards, file after file, in file order.

    Args:
        files: a folder of shards, a glob, a shard path or a list of them (see `find_shards`).

    Yields:
        `BagRecord` with crops as JPEG bytes (`record.decoded_crops()` gives arrays).

    Raises:
        FileNotFoundError: no shard found.
        BagFormatError: naming the file, for a corrupt or truncated TFRecord, a record that is not
            a `tf.train.Example`, or a record that breaks `bags.schema`.

    Example:

    >>> for record in read_bags("bags/"):
    ...     print(record.video_id, record.label, len(record))
    """
    for path in find_shards(files):
        index = -1
        try:
            for index, serialized in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
                try:
                    example = tf.train.Example.FromString(serialized)
                except Exception as error:  # protobuf raises DecodeError
                    raise BagFormatError(
                        path, f"record {index} is not a tf.train.Example ({error})"
                    ) from error
                yield BagRecord.from_example(example, source=path, index=index)
        except tf.errors.OpError as error:
            raise BagFormatError(
                path, f"corrupt TFRecord file after {index + 1} good records ({error.message})"
            ) from error
