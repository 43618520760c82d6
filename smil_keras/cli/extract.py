"""`smil extract`: videos -> face bags in TFRecord shards, with a manifest."""

import argparse
import csv
import logging
import os
import sys

from smil_keras.cli import console

EPILOG = """\
INPUT is a video file, a folder (searched recursively for video files) or a text file listing
one video per line (paths relative to the list file). Every input video gets a row in
DIR/manifest.csv: status ok (its bag is in the named shard), no_faces or error, with the reason;
the videos without a bag are also listed on the console. Video ids are paths relative to the
input folder, lengthened where two videos would share one; a --labels CSV naming by its bare file
name a video that several inputs share is refused.

Exit status: 0 every video was processed (a video where no face is found is a result, listed
but not a failure); 1 the run finished but some videos could not be read (listed with the
reason); 2 usage or fatal error (missing input, folder locked by another extraction, settings
that differ from the extraction being resumed).

One extraction at a time writes DIR (it holds DIR/extract.lock). Rerunning the same command
resumes an interrupted run: completed shards and every video already done are kept, and the
shards come out byte-identical to those of an uninterrupted run.

examples:
  smil extract videos/ --out bags/
  smil extract ffpp/original_sequences ffpp/manipulated_sequences --out bags/ffpp --workers 4
  smil extract test_list.txt --out bags/test --frames 20 --size 299 --labels labels.csv
  smil extract dfdc/ --out bags/dfdc --engine ray --address auto --workers 64
"""


def register(subparsers):
    parser = subparsers.add_parser(
        "extract",
        help="detect faces in videos and write them as bags to TFRecord shards",
        description="Sample frames from each video, detect faces with MTCNN, crop them and\n"
        "write one bag per video to sharded TFRecord files (see smil_keras.bags.schema).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video, folder or list file")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--frames",
        type=console.positive_int,
        default=20,
        help="frames sampled uniformly per video (default: 20, as the paper)",
    )
    parser.add_argument(
        "--size",
        type=console.positive_int,
        default=299,
        help="side in pixels of the faces the model sees (299); crops are stored "
        "with --context times more around them",
    )
    parser.add_argument(
        "--context",
        type=float,
        help="stored crop side relative to the model's view (default: 1.11, "
        "room for the random training crop; 1: store the view only)",
    )
    parser.add_argument(
        "--workers", type=console.positive_int, default=1, help="parallel processes (default: 1)"
    )
    parser.add_argument(
        "--videos-per-shard",
        type=console.positive_int,
        default=100,
        help="videos per TFRecord shard (default: 100)",
    )
    parser.add_argument(
        "--labels",
        metavar="CSV",
        help="CSV with columns video,label (0 real, 1 fake); video paths are "
        "relative to the CSV or bare file names",
    )
    parser.add_argument("--dataset", default="", help="dataset name stored in every record")
    parser.add_argument("--prefix", default="bags", help="shard file name prefix (bags)")
    parser.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this machine (--workers processes); ray: a Ray cluster "
        "(--workers actors; pip install 'smil-keras[ray]'; DIR must be on a "
        "file system every node sees)",
    )
    parser.add_argument(
        "--address",
        metavar="auto|HOST:PORT",
        help="with --engine ray: the Ray cluster to join (default: start a local one)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def read_labels_csv(path):
    """`{video path or file name: label}` from a CSV with `video` and `label` columns."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if not reader.fieldnames or not {"video", "label"} <= set(reader.fieldnames):
            raise ValueError(
                f"{path}: needs a header with columns 'video' and 'label', got {reader.fieldnames}"
            )
        labels = {}
        for line, row in enumerate(reader, start=2):
            if row["label"] not in ("0", "1"):
                raise ValueError(f"{path}, line {line}: label must be 0 or 1, got {row['label']!r}")
            video = row["video"]
            key = video if os.sep not in video and "/" not in video else os.path.join(base, video)
            labels[key] = int(row["label"])
    return labels


def run(args):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:  # checked before TensorFlow is imported: a wrong path is answered at once
        console.check_inputs_exist(args.inputs, "input")
        console.check_output_folder(args.out, "--out")
        if args.address and args.engine != "ray":
            raise ValueError("--address is for --engine ray")
        labels = read_labels_csv(args.labels) if args.labels else None

        from smil_keras.bags import extract_to_shards
        from smil_keras.faces import STORED_CONTEXT

        context = STORED_CONTEXT if args.context is None else args.context
        rows = extract_to_shards(
            args.inputs,
            args.out,
            num_frames=args.frames,
            size=args.size,
            context=context,
            workers=args.workers,
            videos_per_shard=args.videos_per_shard,
            labels=labels,
            dataset=args.dataset,
            prefix=args.prefix,
            engine=args.engine,
            address=args.address,
            progress=not args.no_progress,
        )
    except (OSError, ValueError, ImportError) as error:
        console.print_error("extract", error)
        return console.FATAL
    without_bag = [row for row in rows if row.status != "ok"]
    print(
        f"{len(rows) - len(without_bag)} of {len(rows)} videos extracted to {args.out} "
        f"(see {os.path.join(args.out, 'manifest.csv')})"
    )
    if without_bag:
        print(f"{len(without_bag)} of {len(rows)} videos have no bag:", file=sys.stderr)
        for row in without_bag:
            print(f"  {row.video}: {row.status}: {row.reason}", file=sys.stderr)
    failed = any(row.status == "error" for row in rows)
    return console.SOME_FAILED if failed else console.OK
