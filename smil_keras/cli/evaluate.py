"""`smil evaluate`: the paper's metrics, tables and figures for one or more detectors."""

import argparse
import logging
import pathlib
import sys

EPILOG = """\
examples:
  smil evaluate --model runs/smil/best.keras --data bags/test
  smil evaluate --model runs/smil_t/best.keras runs/xn_avg/best.keras --name S-MIL-T XN-avg \\
      --data bags/ffpms --out eval/ffpms --frames 2 5 10 20

Video accuracy is the paper's: the mean of the accuracies on real and on fake videos.
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
    parser.add_argument("--threshold", type=float, default=0.5, help="fake from this probability")
    parser.add_argument(
        "--frames", type=int, nargs="*", default=[],
        help="test frame counts for the accuracy-vs-frames curve (Fig. 7), e.g. 2 5 10 20",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="videos per forward pass")
    parser.set_defaults(func=run)


def run(args):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = args.name or [str(path) for path in args.model]
    if len(names) != len(args.model):
        print(f"smil evaluate: error: {len(args.model)} models but {len(names)} names",
              file=sys.stderr)
        return 2
    try:
        from smil_keras.evaluation import evaluate, load_detector, markdown_table

        models = {name: load_detector(path) for name, path in zip(names, args.model)}
        report = evaluate(
            models, args.data, out_dir=args.out, threshold=args.threshold,
            frame_counts=args.frames, batch_size=args.batch_size,
        )
    except (OSError, ValueError) as error:
        print(f"smil evaluate: error: {error}", file=sys.stderr)
        return 1
    print("\nVideo accuracy per manipulation method, AUC and frame AUC")
    print(markdown_table(report["metrics"]))
    if report["fake_fraction"]:
        print("\nAccuracy against the fraction of fake faces (Fig. 6)")
        print(markdown_table(report["fake_fraction"]))
    if report["frames"]:
        print("\nAccuracy against the number of test frames (Fig. 7)")
        print(markdown_table(report["frames"]))
    print(f"\ntables and plots in {pathlib.Path(args.out)}")
    return 0
