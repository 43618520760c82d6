"""FaceForensics++ reader: the on-disk layout of the official download script and its split
files."""

import json
import logging
import pathlib
import re

from smil_keras.datasets.video_entry import VideoEntry
from smil_keras.errors import DatasetFormatError

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
SPLITS = ("train", "val", "test")
# Fake FF++ videos are named <target>_<source>.mp4 with three-digit ids; the target's
# original video supplies every pixel outside the manipulated face.
_PAIR_NAME = re.compile(r"^(\d+)_(\d+)$")


def list_videos(folder):
    """Sorted video files directly inside `folder`."""
    return sorted(
        path
        for path in pathlib.Path(folder).iterdir()
        if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS
    )


def find_ffpp_split_files(root):
    """Locate FF++'s official `train.json` / `val.json` / `test.json` under `root`.

    Looks in `root/splits`, `root/dataset/splits` and `root` itself, the places the official
    repository and common mirrors keep them. Returns `{split: path}` for the files found.
    """
    root = pathlib.Path(root)
    for folder in (root / "splits", root / "dataset" / "splits", root):
        found = {
            name: folder / f"{name}.json" for name in SPLITS if (folder / f"{name}.json").is_file()
        }
        if found:
            return found
    return {}


def read_ffpp_split(path):
    """Read one official FF++ split file.

    The file is a JSON list of `[id, id]` pairs, e.g. `[["953", "974"], ...]`. Each pair
    names two originals and the two fakes made from them (`953_974` and `974_953`).

    Returns:
        `(originals, fakes)`: the sets of original ids and fake names in the split.

    Example:

    >>> originals, fakes = read_ffpp_split("FaceForensics/dataset/splits/test.json")
    """
    path = pathlib.Path(path)
    try:
        pairs = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetFormatError(path, "split file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetFormatError(path, f"not valid JSON ({error})") from None
    if not isinstance(pairs, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(i, str) for i in pair)
        for pair in pairs
    ):
        raise DatasetFormatError(
            path, 'expected a JSON list of [id, id] string pairs, like [["953", "974"]]'
        )
    originals = {video_id for pair in pairs for video_id in pair}
    fakes = {f"{a}_{b}" for a, b in pairs} | {f"{b}_{a}" for a, b in pairs}
    return originals, fakes


def read_ffpp(root, compression="c23", methods=None, split=None, split_files=None):
    """List the videos of a FaceForensics++ download.

    Reads the layout written by FF++'s download script::

        root/original_sequences/youtube/<compression>/videos/<id>.mp4
        root/manipulated_sequences/<method>/<compression>/videos/<target>_<source>.mp4

    Every folder under `manipulated_sequences` is a method (Deepfakes, Face2Face, FaceSwap,
    NeuralTextures, and FaceShifter / DeepFakeDetection in newer releases). A fake named
    `<target>_<source>` gets the original `<target>.mp4` as its `original`.

    Args:
        root: the FF++ folder.
        compression: `"raw"` (also accepted as `"c0"`, the papers' name), `"c23"` or `"c40"`.
        methods: names of the manipulation folders to keep; `None` keeps all.
        split: `"train"`, `"val"` or `"test"` keeps the videos of that official split;
            `None` or `"all"` keeps every video (annotated with its split when split files exist).
        split_files: a folder holding `train.json` / `val.json` / `test.json` (FF++'s
            `dataset/splits`), or a dict `{split: path}`; found under `root` when `None`.

    Returns:
        A list of `VideoEntry` (originals first, then fakes by method), `dataset="ffpp"`.

    Raises:
        DatasetFormatError: the originals folder, a requested method or a needed split file is
            missing, or a split file is malformed.

    Example:

    >>> entries = read_ffpp("/data/FaceForensics++", compression="c40", split="test")
    >>> fakes = [e for e in entries if e.label == 1]
    """
    root = pathlib.Path(root)
    # FF++'s download script names the uncompressed level "raw"; papers call it c0.
    if compression in ("c0", "raw"):
        compression = next(
            (
                name
                for name in ("raw", "c0")
                if (root / "original_sequences" / "youtube" / name).is_dir()
            ),
            "raw",
        )
    originals_dir = root / "original_sequences" / "youtube" / compression / "videos"
    if not originals_dir.is_dir():
        youtube = root / "original_sequences" / "youtube"
        present = (
            sorted(p.name for p in youtube.iterdir() if p.is_dir()) if youtube.is_dir() else []
        )
        raise DatasetFormatError(
            originals_dir,
            "FF++ originals folder not found"
            + (
                f" (compressions present: {', '.join(present)})"
                if present
                else "; expected FaceForensics++'s layout original_sequences/youtube/<c>/videos"
            ),
        )
    split_map = _resolve_split_files(root, split_files)
    if split not in (None, "all") and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, 'all' or None, got {split!r}")
    if split in SPLITS and split not in split_map:
        raise DatasetFormatError(
            root / "splits" / f"{split}.json",
            f"split {split!r} requested but its official split file was not found; pass "
            "split_files= the folder holding FF++'s train.json/val.json/test.json, "
            "or use split='all'",
        )
    split_of = {}
    for name, path in split_map.items():
        originals, fakes = read_ffpp_split(path)
        split_of.update({video_id: name for video_id in originals | fakes})

    manipulated = root / "manipulated_sequences"
    available = (
        sorted(p.name for p in manipulated.iterdir() if p.is_dir()) if manipulated.is_dir() else []
    )
    if methods is None:
        methods = [m for m in available if (manipulated / m / compression / "videos").is_dir()]
    else:
        methods = [methods] if isinstance(methods, str) else list(methods)
        for method in methods:
            if not (manipulated / method / compression / "videos").is_dir():
                raise DatasetFormatError(
                    manipulated / method / compression / "videos",
                    f"method folder not found (methods present: {', '.join(available) or 'none'})",
                )

    entries = []
    for path in list_videos(originals_dir):
        entries.append(
            VideoEntry(
                str(path), 0, "", split_of.get(path.stem, ""), None, "ffpp", f"original/{path.stem}"
            )
        )
    for method in methods:
        for path in list_videos(manipulated / method / compression / "videos"):
            match = _PAIR_NAME.match(path.stem)
            original = None
            if match:
                candidate = originals_dir / f"{match.group(1)}{path.suffix}"
                if candidate.is_file():
                    original = str(candidate)
                else:
                    logger.warning("%s: its original %s is missing", path, candidate)
            entries.append(
                VideoEntry(
                    str(path),
                    1,
                    method,
                    split_of.get(path.stem, ""),
                    original,
                    "ffpp",
                    f"{method}/{path.stem}",
                )
            )
    if split in SPLITS:
        entries = [entry for entry in entries if entry.split == split]
    if not entries:
        logger.warning(
            "%s: no FF++ videos found for compression=%s, methods=%s, split=%s",
            root,
            compression,
            methods,
            split,
        )
    return entries


def _resolve_split_files(root, split_files):
    if split_files is None:
        return find_ffpp_split_files(root)
    if isinstance(split_files, dict):
        return {name: pathlib.Path(path) for name, path in split_files.items()}
    folder = pathlib.Path(split_files)
    if not folder.is_dir():
        raise DatasetFormatError(folder, "split_files folder not found")
    return {name: folder / f"{name}.json" for name in SPLITS if (folder / f"{name}.json").is_file()}
