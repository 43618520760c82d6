"""`smil export`: a trained detector as a TensorFlow SavedModel for TF Serving."""

import argparse
import sys

EPILOG = """\
examples:
  smil export --model runs/smil/best.keras --out serving/smil/1
  saved_model_cli show --dir serving/smil/1 --all

Signatures:
  serving_default  faces uint8 (batch, M, S, S, 3), mask bool (batch, M)
  serving_jpeg     jpeg string (batch, M): JPEG-encoded face crops, "" for padding
both returning fake_probability (batch, 1), face_probability (batch, M), attention (batch, M).
"""


def register(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="export a detector as a SavedModel for TF Serving",
        description="Write a trained .keras detector as a TensorFlow SavedModel that needs "
        "neither Keras nor smil_keras to serve.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="a .keras detector")
    parser.add_argument("--out", required=True, help="SavedModel folder to write")
    parser.set_defaults(func=run)


def run(args):
    try:
        from smil_keras.evaluation import load_detector
        from smil_keras.export import export_saved_model

        out_dir = export_saved_model(load_detector(args.model), args.out)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"smil export: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote SavedModel to {out_dir} (signatures: serving_default, serving_jpeg)")
    return 0
