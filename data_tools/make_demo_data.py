"""Write a small synthetic partial-attack dataset (real clips and partially self-blended ones).

    python data_tools/make_demo_data.py --out demo_data              # embedded photo, no download
    python data_tools/make_demo_data.py --out my_data --source my_videos/ --videos 40

Writes DIR/videos/*.mp4, DIR/videos.csv, DIR/frames.csv, DIR/faces.csv (every face box and
its label) and DIR/bags/*.tfrecord for `smil_keras.data.make_bag_dataset`. See
`smil_keras.datasets.make_partial_attack_dataset`.
"""

import argparse
import logging
import sys

from smil_keras.datasets import make_partial_attack_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--source",
        nargs="*",
        default=None,
        help="real videos (files, folders or list files) to attack instead of the embedded photo",
    )
    parser.add_argument("--videos", type=int, default=16, help="number of clips")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip")
    parser.add_argument(
        "--fake-fraction", type=float, default=0.5, help="fraction of attacked clips"
    )
    parser.add_argument(
        "--size", type=int, default=256, help="frame side (largest side for --source videos)"
    )
    parser.add_argument("--crop-size", type=int, default=128, help="face crop side in the bags")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-faces", action="store_true", help="write the videos and CSV files only"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    data = make_partial_attack_dataset(
        args.out,
        source=args.source or None,
        num_videos=args.videos,
        num_frames=args.frames,
        fake_fraction=args.fake_fraction,
        seed=args.seed,
        size=args.size,
        crop_size=args.crop_size,
        extract=not args.no_faces,
    )
    fakes = sum(entry.label for entry in data.entries)
    print(
        f"{len(data.entries)} clips ({fakes} partially attacked) in {data.root}; "
        f"labels: {data.videos_csv}, {data.faces_csv}; bag shards: {len(data.shards)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
