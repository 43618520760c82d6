"""Finding the shard files a folder, a glob or a list names."""

import glob
import os

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
