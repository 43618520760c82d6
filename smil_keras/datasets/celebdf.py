"""Celeb-DF (v1 and v2) reader: `Celeb-real`, `Celeb-synthesis`, `YouTube-real` and the test
list."""

import logging
import pathlib
import re

from smil_keras.datasets.ffpp import VIDEO_EXTENSIONS
from smil_keras.datasets.video_entry import VideoEntry
from smil_keras.errors import DatasetFormatError

logger = logging.getLogger(__name__)

# Folder -> (our label, method). YouTube-real is spelled "Youtube-real" in some copies.
_FOLDERS = {
    "celeb-real": (0, ""),
    "youtube-real": (0, ""),
    "celeb-synthesis": (1, "Celeb-synthesis"),
}
# Fakes are named id<target>_id<source>_<clip>.mp4 and made from Celeb-real/id<target>_<clip>.mp4.
_FAKE_NAME = re.compile(r"^(id\d+)_id\d+_(\d+)$")
TEST_LIST = "List_of_testing_videos.txt"


def read_celebdf(root, version=None):
    """List the videos of Celeb-DF (v1 or v2).

    Layout: `root/Celeb-real`, `root/Celeb-synthesis`, `root/YouTube-real` (videos directly in
    them or in a `videos/` sub-folder) and `root/List_of_testing_videos.txt`. Each line of that
    list is `<label> <relative path>` where, in Celeb-DF's own convention, **1 means real and
    0 means fake** (the reverse of this library's labels, 1 = fake); listed videos get
    `split="test"`, the others `split="train"`. A fake `id0_id16_0000.mp4` gets the original
    `Celeb-real/id0_0000.mp4`.

    Args:
        root: the Celeb-DF folder.
        version: `"v1"` or `"v2"`; only names the dataset (`"celebdf-v2"`), since both
            versions share the layout.

    Returns:
        A list of `VideoEntry`.

    Raises:
        DatasetFormatError: none of the three folders exists, or the test list is malformed
            (a line that is not `<0|1> <path>`, or a label contradicting the video's folder).

    Example:

    >>> entries = read_celebdf("/data/Celeb-DF-v2", version="v2")
    >>> test = [e for e in entries if e.split == "test"]
    """
    root = pathlib.Path(root)
    dataset = f"celebdf-{version}" if version else "celebdf"
    folders = {p.name.lower(): p for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}
    if not any(name in folders for name in _FOLDERS):
        raise DatasetFormatError(
            root, "not a Celeb-DF folder (no Celeb-real, Celeb-synthesis or YouTube-real)"
        )
    test_labels = _read_test_list(root / TEST_LIST) if (root / TEST_LIST).is_file() else None
    if test_labels is None:
        logger.warning("%s is missing; videos get no train/test split", root / TEST_LIST)

    entries = []
    for name, (label, method) in _FOLDERS.items():
        if name not in folders:
            logger.warning("%s: folder %s not found", root, name)
            continue
        for path in sorted(folders[name].rglob("*")):
            if path.suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            relative = path.relative_to(root).as_posix()
            if test_labels is not None and relative not in test_labels:
                # Copies that keep videos in <folder>/videos/ are listed as <folder>/<name>.
                short = f"{folders[name].name}/{path.name}"
                relative = short if short in test_labels else relative
            split = ""
            if test_labels is not None:
                split = "test" if relative in test_labels else "train"
                if split == "test" and test_labels[relative] != label:
                    raise DatasetFormatError(
                        root / TEST_LIST,
                        f"{relative} is labelled {'fake' if test_labels[relative] else 'real'} "
                        f"but lies in {folders[name].name}",
                    )
            original = None
            match = _FAKE_NAME.match(path.stem) if label else None
            if match:
                candidate = (
                    folders.get("celeb-real", root / "Celeb-real")
                    / f"{match[1]}_{match[2]}{path.suffix}"
                )
                original = str(candidate) if candidate.is_file() else None
            entries.append(VideoEntry(str(path), label, method, split, original, dataset, relative))
    if test_labels is not None:
        found = {entry.video_id for entry in entries}
        for missing in sorted(set(test_labels) - found):
            logger.warning("%s lists %s, which is missing; skipped", root / TEST_LIST, missing)
    return entries


def _read_test_list(path):
    """`{relative path: our label (1 = fake)}` from Celeb-DF's test list (its 1 = real)."""
    labels = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DatasetFormatError(
                path, f"line {number}: expected '<1 real|0 fake> <path>', got {line!r}"
            )
        labels[parts[1].strip()] = 1 - int(parts[0])
    return labels
