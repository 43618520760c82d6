"""Build FFPMS (FaceForensics Plus with Mixing samples, S-MIL paper sec. 4.1) from FF++.

    python data_tools/build_ffpms.py --ffpp /data/FaceForensics++ --compression c40 --out ffpms
    python data_tools/build_ffpms.py --ffpp /data/FaceForensics++ --compression c40 \
        --split train --train-mix 0.25 --out ffpms_train

Writes DIR/videos.csv, DIR/frames.csv, DIR/bags/ffpms-*.tfrecord (faces with per-face labels,
for `smil_keras.data.make_bag_dataset`) and DIR/fake_frame_rate.png, then prints the
dataset's statistics. See `smil_keras.datasets.build_ffpms`.

Exit status: 0 every video built, 1 some videos failed (listed; the log says why), 2 fatal error.
"""

import argparse
import logging
import sys

from smil_keras.datasets import build_ffpms, format_statistics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ffpp", required=True, help="FF++ root (original_sequences/, manipulated_sequences/)"
    )
    parser.add_argument("--compression", default="c40", choices=["c0", "raw", "c23", "c40"])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--split",
        choices=["test", "train", "val", "all"],
        default=None,
        help="FF++ split (default: test when FF++'s split files are found, else all)",
    )
    parser.add_argument(
        "--split-files",
        default=None,
        help="folder with FF++'s train.json/val.json/test.json (default: looked for under --ffpp)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-mix",
        type=float,
        default=None,
        help="replace this fraction of every fake video's frames (paper's training set: 0.25) "
        "instead of 1 to N-1 frames",
    )
    parser.add_argument(
        "--frames", type=int, default=20, help="frames sampled per video (paper: 20)"
    )
    parser.add_argument("--size", type=int, default=299, help="face crop side")
    parser.add_argument(
        "--methods",
        nargs="*",
        default=None,
        help="manipulation folders to use (default: the paper's Deepfakes, Face2Face, "
        "FaceSwap, NeuralTextures among those found)",
    )
    parser.add_argument(
        "--save-frames", action="store_true", help="also write the mixed frames as PNG"
    )
    parser.add_argument(
        "--no-faces", action="store_true", help="write the CSV files only, no face bags"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        stats = build_ffpms(
            args.ffpp,
            args.out,
            compression=args.compression,
            split=args.split,
            split_files=args.split_files,
            seed=args.seed,
            train_mix=args.train_mix,
            num_frames=args.frames,
            size=args.size,
            methods=args.methods,
            extract=not args.no_faces,
            save_frames=args.save_frames,
        )
    except (OSError, ValueError) as error:  # missing FF++ files, bad split files or settings
        print(f"build_ffpms: error: {error}", file=sys.stderr)
        return 2
    print(format_statistics(stats))
    print(f"shards: {len(stats['shards'])}, failed videos: {len(stats['failed'])}")
    for path in stats["failed"]:
        print(f"  failed: {path}", file=sys.stderr)
    return 1 if stats["failed"] or not stats["videos"] else 0


if __name__ == "__main__":
    sys.exit(main())
