"""The serialized bag records of shards, each with its shard's path (the first stage of
`make_bag_dataset`), checked so that a corrupt or empty shard is named."""

import collections
import logging

import tensorflow as tf

from smil_keras.bags import read_bags
from smil_keras.bags.shard_files import count_bags_per_shard
from smil_keras.errors import NoBagsError

logger = logging.getLogger(__name__)


def count_shard_records(files):
    """`{path: records}` of the shards `files` names that hold a bag; empty shards are left out
    with a logged warning, and shards that are all empty are refused.

    Each shard's first record is read and checked here, so that a shard that is not a bag
    shard fails now, naming the file, rather than mid-epoch.

    Args:
        files: what `smil_keras.bags.find_shards` takes.

    Returns:
        dict `{path: number of records}` of the non-empty shards, in file order.

    Raises:
        FileNotFoundError: no shard found.
        BagFormatError: a truncated shard, or one whose first record is corrupt or breaks the
            schema.
        NoBagsError: every shard is empty.

    Example:

    >>> count_shard_records("bags/")  # doctest: +SKIP
    {'bags/bags-00000.tfrecord': 100, 'bags/bags-00001.tfrecord': 37}
    """
    counts = count_bags_per_shard(files)
    empty = [path for path, count in counts.items() if count == 0]
    if len(empty) == len(counts):
        raise NoBagsError(empty)
    for path in empty:
        logger.warning("bag shard %s is empty (no record): it is skipped", path)
    counts = {path: count for path, count in counts.items() if count}
    for path in counts:
        next(read_bags(path))  # fails early, naming the file, on a corrupt first record
    return counts


def bag_records(counts, options):
    """The records a dataset iterates over, as `(serialized record, shard path)`, of known length.

    Evaluation: shards in file order, records in shard order (the order of `read_bags`).
    Training: shuffled shards interleaved (`options.cycle_length` at a time), then a shuffle
    buffer of records (serialized: it fills at reading speed at each epoch's start, and parsing
    runs in parallel with the decoding later). `options.cache` keeps the records in memory (or
    a file) after the first epoch. With `options.balance`, real and fake bags are drawn with
    equal probability, endlessly, each class from a pipeline of its own (its own reading,
    cache, with `.real` / `.fake` added to a cache file's name, and shuffle), so that a seed
    gives the same batches every time; shards without a bag of each class are refused (a
    `ValueError` naming them and their labels).

    Each shard must give the number of records `counts` says: a record that cannot be read (a
    checksum that fails in the middle of a shard, or a file changed since it was counted)
    fails with an `InvalidArgumentError` naming the shard and the record (`_read_shard`).

    Args:
        counts: `{path: records}`, as `count_shard_records` gives them.
        options: `smil_keras.data.bag_dataset_options.BagDatasetOptions`.
    """
    if not options.balance:
        return _shuffled_records(counts, options)
    _check_both_classes(counts)
    classes = [_shuffled_records(counts, options, label).repeat() for label in (0, 1)]
    return tf.data.Dataset.sample_from_datasets(
        classes, weights=[0.5, 0.5], seed=options.seed, rerandomize_each_iteration=True
    )


_CLASS_NAMES = {0: "real", 1: "fake"}


def _check_both_classes(counts):
    """Refuses shards without a real or without a fake bag, for `balance`, naming them and
    their labels: one class would be drawn alone, never the balance asked for. Reads the
    label of every record; a corrupt record is skipped here, and fails the dataset when it is
    reached (`_read_shard`), naming its shard."""
    labels = (
        tf.data.Dataset.from_tensor_slices(list(counts))
        .flat_map(lambda path: tf.data.TFRecordDataset(path).ignore_errors())
        .batch(1024)
        .map(lambda records: tf.io.parse_example(records, _LABEL)["label"])
    )
    found = collections.Counter()
    for batch in labels:
        found.update(batch.numpy().tolist())
    missing = [name for label, name in _CLASS_NAMES.items() if not found[label]]
    if missing:
        held = ", ".join(f"{found[label]} {name}" for label, name in _CLASS_NAMES.items())
        unlabelled = f", {found[-1]} unlabelled (-1)" if found[-1] else ""
        paths = list(counts)
        shards = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
        raise ValueError(
            f"balance=True draws real and fake bags equally often, but the shards "
            f"{shards} hold no {' and no '.join(missing)} bag ({held}{unlabelled}): "
            "add the other class, or train with balance=False"
        )


def _shuffled_records(counts, options, label=None):
    """`bag_records` without balance: every record (or those of video label `label`)."""
    shards = tf.data.Dataset.from_tensor_slices(
        (list(counts), tf.constant(list(counts.values()), tf.int64))
    )
    if options.training:
        shards = shards.shuffle(len(counts), seed=options.seed, reshuffle_each_iteration=True)
        records = shards.interleave(
            _read_shard,
            cycle_length=min(options.cycle_length, len(counts)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=options.deterministic,
        )
    else:
        records = shards.flat_map(_read_shard)
    if label is None:
        # A known length: `len(dataset)` works, and Keras shows the steps of the first epoch.
        records = records.apply(tf.data.experimental.assert_cardinality(sum(counts.values())))
    else:
        records = records.filter(lambda record, path: tf.equal(_label(record), label))
    if options.cache:
        cache_file = "" if options.cache is True else str(options.cache)
        if cache_file and label is not None:
            cache_file += "." + _CLASS_NAMES[label]
        records = records.cache(cache_file)
    if options.training:
        records = records.shuffle(
            options.shuffle_buffer, seed=options.seed, reshuffle_each_iteration=True
        )
    return records


_LABEL = {"label": tf.io.FixedLenFeature([], tf.int64, -1)}


def _label(record):
    """The video label of a serialized bag record (-1 when missing), parsing nothing else."""
    return tf.io.parse_single_example(record, _LABEL)["label"]


def _read_shard(path, count):
    """The `count` records of one shard, each with `path`; an unreadable record is an error.

    TensorFlow's reader fails on a corrupt record with a `DataLossError` that names no file
    ("corrupted record at N", N a byte offset). Here that error is logged and ends the shard
    (`ignore_errors`); a shard that ends before its `count` records (counted from its framing)
    then reaches `_unreadable`, which fails naming it. Good records pass through no function
    more than before: the check costs two trivial stages per record.
    """
    records = tf.data.TFRecordDataset(path).ignore_errors(log_warning=True)
    unreadable = tf.data.Dataset.from_tensors((path, count)).map(_unreadable)
    return records.concatenate(unreadable).take(count).map(lambda record: (record, path))


def _unreadable(path, count):
    """Fails naming the shard `path`, whose `count` records could not all be read."""
    fail = tf.debugging.Assert(
        count < 0,  # never true (a tensor, so that nothing fails while tracing)
        [
            "bag shard",
            path,
            "is corrupt: not all of its",
            count,
            "records can be read (a checksum fails, or the file changed after the dataset was "
            "made; TensorFlow's error, logged, gives the byte offset)",
        ],
    )
    with tf.control_dependencies([fail]):
        return tf.identity(path)  # never returned: a string, like the records it follows
