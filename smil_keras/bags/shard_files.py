"""Finding the shard files a folder, a glob or a list names, and counting their bags."""

import glob
import os
import struct

from smil_keras.bags.schema import SHARD_SUFFIX
from smil_keras.errors import BagFormatError


def find_shards(files):
    """The sorted list of shard files that `files` names.

    Args:
        files: a folder (its `*.tfrecord` files, not recursive), a glob pattern, one file, or a
            list of any of these.

    Returns:
        Sorted, de-duplicated list of paths (strings).

    Raises:
        FileNotFoundError: when nothing matches, naming what was searched.

    Example:

    >>> find_shards("bags/")  # doctest: +SKIP
    ['bags/bags-00000.tfrecord', 'bags/bags-00001.tfrecord']
    """
    items = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    found = set()
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            found.update(glob.glob(os.path.join(glob.escape(item), "*" + SHARD_SUFFIX)))
        elif os.path.isfile(item):
            found.add(item)
        else:
            found.update(path for path in glob.glob(item) if os.path.isfile(path))
    if not found:
        raise FileNotFoundError(f"no bag shards ({SHARD_SUFFIX} files) found in {items}")
    return sorted(found)


def count_bags(files):
    """The number of bag records in the shards `files` names, without reading the records.

    Steps through each TFRecord file's framing (a record is an 8-byte little-endian length, a
    4-byte checksum, the data, a 4-byte checksum): one small read per record, so counting a
    large dataset takes well under a second. `make_bag_dataset` uses it to give its datasets a
    known length (Keras' progress bars then show the steps of the first epoch too).

    Args:
        files: what `find_shards` takes.

    Returns:
        int, the number of records.

    Raises:
        FileNotFoundError: no shard found.
        BagFormatError: a shard that ends inside a record (truncated or not a TFRecord file).

    Example:

    >>> count_bags("bags/")  # doctest: +SKIP
    1400
    """
    return sum(count_bags_per_shard(files).values())


def count_bags_per_shard(files):
    """The number of bag records in each shard `files` names, as `count_bags` counts them.

    `make_bag_dataset` checks while reading that each shard gives this many records, so that a
    record corrupt in the middle of a shard fails naming the shard, and it refuses or warns
    about empty shards.

    Args:
        files: what `find_shards` takes.

    Returns:
        dict `{path: number of records}`, in `find_shards` order.

    Raises:
        FileNotFoundError: no shard found.
        BagFormatError: a shard that ends inside a record (truncated or not a TFRecord file).

    Example:

    >>> count_bags_per_shard("bags/")  # doctest: +SKIP
    {'bags/bags-00000.tfrecord': 100, 'bags/bags-00001.tfrecord': 37}
    """
    return {path: _count_records(path) for path in find_shards(files)}


def _count_records(path):
    """The number of records of one TFRecord file, from its framing."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        position = index = 0
        while position < size:
            header = file.read(12)
            if len(header) < 12:
                raise BagFormatError(path, f"truncated record header at byte {position}")
            (length,) = struct.unpack("<Q", header[:8])
            position += 12 + length + 4
            if position > size:
                raise BagFormatError(
                    path,
                    f"record {index} claims {length} bytes, past the end of the file "
                    "(truncated, or not a TFRecord file)",
                )
            file.seek(position)
            index += 1
    return index
