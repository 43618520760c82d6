"""`smil export`: a trained detector as a TensorFlow SavedModel for TF Serving."""

import argparse

from smil_keras.cli import console

EPILOG = """\
examples:
  smil export --model runs/smil/best.keras --out serving/smil/1
  smil export --model runs/smil/best.keras --out serving/smil/1 --overwrite
  saved_model_cli show --dir serving/smil/1 --all

Signatures:
  serving_default  faces uint8 (batch, M, S, S, 3), mask bool (batch, M)
  serving_jpeg     jpeg string (batch, M): JPEG-encoded face crops, "" for padding
  serving_persons  faces, mask and person_ids int32 (batch, M): each face's person, -1 padding
all returning fake_probability (batch, 1), face_probability (batch, M), attention (batch, M);
serving_persons also person_probability (batch, M) (column p: person p) and person_mask.
Wrong shapes (rank, image size, channels, a mask unlike the faces) are refused by the
signatures with a message saying what is expected.

The image size S and the face view (margin, faces per bag, preprocessing) are the model's
own, saved in the .keras file; the SavedModel carries them in assets.extra/view.json
(smil_keras.export.read_view). --out must be a new or empty folder; --overwrite replaces a
SavedModel already there (never a folder of other files).

exit status: 0 written; 2 a missing or invalid model, or an --out that cannot be written.
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
    parser.add_argument("--out", required=True, help="SavedModel folder to write (new or empty)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the SavedModel already in --out"
    )
    parser.set_defaults(func=run)


def run(args):
    try:  # checked before TensorFlow is imported: a wrong path is answered at once
        console.check_model_file(args.model)
        console.check_output_folder(args.out, "--out")
        from smil_keras.evaluation import load_detector
        from smil_keras.export import export_saved_model

        model = load_detector(args.model)
        out_dir = export_saved_model(model, args.out, overwrite=args.overwrite)
    except (OSError, ValueError, RuntimeError) as error:
        console.print_error("export", error)
        return console.FATAL
    view = model.view
    print(
        f"wrote SavedModel to {out_dir} (signatures: serving_default, serving_jpeg, "
        f"serving_persons; faces {view.image_size} px, margin {view.margin})"
    )
    return console.OK
