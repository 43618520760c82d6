"""Entry point of the ``smil`` command: one sub-command per module of this package."""

import argparse
import importlib
import os
import sys

# Hide TensorFlow's C++ start-up lines (oneDNN, CUDA probing) from command-line output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Sub-command name -> module in smil_keras.cli. Each module defines
# ``register(subparsers)``, which adds its parser and sets ``func`` to its runner.
COMMANDS = {
    "extract": "smil_keras.cli.extract",
    "train": "smil_keras.cli.train",
    "evaluate": "smil_keras.cli.evaluate",
    "predict": "smil_keras.cli.predict",
    "export": "smil_keras.cli.export",
    "demo": "smil_keras.cli.demo",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="smil",
        description="S-MIL DeepFake video detection: extract faces, train, evaluate, predict, export.",
    )
    from smil_keras import __version__

    parser.add_argument("--version", action="version", version=f"smil-keras {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
