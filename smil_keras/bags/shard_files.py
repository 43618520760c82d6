"""Finding the shard files a folder, a glob or a list names, and counting their bags."""

import glob
import os
import struct

from smil_keras.errors import BagFormatError
from smil_keras.bags.schema import SHARD_SUFFIX


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
    total = 0
    for path in find_shards(files):
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
                        path, f"record {index} claims {length} bytes, past the end of the file "
                        "(truncated, or not a TFRecord file)")
                file.seek(position)
                index += 1
        total += index
    return total
