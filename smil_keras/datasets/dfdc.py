"""DFDC reader: the preview release's `dataset.json` and the full challenge's per-part
`metadata.json`."""

import csv
import json
import logging
import pathlib

from smil_keras.datasets.ffpp import VIDEO_EXTENSIONS
from smil_keras.datasets.video_entry import VideoEntry
from smil_keras.errors import DatasetFormatError

logger = logging.getLogger(__name__)

_LABELS = {"real": 0, "fake": 1}


def read_dfdc(root):
    """List the videos of a DFDC download (preview or full challenge).

    Recognised layouts, in this order:

    - preview: `root/dataset.json`, `{"<relative path>": {"label": "fake"|"real", "set":
      "train"|"test", ...}}`; the method is the path's first folder (`method_A`, `method_B`),
      real videos sit under `original_videos`.
    - full challenge: one `metadata.json` per part (`root/metadata.json` or
      `root/dfdc_train_part_*/metadata.json`), `{"x.mp4": {"label": "FAKE"|"REAL", "split":
      "train", "original": "y.mp4"}}`; a fake's `original` is resolved across all parts.
    - public test set: `labels.csv` (`filename,label` with 1 = fake) in `root` or a sub-folder.

    Files listed but absent on disk are reported with a warning naming them and skipped; video
    files under `root` that no label file lists are reported too (they get no label).

    Args:
        root: the DFDC folder.

    Returns:
        A list of `VideoEntry` with `dataset="dfdc"` (`"dfdc-preview"` for the preview).

    Raises:
        DatasetFormatError: no label file, or a label file that is not valid JSON/CSV or has an
            entry without a real/fake label.

    Example:

    >>> entries = read_dfdc("/data/dfdc")
    >>> sum(e.label for e in entries)  # number of fakes
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetFormatError(root, "DFDC folder not found")
    if (root / "dataset.json").is_file():
        entries = _read_preview(root / "dataset.json")
    else:
        label_files = sorted(root.rglob("metadata.json")) + sorted(root.rglob("labels.csv"))
        if not label_files:
            raise DatasetFormatError(
                root,
                "no DFDC label file found (expected dataset.json, */metadata.json or labels.csv)",
            )
        by_name = {
            path.name: path for path in root.rglob("*") if path.suffix.lower() in VIDEO_EXTENSIONS
        }
        entries = []
        for label_file in label_files:
            if label_file.name == "metadata.json":
                entries += _read_metadata(label_file, by_name)
            else:
                entries += _read_labels_csv(label_file)
    listed = {pathlib.Path(entry.path).resolve() for entry in entries}
    unlisted = [
        path
        for path in sorted(root.rglob("*"))
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.resolve() not in listed
    ]
    if unlisted:
        logger.warning(
            "%s: %d video(s) not listed in any DFDC label file, skipped: %s",
            root,
            len(unlisted),
            ", ".join(str(p.relative_to(root)) for p in unlisted[:10]),
        )
    return entries


def _load_json(path):
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetFormatError(path, f"not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise DatasetFormatError(path, "expected a JSON object {video: {label: ...}}")
    return data


def _label(path, name, info):
    label = info.get("label") if isinstance(info, dict) else None
    if not isinstance(label, str) or label.lower() not in _LABELS:
        raise DatasetFormatError(path, f"entry {name!r} has no real/fake label (got {label!r})")
    return _LABELS[label.lower()]


def _listed_video(path, name):
    """The video that label file `path` lists as `name`, or None (with a warning) if missing."""
    video = path.parent / name
    if not video.is_file():
        logger.warning("%s lists %s, which is missing; skipped", path, video)
        return None
    return video


def _read_preview(path):
    entries = []
    for name, info in _load_json(path).items():
        label = _label(path, name, info)
        video = _listed_video(path, name)
        if video is None:
            continue
        method = pathlib.PurePosixPath(name).parts[0] if label else ""
        entries.append(
            VideoEntry(
                str(video), label, method, str(info.get("set", "")), None, "dfdc-preview", name
            )
        )
    return entries


def _read_metadata(path, by_name):
    entries = []
    for name, info in _load_json(path).items():
        label = _label(path, name, info)
        video = _listed_video(path, name)
        if video is None:
            continue
        original = info.get("original") if label else None
        original = str(by_name[original]) if original in by_name else None
        entries.append(
            VideoEntry(
                str(video),
                label,
                "",
                str(info.get("split", "")),
                original,
                "dfdc",
                pathlib.Path(name).stem,
            )
        )
    return entries


def _read_labels_csv(path):
    entries = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"filename", "label"} <= set(reader.fieldnames):
            raise DatasetFormatError(path, "expected CSV columns filename,label")
        for line, row in enumerate(reader, start=2):
            label = row["label"].strip()
            if label not in ("0", "1", "0.0", "1.0"):
                raise DatasetFormatError(path, f"line {line}: label must be 0 or 1, got {label!r}")
            video = path.parent / row["filename"]
            if not video.is_file():
                logger.warning("%s lists %s, which is missing; skipped", path, video)
                continue
            entries.append(
                VideoEntry(str(video), int(float(label)), "", "test", None, "dfdc", video.stem)
            )
    return entries
