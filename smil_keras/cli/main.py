"""Entry point of the ``smil`` command: one sub-command per module of this package.

Each command module defines ``register(subparsers)``, which adds its parser and sets ``func``
to its runner, and imports nothing heavy at module level: TensorFlow is imported by the runner
once the arguments and paths are checked, so ``smil --help`` and mistyped paths are answered
at once.
"""

import argparse
import contextlib
import logging
import sys
import traceback

from smil_keras.cli import console, demo, evaluate, export, extract, predict, train
from smil_keras.version import __version__

# In the order of the workflow (and of `smil --help`).
COMMANDS = {
    "extract": extract,
    "train": train,
    "evaluate": evaluate,
    "predict": predict,
    "export": export,
    "demo": demo,
}

EPILOG = f"""\
exit status (every command):
  {console.OK}  done: every input was processed
  {console.SOME_FAILED}  some inputs failed (each is named on stderr with its reason); the others
     were processed
  {console.FATAL}  usage or fatal error: bad arguments, missing files, an invalid config or model
     (one line "smil COMMAND: error: MESSAGE" on stderr)

output:
  The start-up lines and warnings of TensorFlow, CUDA, OpenCV and FFmpeg are hidden. --verbose
  (before or after COMMAND) or {console.VERBOSE_ENV}=1 shows them, with the library's progress
  logs and the traceback of an unexpected error.

Run "smil COMMAND --help" for a command's options and examples.
"""


def build_parser():
    """The `smil` argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="smil",
        description="S-MIL DeepFake video detection: extract faces, train, evaluate, predict, "
        "export.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"smil-keras {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.register(subparsers)
    for subparser in subparsers.choices.values():  # `smil predict ... --verbose` works too
        with contextlib.suppress(argparse.ArgumentError):  # unless it has a --verbose of its own
            subparser.add_argument(
                "-v",
                "--verbose",
                action="store_true",
                default=argparse.SUPPRESS,
                help=_VERBOSE_HELP,
            )
    return parser


_VERBOSE_HELP = (
    f"show TensorFlow's, CUDA's, OpenCV's and FFmpeg's own output and the library's "
    f"logs (also: {console.VERBOSE_ENV}=1)"
)


def main(argv=None):
    """Runs `smil` with `argv` (default: `sys.argv[1:]`) and returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return console.FATAL
    verbose = args.verbose or console.verbose_from_env()
    if verbose:
        logging.getLogger("smil_keras").setLevel(logging.INFO)
        return _run(args, verbose)
    with console.quiet_native_output():
        return _run(args, verbose)


def _run(args, verbose):
    try:
        return args.func(args) or console.OK
    except KeyboardInterrupt:
        print(f"smil {args.command}: interrupted", file=sys.stderr)
        return 130  # the shell's code for a SIGINT
    except (OSError, ValueError) as error:  # what a command did not catch itself
        console.print_error(args.command, error)
        return console.FATAL
    except Exception as error:  # a bug: one line by default, the traceback with --verbose
        if verbose:
            traceback.print_exc()
        console.print_error(
            args.command,
            f"unexpected {type(error).__name__}: {error}"
            + ("" if verbose else " (run again with --verbose for the traceback)"),
        )
        return console.FATAL


if __name__ == "__main__":
    sys.exit(main())
