"""The job behind `smil extract`: videos -> faces -> bag shards and a manifest, resumable."""

import json
import logging
import multiprocessing
import os

import tqdm

from smil_keras.bags.bag_record import BagRecord, encode_jpeg
from smil_keras.bags.bag_shard_writer import BagShardWriter
from smil_keras.bags.manifest import ManifestRow, read_manifest, write_manifest
from smil_keras.faces.cropping import STORED_CONTEXT, stored_crop

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".3gp", ".ts")
LIST_EXTENSIONS = (".txt", ".lst", ".list")
SETTINGS_FILE = "extract.json"


def find_videos(inputs):
    """The videos named by `inputs`, as `(absolute path, video_id)` pairs in a fixed order.

    Args:
        inputs: a path or a list of paths, each one of
            - a folder: every file with a video extension (`VIDEO_EXTENSIONS`) below it, sorted;
              the video id is its path relative to the folder, without extension;
            - a text file (`.txt`, `.lst`, `.list`): one video path per line (relative paths are
              relative to the list file; blank lines and lines starting with `#` are skipped);
            - any other file: taken as a video (the extraction records it as an error if it is
              not one); its id is its file name without extension.

    Returns:
        List of `(path, video_id)`, in input order (folders sorted), without duplicate paths.

    Raises:
        FileNotFoundError: an input that does not exist (a missing file inside a list is not an
            error here: the extraction records it).

    Example:

    >>> find_videos(["ffpp/original_sequences", "more_videos.txt"])  # doctest: +SKIP
    [('/data/ffpp/original_sequences/youtube/c23/videos/519.mp4', 'youtube/c23/videos/519'), ...]
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    found = []
    for item in map(os.fspath, items):
        if os.path.isdir(item):
            paths = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(item)
                for name in names
                if name.lower().endswith(VIDEO_EXTENSIONS)
            )
            found += [(path, os.path.splitext(os.path.relpath(path, item))[0]) for path in paths]
        elif os.path.isfile(item) and item.lower().endswith(LIST_EXTENSIONS):
            base = os.path.dirname(item)
            with open(item, encoding="utf-8") as file:
                lines = [line.strip() for line in file]
            for line in lines:
                if line and not line.startswith("#"):
                    path = os.path.join(base, line)
                    found.append((path, os.path.splitext(os.path.normpath(line))[0]))
        elif os.path.isfile(item):
            found.append((item, os.path.splitext(os.path.basename(item))[0]))
        else:
            raise FileNotFoundError(f"input not found: {item}")
    videos, seen = [], set()
    for path, video_id in found:
        path = os.path.abspath(path)
        if path not in seen:
            seen.add(path)
            videos.append((path, video_id))
    return videos


def extract_to_shards(
    inputs,
    out_dir,
    *,
    num_frames=20,
    size=299,
    workers=1,
    videos_per_shard=100,
    labels=None,
    annotate=None,
    detector=None,
    dataset="",
    prefix="bags",
    margin=1.3,
    context=STORED_CONTEXT,
    jpeg_quality=95,
    progress=True,
):
    """Extracts the faces of videos into bag shards (`bags.schema`) and a manifest.

    For each video: `sample_frames` takes `num_frames` uniformly spaced frames, the detector finds
    the faces, `crop_face` cuts the crops, and one `BagRecord` is written. The crops hold
    `context` times the model's view (`size` px of margin `margin`): 331 px of margin 1.44 by
    default (`stored_crop`), so that training can cut the view at a random position and
    evaluation at the centre without resizing (`make_bag_dataset`). A video that
    cannot be read, or where no face is found, gets a manifest row (`status` `error` /
    `no_faces` and the reason) and no bag; the run goes on.

    Shards and resuming. Videos are numbered in `find_videos` order; shard `k`
    (`{prefix}-{k:05d}.tfrecord`) holds the bags of videos `k * videos_per_shard` to
    `(k + 1) * videos_per_shard - 1` that have faces, in that order (so a shard may hold fewer
    than `videos_per_shard` bags, and a range without any face has no shard file). A shard is
    written under a temporary name, the manifest rows of its range are saved, then the shard is
    renamed: a shard file that exists is complete and its videos are in the manifest. Running
    again with the same inputs and settings skips every range already done and redoes the others,
    so an interrupted-then-resumed run ends with exactly the shard files, records and manifest of
    an uninterrupted one (given a deterministic detector, as MTCNN on CPU is). The settings and
    video list are kept in `out_dir/extract.json`; resuming with different ones is refused.

    Args:
        inputs: videos, folders, or list files (see `find_videos`).
        out_dir: output folder (created if missing).
        num_frames: frames sampled per video (the paper uses 20).
        size: side of the model's square face input (the stored crops are larger, see above).
        workers: processes extracting in parallel (spawned; each builds its own detector once).
            1 runs in this process.
        videos_per_shard: videos per shard range (see above).
        labels: video labels: a mapping from video path (absolute, or as given) or file name to
            0 / 1, or a function `path -> label`; videos not found get -1 (unknown).
        annotate: optional function `BagRecord -> BagRecord` applied to every bag before it is
            written (this process), e.g. to set `face_labels`, `method` or `dataset` from the
            frame indices.
        detector: a `FaceDetector`; default `MTCNNDetector()`. With `workers > 1` each worker
            rebuilds it as `type(detector)(**detector.get_config())`.
        dataset: name stored in every record's `dataset` field.
        prefix: shard file name prefix.
        margin: the model's view: crop side relative to the face box (see `crop_face`).
        context: stored crop side relative to the view (`stored_crop`; 1: store the view only).
        jpeg_quality: JPEG quality of the stored crops.
        progress: show a tqdm progress bar.

    Returns:
        The manifest rows (`ManifestRow`), one per video, in video order.

    Raises:
        FileNotFoundError: an input does not exist, or no video is found in the inputs.
        ValueError: `out_dir` holds an extraction made with other settings or inputs.

    Example:

    >>> rows = extract_to_shards(["videos/"], "bags/", num_frames=20, workers=2)  # doctest: +SKIP
    >>> sum(row.status == "ok" for row in rows)  # doctest: +SKIP
    """
    if videos_per_shard < 1 or workers < 1 or num_frames < 1:
        raise ValueError("videos_per_shard, workers and num_frames must be at least 1")
    videos = find_videos(inputs)
    if not videos:
        raise FileNotFoundError(f"no videos found in {inputs} (video extensions: "
                                f"{', '.join(VIDEO_EXTENSIONS)})")
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    _check_settings(out_dir, {
        "num_frames": num_frames, "size": size, "margin": margin, "context": context,
        "prefix": prefix,
        "videos_per_shard": videos_per_shard, "jpeg_quality": jpeg_quality,
        "videos": [path for path, _ in videos],
    })
    ranges = [videos[start:start + videos_per_shard]
              for start in range(0, len(videos), videos_per_shard)]
    rows = {row.video: row for row in read_manifest(out_dir)}
    todo = [k for k, videos_k in enumerate(ranges) if not _range_done(videos_k, rows, out_dir)]
    if len(todo) < len(ranges):
        logger.info("%s: resuming, %d of %d shard ranges already done", out_dir,
                    len(ranges) - len(todo), len(ranges))
    jobs = [(path, video_id) for k in todo for path, video_id in ranges[k]]
    stored_size, stored_margin = stored_crop(size, margin, context)
    options = {"num_frames": num_frames, "size": stored_size, "margin": stored_margin,
               "jpeg_quality": jpeg_quality}
    label_of = _label_lookup(labels)
    with tqdm.tqdm(total=len(jobs), desc="extract", unit="video", disable=not progress) as bar, \
            _Extraction(jobs, detector, options, workers) as results:
        for k in todo:
            done = []
            for _ in ranges[k]:
                done.append(next(results))
                bar.update()
            writer = BagShardWriter(out_dir, prefix, videos_per_shard, first_shard=k,
                                    jpeg_quality=jpeg_quality)
            _write_range(writer, done, rows, label_of, annotate, dataset)
    ordered = [rows[path] for path, _ in videos]
    counts = {status: sum(row.status == status for row in ordered)
              for status in ("ok", "no_faces", "error")}
    logger.info("%s: %d videos: %d ok, %d without faces, %d errors", out_dir, len(ordered),
                counts["ok"], counts["no_faces"], counts["error"])
    write_manifest(out_dir, ordered)
    return ordered


def _check_settings(out_dir, settings):
    path = os.path.join(out_dir, SETTINGS_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            previous = json.load(file)
        changed = [name for name in settings if previous.get(name) != settings[name]]
        if changed:
            raise ValueError(
                f"{out_dir} holds an extraction made with other {', '.join(changed)}; resume it "
                "with the same inputs and settings, or extract into another folder"
            )
    else:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(settings, file, indent=1)


def _range_done(videos, rows, out_dir):
    for path, _ in videos:
        row = rows.get(path)
        if row is None or (row.status == "ok" and not os.path.exists(
                os.path.join(out_dir, row.shard))):
            return False
    return True


def _label_lookup(labels):
    """`labels` (None, a function or a mapping) -> function `absolute path -> label`."""
    if labels is None:
        return lambda path: -1
    if callable(labels):
        return lambda path: int(labels(path))
    by_path = {os.path.abspath(key): int(value) for key, value in labels.items()}
    by_name = {os.path.basename(key): int(value) for key, value in labels.items()}
    return lambda path: by_path.get(path, by_name.get(os.path.basename(path), -1))


def _write_range(writer, results, rows, label_of, annotate, dataset):
    """Writes one shard range: records to a temporary shard, the manifest, then the shard."""
    shard = writer.shard_path(writer.first_shard)
    with writer:
        for path, _, record, row in results:
            row.label = label_of(path)
            if record is not None:
                record.label, record.dataset = row.label, dataset
                if annotate is not None:
                    record = annotate(record)
                writer.write(record)
                row.shard = os.path.basename(shard)
            rows[path] = row
        write_manifest(writer.out_dir, list(rows.values()))
    if not writer.shards and os.path.exists(shard):
        os.remove(shard)  # a stale shard of this range from an earlier run


# Extraction of one video, in this process or in a worker. ---------------------------------

_WORKER = {}


def _init_worker(detector_spec, options, threads):
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    cls, config = detector_spec
    _WORKER.update(detector=cls(**config), options=options)


def _extract_one(job):
    """`(path, video_id)` -> `(path, video_id, BagRecord or None, ManifestRow)`."""
    from smil_keras.faces import NoFacesError, extract_video_faces
    from smil_keras.video import VideoReadError

    path, video_id = job
    options = _WORKER["options"]
    row = ManifestRow(video=path, status="ok", video_id=video_id)
    try:
        found = extract_video_faces(path, _WORKER["detector"], num_frames=options["num_frames"],
                                    size=options["size"], margin=options["margin"])
    except NoFacesError as error:
        row.status, row.reason, row.frames = "no_faces", str(error), error.frames_searched
        return path, video_id, None, row
    except VideoReadError as error:
        row.status, row.reason = "error", error.reason
        return path, video_id, None, row
    except Exception as error:  # a batch job logs any failure of one video and goes on
        logger.exception("unexpected failure on %s", path)
        row.status, row.reason = "error", f"{type(error).__name__}: {error}"
        return path, video_id, None, row
    record = BagRecord(
        video_id=video_id, video=path, frame_indices=found.face_frame_indices,
        boxes=found.boxes, confidences=found.confidences, track_ids=found.track_ids,
        crops=[encode_jpeg(crop, options["jpeg_quality"]) for crop in found.crops],
        margin=options["margin"],
    )
    row.faces, row.frames = len(record), found.num_frames_sampled
    return path, video_id, record, row


class _Extraction:
    """Context manager giving an iterator of `_extract_one` results in job order."""

    def __init__(self, jobs, detector, options, workers):
        from smil_keras.faces import MTCNNDetector

        self.jobs, self.options, self.workers = jobs, options, workers
        self.detector = detector
        if detector is None:
            self.spec = (MTCNNDetector, {})
        elif workers > 1:
            if not hasattr(detector, "get_config"):
                raise ValueError(
                    f"workers > 1 needs a detector with get_config(), got {detector!r}")
            self.spec = (type(detector), detector.get_config())
        self.pool = None

    def __enter__(self):
        if not self.jobs:
            return iter(())
        if self.workers == 1:
            if self.detector is None:
                _init_worker(self.spec, self.options, 0)
            else:
                _WORKER.update(detector=self.detector, options=self.options)
            return map(_extract_one, self.jobs)
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        context = multiprocessing.get_context("spawn")
        self.pool = context.Pool(min(self.workers, len(self.jobs)), _init_worker,
                                 (self.spec, self.options, threads))
        return self.pool.imap(_extract_one, self.jobs)

    def __exit__(self, *exc):
        _WORKER.clear()
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
