"""`smil extract`: videos -> face bags in TFRecord shards, with a manifest."""

import argparse
import csv
import logging
import os
import sys

EPILOG = """\
INPUT is a video file, a folder (searched recursively for video files) or a text file listing
one video per line (paths relative to the list file). Every input video gets a row in
DIR/manifest.csv: status ok (its bag is in the named shard), no_faces or error, with the reason.
Videos that fail are recorded and skipped; the exit code is 0 whenever the run completes.
Rerunning the same command resumes an interrupted run: completed shards are kept.

examples:
  smil extract videos/ --out bags/
  smil extract ffpp/original_sequences ffpp/manipulated_sequences --out bags/ffpp --workers 4
  smil extract test_list.txt --out bags/test --frames 20 --size 299 --labels labels.csv
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
    parser.add_argument("--frames", type=int, default=20,
                        help="frames sampled uniformly per video (default: 20, as the paper)")
    parser.add_argument("--size", type=int, default=299,
                        help="side in pixels of the faces the model sees (299); crops are stored "
                        "with --context times more around them")
    parser.add_argument("--context", type=float,
                        help="stored crop side relative to the model's view (default: 1.11, "
                        "room for the random training crop; 1: store the view only)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    parser.add_argument("--videos-per-shard", type=int, default=100,
                        help="videos per TFRecord shard (default: 100)")
    parser.add_argument("--labels", metavar="CSV",
                        help="CSV with columns video,label (0 real, 1 fake); video paths are "
                        "relative to the CSV or bare file names")
    parser.add_argument("--dataset", default="", help="dataset name stored in every record")
    parser.add_argument("--prefix", default="bags", help="shard file name prefix (bags)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def read_labels_csv(path):
    """`{video path or file name: label}` from a CSV with `video` and `label` columns."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if not reader.fieldnames or not {"video", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: needs a header with columns 'video' and 'label', "
                             f"got {reader.fieldnames}")
        labels = {}
        for line, row in enumerate(reader, start=2):
            if row["label"] not in ("0", "1"):
                raise ValueError(f"{path}, line {line}: label must be 0 or 1, got {row['label']!r}")
            video = row["video"]
            key = video if os.sep not in video and "/" not in video else os.path.join(base, video)
            labels[key] = int(row["label"])
    return labels


def run(args):
    from smil_keras.bags import extract_to_shards
    from smil_keras.faces import STORED_CONTEXT

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        labels = read_labels_csv(args.labels) if args.labels else None
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise NotADirectoryError(f"--out {args.out} exists and is not a folder")
        context = STORED_CONTEXT if args.context is None else args.context
        rows = extract_to_shards(
            args.inputs, args.out, num_frames=args.frames, size=args.size, context=context,
            workers=args.workers,
            videos_per_shard=args.videos_per_shard, labels=labels, dataset=args.dataset,
            prefix=args.prefix, progress=not args.no_progress,
        )
    except (OSError, ValueError) as error:
        print(f"smil extract: error: {error}", file=sys.stderr)
        return 2
    ok = sum(row.status == "ok" for row in rows)
    print(f"{ok} of {len(rows)} videos extracted to {args.out} "
          f"(see {os.path.join(args.out, 'manifest.csv')})")
    return 0
