"""FFPMS, FaceForensics Plus with Mixing samples (S-MIL paper, sec. 4.1).

For each FF++ test video of one compression level (the paper: c40) 20 frames are sampled; in
each fake video a number of fake frames drawn uniformly from 1 to 19 is replaced by the frames
at the same positions of its original video. Originals stay all-real. The paper's training mix
(sec. 4.3) replaces 25 % of the fake frames of every fake training video instead.
"""

import contextlib
import logging
import os
import pathlib
import shutil
import zlib

import cv2
import numpy as np
from tqdm.auto import tqdm

from smil_keras.bags import BagShardWriter
from smil_keras.datasets.csv_table import read_csv, write_csv
from smil_keras.datasets.ffpp import find_ffpp_split_files, read_ffpp
from smil_keras.datasets.labelled_bags import labelled_bag
from smil_keras.faces import MTCNNDetector
from smil_keras.video import sample_frames

logger = logging.getLogger(__name__)

# The four manipulations FFPMS is built from (sec. 4.1: DF, F2F, FS, NT).
PAPER_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


def choose_replaced_frames(num_frames, rng, train_mix=None):
    """Positions (among the sampled frames) of the fake frames to replace with real ones.

    Args:
        num_frames: frames sampled from the video.
        rng: a `numpy.random.Generator`.
        train_mix: `None` for FFPMS's test construction (a count drawn uniformly from
            1 to `num_frames - 1`), or the fraction of frames to replace (the paper's training
            mix: 0.25, rounded to a whole number of frames).

    Returns:
        Sorted list of distinct positions in `range(num_frames)`.

    Example:

    >>> choose_replaced_frames(20, np.random.default_rng(0))  # between 1 and 19 positions
    """
    if train_mix is None:
        if num_frames < 2:
            raise ValueError(f"FFPMS needs at least 2 frames per video to mix, got {num_frames}")
        count = int(rng.integers(1, num_frames))
    else:
        if not 0 <= train_mix <= 1:
            raise ValueError(f"train_mix must be in [0, 1], got {train_mix}")
        count = int(round(train_mix * num_frames))
    return sorted(int(i) for i in rng.choice(num_frames, size=count, replace=False))


def mix_fake_with_original(fake, original, replaced):
    """Replace the chosen sampled frames of a fake video by its original's frames.

    FF++ fakes are frame-aligned with their original (same frame count), so `sample_frames`
    gives both the same frame indices.

    Args:
        fake, original: `FrameSample`s of the fake video and of the real video it was made from.
        replaced: positions (among the sampled frames) taking the original's frame.

    Returns:
        `(frames, sources)`: the mixed RGB frames and, per frame, the path its pixels come from.

    Raises:
        ValueError: the two videos are not frame-aligned (different sampled indices).

    Example:

    >>> fake, original = sample_frames("519_515.mp4", 20), sample_frames("519.mp4", 20)
    >>> frames, sources = mix_fake_with_original(fake, original, replaced=[0, 7])
    """
    if fake.indices != original.indices:
        raise ValueError(
            f"{fake.path} ({fake.frame_count} frames) and its original {original.path} "
            f"({original.frame_count} frames) are not frame-aligned"
        )
    replaced = set(replaced)
    frames = [original.frames[i] if i in replaced else fake.frames[i] for i in range(len(fake))]
    sources = [original.path if i in replaced else fake.path for i in range(len(fake))]
    return frames, sources


