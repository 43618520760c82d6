"""Synthetic partially attacked videos: self-blended faces in some frames, and for some people only.

This is the library's embedded default data: with no videos of their own, users get clips
animated from the real face photo scikit-image ships (`skimage.data.astronaut()`), so the
README's demo and the tutorials run without any download.
"""

import copy
import logging
import pathlib

import cv2
import numpy as np
import skimage.data
from tqdm.auto import tqdm

from smil_keras.datasets.csv_table import write_csv
from smil_keras.datasets.partial_attack_dataset import PartialAttackDataset
from smil_keras.datasets.photo_clip import ASTRONAUT_FACE_BOX, animate_photo, jpeg_compress
from smil_keras.datasets.self_blending import self_blend
from smil_keras.datasets.video_entry import VideoEntry
from smil_keras.faces import MTCNNDetector, link_tracks
from smil_keras.video import sample_frames

logger = logging.getLogger(__name__)

METHOD = "self-blend"

# Source files taken as photos (animated into clips); any other file is taken as a video.
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def attack_frames(frames, boxes, fake, seed):
    """Forge the chosen faces of the chosen frames by self-blending (`self_blend`).

    Args:
        frames: list of RGB `uint8` frames.
        boxes: per frame, a list with the box `(x, y, w, h)` of each person (`None` where that
            person is not in the frame).
        fake: per frame, a list of booleans: which people's faces to forge.
        seed: seed of the forgery; person `j` is always forged with the generator
            `default_rng([seed, j])`, so its manipulation is the same in every frame.

    Returns:
        The list of frames: new arrays for the frames with a forged face, the given arrays
        otherwise.

    Example:

    >>> fake = [[t % 2 == 0] for t in range(len(frames))]  # every other frame
    >>> out = attack_frames(frames, [[box]] * len(frames), fake, seed=0)
    """
    out = []
    for frame, frame_boxes, frame_fake in zip(frames, boxes, fake, strict=True):
        for person, (box, forge) in enumerate(zip(frame_boxes, frame_fake, strict=True)):
            if forge and box is not None:
                frame, _ = self_blend(frame, box, np.random.default_rng([seed, person]))
        out.append(frame)
    return out


def choose_fake_faces(boxes, rng, other_people=0.3, one_person=False):
    """Choose which faces of a fake clip to forge: some frames, and in them some people.

    The number of attacked frames is drawn uniformly from 1 to F - 1 (F frames with a face;
    1 when F is 1), as FFPMS draws its fake frames. One target person is forged in every
    attacked frame where it appears; each other person of an attacked frame is forged too with
    probability `other_people` (in a frame without the target, one present person is forged).

    With `one_person`, the attack is across people instead of across time, as in DFDC videos
    where one of two people is swapped: one person, drawn uniformly among those present, is
    forged in every frame where they appear, and no one else.

    Args:
        boxes: per frame, a list of boxes per person (`None` where absent).
        rng: a `numpy.random.Generator`.
        other_people: probability of forging a non-target person in an attacked frame.
        one_person: forge one whole person instead (`other_people` is then unused).

    Returns:
        Per frame, a list of booleans (one per person).

    Example:

    >>> boxes = [[(0, 0, 9, 9), (20, 0, 9, 9)]] * 3  # two people in three frames
    >>> choose_fake_faces(boxes, np.random.default_rng(0), one_person=True)
    [[False, True], [False, True], [False, True]]
    """
    with_faces = [t for t, frame in enumerate(boxes) if any(b is not None for b in frame)]
    fake = [[False] * len(frame) for frame in boxes]
    if not with_faces:
        return fake
    if one_person:
        present_people = sorted(
            {j for t in with_faces for j, b in enumerate(boxes[t]) if b is not None}
        )
        target = int(rng.choice(present_people))
        for t in with_faces:
            fake[t][target] = boxes[t][target] is not None
        return fake
    count = int(rng.integers(1, max(len(with_faces) - 1, 1) + 1))
    attacked = rng.choice(with_faces, size=count, replace=False)
    present_people = sorted(
        {j for t in with_faces for j, b in enumerate(boxes[t]) if b is not None}
    )
    target = int(rng.choice(present_people))
    for t in attacked:
        present = [j for j, b in enumerate(boxes[t]) if b is not None]
        chosen = {target} if target in present else {int(rng.choice(present))}
        chosen |= {j for j in present if rng.random() < other_people}
        for j in chosen:
            fake[t][j] = True
    return fake


