"""How every `smil` command talks to its user: exit codes, one-line errors, a quiet start-up.

This module imports neither TensorFlow nor Keras: the commands check their arguments and paths
with it before they import the heavy libraries, so a mistyped path is answered at once.

Exit codes, the same for every command:

- `OK` (0): every input was processed;
- `SOME_FAILED` (1): some inputs failed (each is named on stderr with its reason), the batch
  finished for the others;
- `FATAL` (2): a usage or fatal error (bad arguments, missing files, an invalid config), printed
  as one line `smil <command>: error: <message>` on stderr, without a traceback.

Example:

>>> positive_int("20")
20
>>> check_model_file("no/such/best.keras")
Traceback (most recent call last):
    ...
FileNotFoundError: model file not found: no/such/best.keras
"""

import argparse
import contextlib
import glob
import io
import logging
import os
import sys

OK = 0
SOME_FAILED = 1
FATAL = 2

VERBOSE_ENV = "SMIL_VERBOSE"


def print_error(command, message):
    """Prints `smil <command>: error: <message>` as one line on stderr."""
    message = " ".join(str(message).split())  # one line, whatever the exception's text holds
    print(f"smil {command}: error: {message}", file=sys.stderr, flush=True)


def verbose_from_env(environ=None):
    """Whether `SMIL_VERBOSE` asks for the libraries' start-up output (1, true, yes, on)."""
    value = (os.environ if environ is None else environ).get(VERBOSE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def quiet_native_output():
    """Hides what native libraries write straight to the process's stderr.

    TensorFlow, XLA and CUDA print their start-up lines (oneDNN, CUDA probing, an `E0000 ...
    failed call to cuInit` error on machines without a GPU) and OpenCV and FFmpeg their
    warnings for corrupt files from C++, onto file descriptor 2, before and outside Python's
    logging (no environment variable silences the first of them). Inside this context file
    descriptor 2 goes to `os.devnull`, while Python's `sys.stderr` (the commands' errors, the
    progress bars, logging) keeps writing to the terminal. Worker processes started inside it
    inherit the silence. TensorFlow's and absl's Python loggers show errors only.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    original = sys.stderr
    swapped = _writes_to_descriptor_2(original)
    if swapped:  # keep Python's own messages on the real stderr
        sys.stderr = io.TextIOWrapper(
            io.FileIO(saved, "w", closefd=False),
            encoding=getattr(original, "encoding", None),
            errors="backslashreplace",
            line_buffering=True,
        )
    levels = {}
    for name in ("tensorflow", "absl"):
        levels[name] = logging.getLogger(name).level
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        if swapped:
            # `saved` stays open: loggers configured inside the context hold this stream.
            sys.stderr = original
        else:
            os.close(saved)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _writes_to_descriptor_2(stream):
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a captured or replaced sys.stderr
        return False


# Checks made before TensorFlow is imported: each raises an error naming the path.

_GLOB_CHARS = set("*?[")


def check_model_file(path):
    """Raises `FileNotFoundError` / `ValueError` unless `path` is an existing `.keras` file.

    The same checks `load_detector` starts with, without importing Keras.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    if os.path.isdir(path) or not os.fspath(path).endswith(".keras"):
        raise ValueError(f"{path} is not a Keras model file (expected a .keras file)")


def check_inputs_exist(items, what, globs=False):
    """Raises `FileNotFoundError` for the first of `items` that is not an existing path (nor,
    with `globs`, a glob pattern matching one); `what` names them in the message (`"video"`)."""
    for item in items:
        matches = globs and _GLOB_CHARS & set(item) and glob.glob(item)
        if not os.path.exists(item) and not matches:
            raise FileNotFoundError(f"{what} not found: {item}")


def check_output_folder(path, option):
    """Raises `NotADirectoryError` when the folder `path` given to `option` is an existing file."""
    if path is not None and os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"{option} {path} exists and is not a folder")


def check_output_file(path, option):
    """Raises `IsADirectoryError` when the file `path` given to `option` is an existing folder."""
    if path is not None and os.path.isdir(path):
        raise IsADirectoryError(f"{option} {path} is a folder, expected a file name")


# argparse types: a bad value is a usage error (exit code 2) naming the option.


def positive_int(text):
    """An int >= 1, for `type=` of an argparse option."""
    return _bounded(int, text, lambda value: value >= 1, "an integer >= 1")


def non_negative_int(text):
    """An int >= 0, for `type=` of an argparse option."""
    return _bounded(int, text, lambda value: value >= 0, "an integer >= 0")


def non_negative_float(text):
    """A float >= 0, for `type=` of an argparse option."""
    return _bounded(float, text, lambda value: value >= 0.0, "a number >= 0")


def probability(text):
    """A float in [0, 1], for `type=` of an argparse option."""
    return _bounded(float, text, lambda value: 0.0 <= value <= 1.0, "a number in [0, 1]")


def _bounded(kind, text, valid, expected):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value
