"""`smil evaluate`: the paper's metrics, tables and figures for one or more detectors."""

import argparse
import logging
import pathlib

from smil_keras.cli import console

EPILOG = """\
examples:
  smil evaluate --model runs/smil/best.keras --data bags/test
  smil evaluate --model runs/smil_t/best.keras runs/xn_avg/best.keras --name S-MIL-T XN-avg \\
      --data bags/ffpms --out eval/ffpms --frames 2 5 10 20

Video accuracy is the paper's: the mean of the accuracies on real and on fake videos. Each
detector sees the faces as it was trained to (its view: image size and margin, saved in the
.keras file). Exit status: 0 done, 2 for a fatal error (a missing or invalid model, no shards,
a corrupt shard), named in one line on stderr.
Writes to --out: metrics.{csv,md} (accuracy per manipulation method, all, AUC, frame AUC;
Tables 1-3), fake_fraction.{csv,md,png} (Fig. 6), frames.{csv,md,png} (Fig. 7, with
--frames), videos_<model>.csv (per-video scores).
"""


def register(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate detectors on bag shards",
        description="Evaluate one or more detectors on bag shards as the paper reports results.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", nargs="+", required=True, help=".keras detector(s)")
    parser.add_argument("--name", nargs="+", help="display name per model (default: file paths)")
    parser.add_argument(
        "--data", nargs="+", required=True, help="bag shard files, folders or globs"
    )
    parser.add_argument("--out", default="eval", help="folder for tables and plots (default eval)")
    parser.add_argument(
        "--threshold",
        type=console.probability,
        default=0.5,
        help="fake from this probability (0.5)",
    )
    parser.add_argument(
        "--frames",
        type=console.positive_int,
        nargs="*",
        default=[],
        help="test frame counts for the accuracy-vs-frames curve (Fig. 7), e.g. 2 5 10 20",
    )
    parser.add_argument(
        "--batch-size", type=console.positive_int, default=8, help="videos per forward pass (8)"
    )
    parser.add_argument(
        "--persons",
        action="store_true",
        help="order each bag person by person (tracks) and add person-level accuracy and AUC "
        "where faces carry labels (as a model trained with persons=true sees its bags)",
    )
    parser.set_defaults(func=run)


def run(args):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = args.name or [str(path) for path in args.model]
    try:  # checked before TensorFlow is imported: a wrong path is answered at once
        if len(names) != len(args.model):
            raise ValueError(f"{len(args.model)} models but {len(names)} names (--name)")
        if len(set(names)) != len(names):
            raise ValueError(f"each model needs its own name, got {names}")
        for path in args.model:
            console.check_model_file(path)
        console.check_inputs_exist(args.data, "--data path", globs=True)
        console.check_output_folder(args.out, "--out")
        from smil_keras.evaluation import evaluate, load_detector, markdown_table

        models = {name: load_detector(path) for name, path in zip(names, args.model, strict=True)}
        report = evaluate(
            models,
            args.data,
            out_dir=args.out,
            threshold=args.threshold,
            frame_counts=args.frames,
            batch_size=args.batch_size,
            persons=args.persons,
        )
    except (OSError, ValueError) as error:
        console.print_error("evaluate", error)
        return console.FATAL
    print("\nVideo accuracy per manipulation method, AUC and frame AUC")
    print(markdown_table(report["metrics"]))
    if report["fake_fraction"]:
        print("\nAccuracy against the fraction of fake faces (Fig. 6)")
        print(markdown_table(report["fake_fraction"]))
    if report["frames"]:
        print("\nAccuracy against the number of test frames (Fig. 7)")
        print(markdown_table(report["frames"]))
    print(f"\ntables and plots in {pathlib.Path(args.out)}")
    return console.OK