def write_video(path, frames, fps=10):
    """Write RGB `uint8` frames as an MPEG-4 (`mp4v`) video with OpenCV.

    Example:

    >>> write_video("clip.mp4", [np.zeros((64, 64, 3), np.uint8)] * 10, fps=10)
    """
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height)
    )
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write an mp4v video here")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def make_partial_attack_dataset(
    out_dir,
    source=None,
    num_videos=16,
    num_frames=16,
    fake_fraction=0.5,
    seed=0,
    *,
    size=256,
    two_face_fraction=0.25,
    one_person=False,
    fps=10,
    extract=True,
    detector=None,
    crop_size=128,
    margin=1.3,
    videos_per_shard=64,
):
    """Write a small dataset of real and partially attacked videos with per-face labels.

    Fake videos have their face(s) forged by self-blending (`self_blend`) in a random subset of
    frames and, in frames with several people, for some people only; real videos are left
    untouched. With `source=None` the clips are animated from `skimage.data.astronaut()` (a
    real photo: camera shake, zoom, lighting drift, JPEG compression), a quarter of them showing
    two people side by side; with a folder or list of videos, `num_frames` frames of each
    (cycled to make `num_videos` clips, downscaled to at most `size` pixels) are used, their
    faces found by `detector` and linked into people by position and appearance (`link_tracks`
    with the frames; a person is a track). Photos among the sources (`PHOTO_EXTENSIONS`) are
    animated like the embedded one, each clip anew, around the largest face `detector` finds in
    them (other people in the photo are never forged; their faces get label -1, unknown, in the
    bags).

    With `one_person=True` the attack is across people (`choose_fake_faces(one_person=True)`):
    in each fake clip one person is forged in every frame where they appear and everybody else
    is left real, so every person of a clip is wholly real or wholly fake. Photos then show all
    their people: every face at least half as tall as the largest is a person, the clip is
    framed to show them all, and each face's box is carried through the animation. In videos a
    person is a track of the sampled frames: a person the tracker splits in two (a missed
    detection, a turn of the head) is forged in one part only, and the bags' tracking, run on
    the forged frames, may join the parts again into one track with real and fake faces.

    Writes to `out_dir`:

    - `videos/clipNNN.mp4` (mp4v, `fps` frames per second);
    - `videos.csv`: `video`, `label` (0/1), `method`, `fake_frames`, `source`,
      `forged_people` (the people with a forged face, space-separated indices; empty when real);
    - `frames.csv`: `video`, `frame`, `label` (1 when a face of the frame is forged);
    - `faces.csv`: `video`, `frame`, `person`, `x`, `y`, `w`, `h`, `label`: every face's box
      (`person`: 0, 1, ... per clip, the largest face first in photos);
    - with `extract=True`, `bags/bags-*.tfrecord`: the faces of `num_frames` frames of each
      video found again by `detector` (MTCNN by default) and cropped for a `crop_size` view, each
      labelled by the forged/real face it overlaps, ready for `make_bag_dataset`.

    Args:
        out_dir: output folder (created).
        source: `None` for the embedded photo, or real videos and photos: a folder (its videos
            and photos), a video or photo file, a text file listing videos, or a list of those
            (as `smil extract` takes them). Sources are used in turn, clip after clip.
        num_videos: number of clips.
        num_frames: frames per clip.
        fake_fraction: fraction of the clips that are (partially) attacked.
        seed: everything is determined by it.
        size: frame side of the photo clips; largest side of clips from source videos.
        two_face_fraction: fraction of photo clips with two people (embedded photo only).
        one_person: forge one whole person of each fake clip, nobody else (see above).
        fps: frame rate written.
        extract: also extract labelled face bags.
        detector: a `FaceDetector` (default `MTCNNDetector()`), used for source videos and bags.
        crop_size, margin: the model's view of the faces in the bags: side and margin (the
            stored crops hold more context around it, as `smil extract` stores them:
            `stored_crop`).
        videos_per_shard: bags per shard file.

    Returns:
        A `PartialAttackDataset`.

    Example:

    >>> data = make_partial_attack_dataset("demo_data", num_videos=12, seed=0)
    >>> [(e.video_id, e.label) for e in data.entries][:2]
    """
    out_dir = pathlib.Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    if not 0 <= fake_fraction <= 1:
        raise ValueError(f"fake_fraction must be in [0, 1], got {fake_fraction}")
    sources = _list_sources(source)
    if sources and detector is None:
        detector = MTCNNDetector()
    num_fake = int(round(num_videos * fake_fraction))
    is_fake = np.zeros(num_videos, bool)
    is_fake[np.random.default_rng(seed).permutation(num_videos)[:num_fake]] = True

    entries, face_rows, frame_rows, video_rows, known, decoded = [], [], [], [], {}, {}
    for i in tqdm(range(num_videos), desc="synthesising clips", unit="clip"):
        rng = np.random.default_rng([seed, i])
        if sources:
            origin = sources[i % len(sources)]
            if origin not in decoded:  # sources are cycled: decode and detect each one once
                try:
                    decoded[origin] = _read_source(origin, num_frames, size, detector)
                except ValueError as error:  # unreadable, or a photo without a face: its clips
                    logger.error("%s: skipped (%s)", origin, error)  # are lost, no others
                    decoded[origin] = None
            if decoded[origin] is None:
                continue
            if _is_photo(origin):
                photo, people = decoded[origin]
                if one_person:
                    frames, boxes = _animate_people(photo, people, num_frames, size, rng)
                else:
                    frames, boxes = animate_photo(photo, people[0], num_frames, size, rng)
                    boxes = [[b] for b in boxes]
            else:
                frames, boxes = decoded[origin]
        else:
            origin = "skimage.data.astronaut"
            frames, boxes = _clip_from_photo(num_frames, size, two_face_fraction, rng)
        if is_fake[i]:
            fake = choose_fake_faces(boxes, rng, one_person=one_person)
        else:
            fake = [[False] * len(b) for b in boxes]
        frames = attack_frames(frames, boxes, fake, seed=int(rng.integers(2**31)))
        if not sources or _is_photo(origin):  # stills: compressed as a camera would
            quality = int(rng.integers(60, 96))
            frames = [jpeg_compress(frame, quality) for frame in frames]
        name = f"clip{i:03d}"
        path = out_dir / "videos" / f"{name}.mp4"
        write_video(path, frames, fps)
        fake_frames = sum(any(f) for f in fake)
        label = int(fake_frames > 0)  # a clip meant to be fake but without any face stays real
        entries.append(
            VideoEntry(
                str(path),
                label,
                METHOD if label else "",
                "",
                origin if label and sources else None,
                "synthetic",
                name,
            )
        )
        forged = sorted({j for frame_fake in fake for j, f in enumerate(frame_fake) if f})
        video_rows.append(
            [
                f"videos/{name}.mp4",
                label,
                METHOD if label else "",
                fake_frames,
                origin,
                " ".join(map(str, forged)),
            ]
        )
        known[name] = {}
        for t, (frame_boxes, frame_fake) in enumerate(zip(boxes, fake, strict=True)):
            frame_rows.append([f"videos/{name}.mp4", t, int(any(frame_fake))])
            for person, (box, forged) in enumerate(zip(frame_boxes, frame_fake, strict=True)):
                if box is not None:
                    face_rows.append([f"videos/{name}.mp4", t, person, *box, int(forged)])
                    known[name].setdefault(t, []).append((box, int(forged)))

    write_csv(
        out_dir / "videos.csv",
        ["video", "label", "method", "fake_frames", "source", "forged_people"],
        video_rows,
    )
    write_csv(out_dir / "frames.csv", ["video", "frame", "label"], frame_rows)
    write_csv(
        out_dir / "faces.csv", ["video", "frame", "person", "x", "y", "w", "h", "label"], face_rows
    )
    shards = []
    if extract:
        shards = _extract_bags(
            out_dir,
            entries,
            known,
            num_frames,
            detector or MTCNNDetector(),
            crop_size,
            margin,
            videos_per_shard,
        )
    logger.info(
        "%s: %d videos (%d fake), %d face boxes, %d shard(s)",
        out_dir,
        len(entries),
        sum(entry.label for entry in entries),
        len(face_rows),
        len(shards),
    )
    return PartialAttackDataset(str(out_dir), entries, shards)


