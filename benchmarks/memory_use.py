"""Peak resident memory of training and extraction at two dataset sizes (issue 7, item 5).

Both jobs stream (shards in, shards out), so their peak memory must not grow with the number
of bags or videos. Each measurement runs in a fresh Python process, which reports its own
`resource.getrusage(RUSAGE_SELF).ru_maxrss` (and `RUSAGE_CHILDREN` for extraction workers):

- train: `smil_keras.training.train` (what `smil train` runs: `make_bag_dataset` + `model.fit`
  with checkpoints) for one epoch of a tiny-backbone S-MIL-T detector, on `--bags` times each
  of `--scales` synthetic bags of `--faces` JPEG crops (`--crop-size` px, smooth random
  images with per-face noise) written with `BagShardWriter`;
- extract: `smil_keras.bags.extract_to_shards` (what `smil extract` runs: decode, MTCNN, crops,
  shards) on `--videos` times each of `--scales` synthetic clips from
  `smil_keras.datasets.make_partial_attack_dataset` (256 px, 16 frames).

"before" is the peak after the imports (the process's fixed cost: TensorFlow, Keras); "growth"
is what the job adds on top. Training's growth includes bounded buffers that fill during the
first hundreds of bags: the 256-bag shuffle buffer of `make_bag_dataset` (encoded records) and
tf.data's autotuned prefetch buffers; compare sizes above that (the default `--bags 300`). It
prints a Markdown table.

    python benchmarks/memory_use.py [--bags 300] [--videos 6] [--scales 1 4] [--workers 1]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np


def peak_mib(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def folder_mib(folder):
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file()) / 2**20


# Measurements, each in its own process. --------------------------------------------------


def child_train(data, work, args):
    from smil_keras.training import TrainConfig, train

    before = peak_mib()
    start = time.perf_counter()
    train(
        TrainConfig(
            train_data=[data],
            run_dir=os.path.join(work, "run"),
            backbone="tiny",
            image_size=args.image_size,
            weights=None,
            epochs=1,
            batch_size=args.batch_size,
            model_kwargs={"filters": 64},
        )
    )
    return before, time.perf_counter() - start


def child_extract(data, work, args):
    from smil_keras.bags import extract_to_shards

    before = peak_mib()
    start = time.perf_counter()
    rows = extract_to_shards(
        data,
        os.path.join(work, "bags"),
        num_frames=16,
        size=299,
        workers=args.workers,
        progress=False,
    )
    if not all(row.status == "ok" for row in rows):
        raise RuntimeError(f"extraction failed on some videos: {rows}")
    return before, time.perf_counter() - start


def run_child(args):
    job, data, work = args.child
    before, seconds = {"train": child_train, "extract": child_extract}[job](data, work, args)
    # Workers' peak only where there are workers: importing TensorFlow forks `uname -p`, a
    # child that ru_maxrss counts with all the memory it shared with this process.
    children = peak_mib(resource.RUSAGE_CHILDREN) if job == "extract" and args.workers > 1 else None
    print(
        json.dumps({"before": before, "peak": peak_mib(), "children": children, "seconds": seconds})
    )


def measure(job, data, work, args):
    """Runs one measurement in a fresh process; returns its JSON report."""
    os.makedirs(work)
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        job,
        data,
        work,
        "--image-size",
        str(args.image_size),
        "--batch-size",
        str(args.batch_size),
        "--workers",
        str(args.workers),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{job} on {data} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# Synthetic data. -------------------------------------------------------------------------


def write_bags(folder, num_bags, faces, size, seed=0):
    """`num_bags` bags of smooth random faces (a per-bag image, noise per face), JPEG 95."""
    from smil_keras.bags import BagRecord, BagShardWriter

    rng = np.random.default_rng(seed)
    with BagShardWriter(folder, videos_per_shard=50) as writer:
        for b in range(num_bags):
            base = cv2.resize(
                rng.uniform(0, 255, (8, 8, 3)).astype(np.float32),
                (size, size),
                interpolation=cv2.INTER_CUBIC,
            )
            crops = [
                np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
                for _ in range(faces)
            ]
            writer.write(BagRecord(f"bag{b}", f"bag{b}.mp4", crops, label=b % 2))


def write_video_lists(folder, counts):
    """Synthetic clips for the largest count; one list file (`.txt`) per count."""
    from smil_keras.datasets import make_partial_attack_dataset

    data = make_partial_attack_dataset(
        os.path.join(folder, "clips"), num_videos=max(counts), extract=False
    )
    lists = []
    for count in counts:
        path = os.path.join(folder, f"videos_{count}.txt")
        with open(path, "w", encoding="utf-8") as file:
            file.writelines(f"{entry.path}\n" for entry in data.entries[:count])
        lists.append(path)
    return lists


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bags",
        type=int,
        default=300,
        help="training bags, small dataset (more than the 256-bag shuffle buffer)",
    )
    parser.add_argument("--faces", type=int, default=20, help="faces per training bag")
    parser.add_argument("--crop-size", type=int, default=128, help="side of the stored crops")
    parser.add_argument("--image-size", type=int, default=64, help="training input side")
    parser.add_argument("--batch-size", type=int, default=8, help="training bags per batch")
    parser.add_argument("--videos", type=int, default=6, help="videos to extract, small dataset")
    parser.add_argument(
        "--scales",
        type=int,
        nargs="+",
        default=[1, 4],
        help="dataset sizes, as multiples of --bags and --videos (default 1 4)",
    )
    parser.add_argument("--workers", type=int, default=1, help="extraction processes")
    parser.add_argument(
        "--jobs", nargs="+", default=["train", "extract"], choices=["train", "extract"]
    )
    parser.add_argument("--child", nargs=3, metavar=("JOB", "DATA", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args)
        return

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if "train" in args.jobs:
            for count in (scale * args.bags for scale in args.scales):
                data = os.path.join(folder, f"bags_{count}")
                write_bags(data, count, args.faces, args.crop_size)
                report = measure("train", data, os.path.join(folder, f"train_{count}"), args)
                rows.append(
                    (
                        "train 1 epoch",
                        f"{count} bags x {args.faces} faces",
                        folder_mib(data),
                        report,
                    )
                )
        if "extract" in args.jobs:
            counts = [scale * args.videos for scale in args.scales]
            for count, listing in zip(counts, write_video_lists(folder, counts), strict=True):
                report = measure("extract", listing, os.path.join(folder, f"extract_{count}"), args)
                clips = os.path.join(folder, "clips", "videos")
                size = folder_mib(clips) * count / len(os.listdir(clips))
                rows.append((f"extract (workers={args.workers})", f"{count} videos", size, report))

    print(
        f"peak resident memory (ru_maxrss), each run in a fresh process; training: tiny "
        f"backbone, {args.image_size} px, batch {args.batch_size} bags x 8 faces\n"
    )
    print(
        "| job | dataset | data on disk (MiB) | before (MiB) | peak (MiB) | growth (MiB) "
        "| workers' peak (MiB) | time (s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for job, dataset, size, report in rows:
        print(
            f"| {job} | {dataset} | {size:.1f} | {report['before']:.0f} | {report['peak']:.0f} "
            f"| {report['peak'] - report['before']:.0f} | "
            f"{'-' if report['children'] is None else format(report['children'], '.0f')} "
            f"| {report['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
