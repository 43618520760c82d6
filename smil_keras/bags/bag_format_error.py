"""The error raised for a shard file or bag record that does not follow the schema."""


class BagFormatError(ValueError):
    """A TFRecord shard that is corrupt, or a bag record that breaks the schema (`bags.schema`).

    Args:
        path: the shard file at fault.
        reason: what is wrong with it, in words.

    Example:

    >>> str(BagFormatError("bags-00000.tfrecord", "record 3: missing field 'label'"))
    "bad bag shard bags-00000.tfrecord: record 3: missing field 'label'"
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"bad bag shard {self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))
