"""The job behind `smil extract`: videos -> faces -> bag shards and a manifest, resumable."""

import json
import logging
import multiprocessing
import os

import tqdm

from smil_keras.bags.bag_record import BagRecord, encode_jpeg
from smil_keras.bags.find_videos import VIDEO_EXTENSIONS, find_videos
from smil_keras.bags.folder_lock import FolderLock
from smil_keras.bags.manifest import ManifestRow, read_manifest, write_manifest
from smil_keras.bags.schema import SHARD_SUFFIX
from smil_keras.bags.shard_journal import ShardJournal
from smil_keras.errors import NoFacesError, VideoReadError
from smil_keras.faces import MTCNNDetector, extract_video_faces
from smil_keras.faces.cropping import STORED_CONTEXT, stored_crop

logger = logging.getLogger(__name__)

SETTINGS_FILE = "extract.json"
LOCK_FILE = "extract.lock"
ENGINES = ("local", "ray")


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
    engine="local",
    address=None,
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

    Video ids are unique within an extraction (`find_videos`: paths relative to the input folder,
    lengthened where two videos would share one).

    One writer per folder. The extraction holds `out_dir/extract.lock` while it runs
    (`FolderLock`): a second extraction into the same folder, from this or another process, gets
    a `LockedError` naming the holder (process, host, since when). A lock left by a killed
    process is taken over with a logged warning.

    Shards and resuming. Videos are numbered in `find_videos` order; shard `k`
    (`{prefix}-{k:05d}.tfrecord`) holds the bags of videos `k * videos_per_shard` to
    `(k + 1) * videos_per_shard - 1` that have faces, in that order (so a shard may hold fewer
    than `videos_per_shard` bags, and a range without any face has no shard file). Each video is
    journaled as soon as it is done, beside its range's shard (`ShardJournal`: its serialised
    record and its manifest row); when the range is done its shard is written from the journal
    under a temporary name, the manifest rows of the range are saved, then the shard is renamed
    and the journal removed: a shard file that exists is complete and its videos are in the
    manifest. Running again with the same inputs and settings skips every range done and every
    journaled video, so an interrupted-then-resumed run ends with byte for byte the shard files,
    and the manifest, of an uninterrupted one (given a deterministic detector, as MTCNN on CPU
    is). The settings and video list are kept in `out_dir/extract.json`; resuming with different
    ones is refused.

    Args:
        inputs: videos, folders, or list files (see `find_videos`).
        out_dir: output folder (created if missing).
        num_frames: frames sampled per video (the paper uses 20).
        size: side of the model's square face input (the stored crops are larger, see above).
        workers: processes extracting in parallel (spawned; each builds its own detector once).
            1 runs in this process. With `engine="ray"`: the number of Ray actors.
        videos_per_shard: videos per shard range (see above).
        labels: video labels: a mapping from video path (absolute, or relative to the working
            folder) or bare file name to 0 / 1, or a function `path -> label`; videos not found
            get -1 (unknown). A bare file name shared by several input videos (without labels of
            their own by path) is refused, naming them: it would label them all.
        annotate: optional function `BagRecord -> BagRecord` applied to every bag before it is
            written (in this process; in the workers with `engine="ray"`), e.g. to set
            `face_labels`, `method` or `dataset` from the frame indices.
        detector: a `FaceDetector`; default `MTCNNDetector()`. With `workers > 1` or
            `engine="ray"` each worker rebuilds it as `type(detector)(**detector.get_config())`.
        dataset: name stored in every record's `dataset` field.
        prefix: shard file name prefix.
        margin: the model's view: crop side relative to the face box (see `crop_face`).
        context: stored crop side relative to the view (`stored_crop`; 1: store the view only).
        jpeg_quality: JPEG quality of the stored crops.
        engine: `"local"` (this machine: this process or `workers` spawned processes) or
            `"ray"` (a Ray cluster, `smil_keras.bags.ray_engine`; needs
            `pip install "smil-keras[ray]"` and a folder every node sees). Both write the same
            bytes and manifest.
        address: with `engine="ray"`, the cluster to join (`"auto"`, `"HOST:PORT"`); `None`
            starts a local Ray.
        progress: show a tqdm progress bar.

    Returns:
        The manifest rows (`ManifestRow`), one per video, in video order.

    Raises:
        FileNotFoundError: an input does not exist, or no video is found in the inputs.
        LockedError: another extraction is writing `out_dir`.
        ValueError: `out_dir` holds an extraction made with other settings or inputs, or a bare
            file name in `labels` names several videos.

    Example:

    >>> rows = extract_to_shards(["videos/"], "bags/", num_frames=20, workers=2)  # doctest: +SKIP
    >>> sum(row.status == "ok" for row in rows)  # doctest: +SKIP
    """
    if videos_per_shard < 1 or workers < 1 or num_frames < 1:
        raise ValueError("videos_per_shard, workers and num_frames must be at least 1")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    videos = find_videos(inputs)
    if not videos:
        raise FileNotFoundError(
            f"no videos found in {inputs} (video extensions: {', '.join(VIDEO_EXTENSIONS)})"
        )
    finish = _Finish(
        _label_lookup(labels, [path for path, _ in videos]), annotate, dataset, jpeg_quality
    )
    if engine == "ray":  # before anything is written: Ray is an optional dependency
        from smil_keras.bags.ray_engine import extract_with_ray
    # Other processes build their own detector from its class and config.
    spec = _detector_spec(detector) if workers > 1 or engine == "ray" else None
    stored_size, stored_margin = stored_crop(size, margin, context)
    options = {
        "num_frames": num_frames,
        "size": stored_size,
        "margin": stored_margin,
        "jpeg_quality": jpeg_quality,
    }
    out_dir = os.fspath(out_dir)
    with FolderLock(out_dir, LOCK_FILE):
        _check_settings(
            out_dir,
            {
                "num_frames": num_frames,
                "size": size,
                "margin": margin,
                "context": context,
                "prefix": prefix,
                "videos_per_shard": videos_per_shard,
                "jpeg_quality": jpeg_quality,
                "videos": [path for path, _ in videos],
            },
        )
        plan = _ShardPlan(out_dir, prefix, videos, videos_per_shard)
        todo = plan.todo()
        if len(todo) < len(plan.ranges):
            logger.info(
                "%s: resuming, %d of %d shard ranges already done",
                out_dir,
                len(plan.ranges) - len(todo),
                len(plan.ranges),
            )
        done = {k: plan.journal(k).entries(plan.ranges[k]) for k in todo}
        remaining = sum(len(plan.ranges[k]) - len(done[k]) for k in todo)
        with tqdm.tqdm(total=remaining, desc="extract", unit="video", disable=not progress) as bar:
            if engine == "local":
                _extract_locally(plan, done, detector, spec, options, workers, finish, bar)
            else:
                extract_with_ray(plan, done, spec, options, workers, finish, bar, address)
        ordered = [plan.rows[path] for path, _ in videos]
        write_manifest(out_dir, ordered)
    counts = {
        status: sum(row.status == status for row in ordered)
        for status in ("ok", "no_faces", "error")
    }
    logger.info(
        "%s: %d videos: %d ok, %d without faces, %d errors",
        out_dir,
        len(ordered),
        counts["ok"],
        counts["no_faces"],
        counts["error"],
    )
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


def _label_lookup(labels, paths):
    """`labels` (None, a function or a mapping) -> function `absolute path -> label`.

    Raises:
        ValueError: a bare file name in `labels` that would label several of `paths`.
    """
    if labels is None:
        return _unknown_label
    if callable(labels):
        return labels
    by_path = {os.path.abspath(key): int(value) for key, value in labels.items()}
    by_name = {key: int(value) for key, value in labels.items() if os.path.basename(key) == key}
    named = {}
    for path in paths:
        if path not in by_path and os.path.basename(path) in by_name:
            named.setdefault(os.path.basename(path), []).append(path)
    for name, matches in named.items():
        if len(matches) > 1:
            raise ValueError(
                f"labels: the bare file name {name!r} matches {len(matches)} videos "
                f"({', '.join(matches)}); label each of them by its path"
            )
    return _MappedLabels(by_path, by_name)


def _unknown_label(path):
    return -1


class _MappedLabels:
    """A label mapping as a picklable function `path -> label`: by path, then by file name."""

    def __init__(self, by_path, by_name):
        self.by_path, self.by_name = by_path, by_name

    def __call__(self, path):
        return self.by_path.get(path, self.by_name.get(os.path.basename(path), -1))


class _Finish:
    """Turns a video's extraction into its manifest row and serialised bag record: sets the
    label and dataset, applies `annotate`."""

    def __init__(self, label_of, annotate, dataset, jpeg_quality):
        self.label_of, self.annotate = label_of, annotate
        self.dataset, self.jpeg_quality = dataset, jpeg_quality

    def __call__(self, result, shard):
        path, record, row = result
        row.label = int(self.label_of(path))
        if record is None:
            return row, None
        record.label, record.dataset = row.label, self.dataset
        if self.annotate is not None:
            record = self.annotate(record)
        row.shard = os.path.basename(shard)
        return row, record.serialize(self.jpeg_quality)


class _ShardPlan:
    """The shard ranges of an extraction and its manifest rows so far (`rows`, by path)."""

    def __init__(self, out_dir, prefix, videos, videos_per_shard):
        self.out_dir, self.prefix = out_dir, prefix
        self.ranges = [
            videos[start : start + videos_per_shard]
            for start in range(0, len(videos), videos_per_shard)
        ]
        self.order = {path: index for index, (path, _) in enumerate(videos)}
        self.rows = {row.video: row for row in read_manifest(out_dir) if row.video in self.order}

    def shard(self, k):
        return os.path.join(self.out_dir, f"{self.prefix}-{k:05d}{SHARD_SUFFIX}")

    def journal(self, k):
        return ShardJournal(self.shard(k))

    def todo(self):
        """The ranges not done; removes the journals left beside ranges done."""
        todo = []
        for k, videos in enumerate(self.ranges):
            rows = [self.rows.get(path) for path, _ in videos]
            if any(
                row is None
                or (
                    row.status == "ok" and not os.path.exists(os.path.join(self.out_dir, row.shard))
                )
                for row in rows
            ):
                todo.append(k)
            elif os.path.isdir(self.journal(k).folder):
                self.journal(k).remove()  # killed after publishing, before removing it
        return todo

    def publish(self, k, rows):
        """Saves the manifest with the rows of range `k`, then publishes its assembled shard."""
        self.rows.update((row.video, row) for row in rows)
        write_manifest(self.out_dir, sorted(self.rows.values(), key=lambda r: self.order[r.video]))
        self.journal(k).publish()


def _extract_locally(plan, done, detector, spec, options, workers, finish, bar):
    """The local engine: this process, or a pool of `workers` spawned processes.

    `done`: `{k: journaled positions}` of the ranges to do."""
    jobs = [
        job for k in done for position, job in enumerate(plan.ranges[k]) if position not in done[k]
    ]
    with _Extraction(jobs, detector, spec, options, workers) as results:
        for k in done:
            journal = plan.journal(k)
            for position in range(len(plan.ranges[k])):
                if position not in done[k]:
                    journal.add(position, *finish(next(results), plan.shard(k)))
                    bar.update()
            plan.publish(k, journal.assemble(plan.ranges[k]))


# Extraction of one video, in this process or in a worker. ---------------------------------

_WORKER = {}


def _detector_spec(detector):
    """`(class, config)` from which a worker process builds its own copy of `detector`."""
    if detector is None:
        return MTCNNDetector, {}
    if not hasattr(detector, "get_config"):
        raise ValueError(
            f"extracting in other processes needs a detector with get_config(), got {detector!r}"
        )
    return type(detector), detector.get_config()


def _init_worker(detector_spec, options, threads):
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    cls, config = detector_spec
    _WORKER.update(detector=cls(**config), options=options)


def _extract_one(job):
    """`(path, video_id)` -> `(path, BagRecord or None, ManifestRow)`."""
    path, video_id = job
    options = _WORKER["options"]
    row = ManifestRow(video=path, status="ok", video_id=video_id)
    try:
        found = extract_video_faces(
            path,
            _WORKER["detector"],
            num_frames=options["num_frames"],
            size=options["size"],
            margin=options["margin"],
        )
    except NoFacesError as error:
        row.status, row.reason, row.frames = "no_faces", str(error), error.frames_searched
        return path, None, row
    except VideoReadError as error:
        row.status, row.reason = "error", error.reason
        return path, None, row
    except Exception as error:  # a batch job logs any failure of one video and goes on
        logger.exception("unexpected failure on %s", path)
        row.status, row.reason = "error", f"{type(error).__name__}: {error}"
        return path, None, row
    record = BagRecord(
        video_id=video_id,
        video=path,
        frame_indices=found.face_frame_indices,
        boxes=found.boxes,
        confidences=found.confidences,
        track_ids=found.track_ids,
        crops=[encode_jpeg(crop, options["jpeg_quality"]) for crop in found.crops],
        margin=options["margin"],
    )
    row.faces, row.frames = len(record), found.num_frames_sampled
    return path, record, row


class _Extraction:
    """Context manager giving an iterator of `_extract_one` results in job order.

    With one worker the videos are extracted in this process, by `detector` (or an
    `MTCNNDetector()`); with more, by spawned processes that each build a detector from `spec`
    (`_detector_spec(detector)`).
    """

    def __init__(self, jobs, detector, spec, options, workers):
        self.jobs, self.detector, self.spec = jobs, detector, spec
        self.options, self.workers = options, workers
        self.pool = None

    def __enter__(self):
        if not self.jobs:
            return iter(())
        if self.workers == 1:
            detector = MTCNNDetector() if self.detector is None else self.detector
            _WORKER.update(detector=detector, options=self.options)
            return map(_extract_one, self.jobs)
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        context = multiprocessing.get_context("spawn")
        self.pool = context.Pool(
            min(self.workers, len(self.jobs)), _init_worker, (self.spec, self.options, threads)
        )
        return self.pool.imap(_extract_one, self.jobs)

    def __exit__(self, *exc):
        _WORKER.clear()
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
