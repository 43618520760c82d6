"""The ``smil`` command line (``smil --help``)."""