def _list_sources(source):
    """Absolute paths of the source videos and photos, in input order (folders sorted)."""
    if source is None:
        return []
    from smil_keras.bags import find_videos

    items = [source] if isinstance(source, (str, pathlib.Path)) else list(source)
    paths = []
    for item in items:
        item = pathlib.Path(item)
        if _is_photo(item):
            if not item.is_file():
                raise FileNotFoundError(f"{item}: photo not found")
            paths.append(str(item.resolve()))
            continue
        paths.extend(path for path, _ in find_videos(item))
        if item.is_dir():
            photos = sorted(p for p in item.rglob("*") if p.is_file() and _is_photo(p))
            paths.extend(str(p.resolve()) for p in photos)
    if not paths:
        raise FileNotFoundError(f"{source}: no video or photo files found")
    return list(dict.fromkeys(paths))


def _is_photo(path):
    return pathlib.Path(path).suffix.lower() in PHOTO_EXTENSIONS


def _read_source(path, num_frames, size, detector):
    """A video's `(frames, boxes)`, or a photo's `(image, people)`: the boxes of its faces at
    least half as tall as the largest, the largest first."""
    if not _is_photo(path):
        return _clip_from_video(path, num_frames, size, detector)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a readable image")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    (faces,) = detector.detect([image])
    if not faces:
        raise ValueError("no face found in the photo")
    boxes = sorted((tuple(int(v) for v in f.box) for f in faces), key=lambda b: -b[2] * b[3])
    return image, [b for b in boxes if b[3] >= boxes[0][3] / 2]


