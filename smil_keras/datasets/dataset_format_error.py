"""The error the dataset readers raise for missing or malformed files."""


class DatasetFormatError(ValueError):
    """A dataset file or folder is missing, malformed or laid out in an unknown way.

    Args:
        path: the file or folder at fault.
        reason: what is wrong with it.

    Example:

    >>> raise DatasetFormatError("splits/test.json", "expected a list of [id, id] pairs")
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