def build_ffpms(
    ffpp_root,
    out_dir,
    compression="c40",
    split=None,
    split_files=None,
    seed=0,
    train_mix=None,
    num_frames=20,
    size=299,
    margin=1.3,
    methods=None,
    detector=None,
    extract=True,
    save_frames=False,
    videos_per_shard=100,
):
    """Build FFPMS (or its training mix) from an FF++ download.

    Every video gets its own generator, seeded by `seed` and its id, so a video's replaced
    frames do not depend on which other videos are selected.

    Writes to `out_dir`:

    - `videos.csv`: `video`, `label`, `method`, `fake_frames` (a fake keeps label 1 while it
      has at least one fake frame);
    - `frames.csv`: one row per sampled frame, `video`, `frame` (index in the video),
      `source_video` (the file the frame's pixels come from), `label`, `method`: the manifest
      of every replaced frame;
    - with `extract=True`, `bags/ffpms-*.tfrecord`: faces found by `detector` in the mixed
      frames, labelled per face (0 in a replaced or original frame, 1 in a kept fake frame);
      written to `bags.partial/` and renamed to `bags/` (replacing an earlier build's) when the
      build is done, so a build that fails leaves no shard;
    - with `save_frames=True`, `frames/<video>/<frame>.png`: the mixed frames, lossless;
    - `fake_frame_rate.png`: the histogram of the fake-frame rate of the fake videos.

    Args:
        ffpp_root: the FF++ folder (`read_ffpp` layout).
        out_dir: output folder.
        compression: `"c0"`, `"c23"` or `"c40"` (the paper's FFPMS).
        split: `"test"` (the paper's FFPMS), `"train"`, `"val"` or `"all"`; `None` means
            `"test"` when FF++'s split files are found and `"all"` otherwise.
        split_files: folder of FF++'s `train.json` / `val.json` / `test.json` (see `read_ffpp`);
            looked for under `ffpp_root` when `None`.
        seed: random seed.
        train_mix: `None` for FFPMS (1 to N-1 replaced frames), or the fraction of fake frames
            replaced in every fake video (the paper's training set: 0.25).
        num_frames: frames sampled per video (the paper: 20).
        size, margin: the model's view of the faces: side and margin (the stored crops hold
            more context around it, as `smil extract` stores them: `stored_crop`).
        methods: manipulation folders used; default: the paper's four (`PAPER_METHODS`) among
            those found, or every folder found when none of them is there.
        detector: a `FaceDetector` (default `MTCNNDetector()`).
        extract: write face bags.
        save_frames: also write the mixed frames as PNG.
        videos_per_shard: bags per shard.

    Returns:
        The statistics dict of `ffpms_statistics` (also logged), with `shards` added.

    Example:

    >>> stats = build_ffpms("/data/FaceForensics++", "ffpms", compression="c40", split="test")
    >>> stats["videos"], stats["frames"]  # 700, 14000 on the full FF++ test split
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if split is None:
        split = "test" if split_files or find_ffpp_split_files(ffpp_root) else "all"
    if methods is None:
        found = {entry.method for entry in read_ffpp(ffpp_root, compression)} - {""}
        methods = [method for method in PAPER_METHODS if method in found] or sorted(found)
    entries = read_ffpp(
        ffpp_root, compression, methods=methods, split=split, split_files=split_files
    )
    # Each original, then the fakes made from it: its frames are decoded once for all of them.
    entries.sort(key=lambda entry: (entry.original or entry.path, entry.label, entry.method))
    if not entries:
        raise FileNotFoundError(
            f"{ffpp_root}: no FF++ videos for compression={compression}, split={split}"
        )
    if extract and detector is None:
        detector = MTCNNDetector()

    video_rows, frame_rows, shards, failed = [], [], [], []
    last_sample = {}

    def sample(path):
        if path not in last_sample:
            last_sample.clear()
            last_sample[path] = sample_frames(path, num_frames)
        return last_sample[path]

    # The shards are written to bags.partial/ and renamed to bags/ once the build is done: a build
    # that fails leaves no shard that looks complete (and an earlier build's bags/ untouched).
    bags_dir, staging = out_dir / "bags", out_dir / "bags.partial"
    writer = None
    if extract:
        shutil.rmtree(staging, ignore_errors=True)
        writer = BagShardWriter(staging, prefix="ffpms", videos_per_shard=videos_per_shard)
    try:
        with writer or contextlib.nullcontext():  # an exception deletes the open shard
            for entry in tqdm(entries, desc=f"FFPMS {compression} {split}", unit="video"):
                try:
                    rows = _build_video(
                        entry,
                        out_dir,
                        sample,
                        seed,
                        train_mix,
                        num_frames,
                        size,
                        margin,
                        detector,
                        writer,
                        save_frames,
                    )
                except (ValueError, OSError) as error:  # VideoReadError is a ValueError
                    logger.error("%s: skipped (%s)", entry.path, error)
                    failed.append(entry.path)
                    continue
                fake_frames = sum(row[3] for row in rows)
                video_rows.append([entry.video_id, int(fake_frames > 0), entry.method, fake_frames])
                frame_rows += rows
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # and the shards completed before it
        raise
    if writer is not None:
        shutil.rmtree(bags_dir, ignore_errors=True)
        os.replace(staging, bags_dir)
        shards = [str(bags_dir / os.path.basename(shard)) for shard in writer.shards]

    write_csv(out_dir / "videos.csv", ["video", "label", "method", "fake_frames"], video_rows)
    write_csv(
        out_dir / "frames.csv", ["video", "frame", "source_video", "label", "method"], frame_rows
    )
    stats = ffpms_statistics(out_dir)
    stats["shards"] = shards
    stats["failed"] = failed
    logger.info("FFPMS written to %s:\n%s", out_dir, format_statistics(stats))
    _plot_histogram(stats, out_dir / "fake_frame_rate.png")
    return stats


def _build_video(
    entry, out_dir, sample, seed, train_mix, num_frames, size, margin, detector, writer, save_frames
):
    rng = np.random.default_rng([seed, zlib.crc32(entry.video_id.encode())])
    if entry.label == 0:
        original = sample(entry.path)
        indices, frames, sources = (
            original.indices,
            original.frames,
            [original.path] * len(original),
        )
        replaced = set(range(len(frames)))
    else:
        if entry.original is None:
            raise ValueError("its original video is unknown or missing")
        replaced = set(choose_replaced_frames(num_frames, rng, train_mix))
        fake = sample_frames(entry.path, num_frames)
        frames, sources = mix_fake_with_original(fake, sample(entry.original), replaced)
        indices = fake.indices
        if len(frames) != num_frames:
            raise ValueError(f"only {len(frames)} of {num_frames} frames could be sampled")
    fake_frame_indices = {
        index for position, index in enumerate(indices) if position not in replaced
    }
    if save_frames:
        _save_frames(out_dir / "frames" / entry.video_id, indices, frames)
    if writer is not None:
        record = labelled_bag(
            entry.video_id,
            entry.path,
            frames,
            indices,
            detector,
            lambda frame_index, box: int(frame_index in fake_frame_indices),
            label=int(bool(fake_frame_indices)),
            method=entry.method,
            dataset="ffpms",
            size=size,
            margin=margin,
        )
        if record is None:
            logger.warning(
                "%s: no face found in the sampled frames; left out of the bags", entry.path
            )
        else:
            writer.write(record)
    return [
        [entry.video_id, index, source, int(index in fake_frame_indices), entry.method]
        for index, source in zip(indices, sources, strict=True)
    ]


def ffpms_statistics(out_dir):
    """Counts of a built FFPMS folder: videos, frames, and the fake-frame rate histogram.

    Args:
        out_dir: the folder `build_ffpms` wrote (`videos.csv`, `frames.csv`).

    Returns:
        A dict: `videos`, `real_videos`, `fake_videos`, `frames`, `fake_frames`,
        `per_method` (`{method or "original": videos}`) and `fake_frame_histogram`
        (`{k: number of manipulated videos with k fake frames}`, k from 0 to the frames per
        video).

    Example:

    >>> print(format_statistics(ffpms_statistics("ffpms")))
    """
    videos = read_csv(pathlib.Path(out_dir) / "videos.csv")
    frames = read_csv(pathlib.Path(out_dir) / "frames.csv")
    frames_per_video = {}
    for row in frames:
        frames_per_video[row["video"]] = frames_per_video.get(row["video"], 0) + 1
    histogram = {k: 0 for k in range(max(frames_per_video.values(), default=0) + 1)}
    per_method = {}
    for row in videos:
        method = row["method"] or "original"
        per_method[method] = per_method.get(method, 0) + 1
        if row["method"]:
            histogram[int(row["fake_frames"])] += 1
    return {
        "videos": len(videos),
        "real_videos": sum(row["label"] == "0" for row in videos),
        "fake_videos": sum(row["label"] == "1" for row in videos),
        "frames": len(frames),
        "fake_frames": sum(row["label"] == "1" for row in frames),
        "per_method": per_method,
        "fake_frame_histogram": histogram,
    }


def format_statistics(stats):
    """The statistics of `ffpms_statistics` as a short text report."""
    lines = [
        f"videos: {stats['videos']} ({stats['real_videos']} real, {stats['fake_videos']} fake)",
        f"frames: {stats['frames']} ({stats['fake_frames']} fake)",
        "videos per method: "
        + ", ".join(f"{k} {v}" for k, v in sorted(stats["per_method"].items())),
        "fake frames per manipulated video (count: videos):",
    ]
    peak = max(stats["fake_frame_histogram"].values(), default=0) or 1
    for k, count in stats["fake_frame_histogram"].items():
        lines.append(f"  {k:3d}: {count:5d} {'#' * round(40 * count / peak)}")
    return "\n".join(lines)


def _plot_histogram(stats, path):
    # A bare Figure (no pyplot) needs no display and leaves a notebook's backend alone.
    from matplotlib.figure import Figure

    histogram = stats["fake_frame_histogram"]
    figure = Figure(figsize=(6, 3))
    axis = figure.add_subplot()
    axis.bar(list(histogram), list(histogram.values()), color="tab:red")
    axis.set_xlabel("fake frames per manipulated video")
    axis.set_ylabel("videos")
    axis.set_title("FFPMS fake-frame rate")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _save_frames(folder, indices, frames):
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in zip(indices, frames, strict=True):
        if not cv2.imwrite(
            str(folder / f"{index:06d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        ):
            raise OSError(f"{folder}: cannot write frame {index}")