def _animate_people(photo, people, num_frames, size, rng):
    """`animate_photo` framed to show every face of `people`, with each face's box per frame.

    The clip is framed on the faces' union, made at least 0.6 times as tall as it is wide so
    that side-by-side people fit in the square frame. Each face's box is carried through the
    same animation (the same draws of `rng`) as a white rectangle on black, whose bounding box
    it then is in each frame (`None` where it left the frame).
    """
    left = min(x for x, _, _, _ in people)
    top = min(y for _, y, _, _ in people)
    right = max(x + w for x, _, w, _ in people)
    bottom = max(y + h for _, y, _, h in people)
    height = max(bottom - top, 0.6 * (right - left))
    framing = (left, (top + bottom - height) / 2, right - left, height)
    draws = copy.deepcopy(rng)  # the draws the clip's animation is about to take
    frames, _ = animate_photo(photo, framing, num_frames, size, rng)
    boxes = [[] for _ in frames]
    for x, y, w, h in people:
        marker = np.zeros_like(photo)
        marker[y : y + h, x : x + w] = 255
        moved, _ = animate_photo(marker, framing, num_frames, size, copy.deepcopy(draws))
        for t, image in enumerate(moved):
            ys, xs = np.nonzero(image[:, :, 0] > 127)
            box = None
            if xs.size:
                box = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
            boxes[t].append(box)
    return frames, boxes


def _clip_from_photo(num_frames, size, two_face_fraction, rng):
    photo = skimage.data.astronaut()
    frames, boxes = animate_photo(photo, ASTRONAUT_FACE_BOX, num_frames, size, rng)
    if rng.random() >= two_face_fraction:
        return frames, [[box] for box in boxes]
    # A second person: the mirrored photo, animated independently, on the right.
    x, y, w, h = ASTRONAUT_FACE_BOX
    mirrored_box = (photo.shape[1] - x - w, y, w, h)
    right, right_boxes = animate_photo(photo[:, ::-1].copy(), mirrored_box, num_frames, size, rng)
    frames = [np.concatenate([a, b], axis=1) for a, b in zip(frames, right, strict=True)]
    boxes = [[a, (b[0] + size, b[1], b[2], b[3])] for a, b in zip(boxes, right_boxes, strict=True)]
    return frames, boxes


def _clip_from_video(path, num_frames, size, detector):
    frames = sample_frames(path, num_frames).frames
    height, width = frames[0].shape[:2]
    scale = min(1.0, size / max(height, width))
    new_size = (max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2))
    frames = [cv2.resize(f, new_size, interpolation=cv2.INTER_AREA) for f in frames]
    faces = link_tracks(detector.detect(frames), frames=frames)
    people = 1 + max((face.track_id for frame in faces for face in frame), default=-1)
    boxes = [[None] * people for _ in frames]
    for t, frame_faces in enumerate(faces):
        for face in frame_faces:
            boxes[t][face.track_id] = tuple(int(v) for v in face.box)
    if people == 0:
        logger.warning("%s: no face found; its clip stays real", path)
    return frames, boxes


def _extract_bags(
    out_dir, entries, known, num_frames, detector, crop_size, margin, videos_per_shard
):
    from smil_keras.bags import BagShardWriter
    from smil_keras.datasets.labelled_bags import label_by_overlap, labelled_bag

    with BagShardWriter(
        out_dir / "bags", prefix="bags", videos_per_shard=videos_per_shard
    ) as writer:
        for entry in tqdm(entries, desc="extracting faces", unit="video"):
            sample = sample_frames(entry.path, num_frames)
            face_label = (
                label_by_overlap(known[entry.video_id]) if entry.label else (lambda t, box: 0)
            )
            record = labelled_bag(
                entry.video_id,
                entry.path,
                sample.frames,
                sample.indices,
                detector,
                face_label,
                label=entry.label,
                method=entry.method,
                dataset="synthetic",
                size=crop_size,
                margin=margin,
            )
            if record is None:
                logger.warning("%s: no face found; left out of the bags", entry.path)
                continue
            writer.write(record)
    return list(writer.shards)
