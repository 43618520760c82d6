"""The manifest of an extraction: one row per input video, in `manifest.csv` and `manifest.json`."""

import csv
import dataclasses
import json
import os

from smil_keras.errors import BagFormatError

MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
STATUSES = ("ok", "no_faces", "error")


@dataclasses.dataclass
class ManifestRow:
    """What happened to one input video of `extract_to_shards`.

    Args:
        video: absolute path of the video.
        status: `"ok"` (its bag is in `shard`), `"no_faces"` (no face found in any sampled frame)
            or `"error"` (unreadable; see `reason`).
        reason: why the video has no bag, `""` when ok.
        faces: number of faces in its bag.
        frames: number of frames sampled from it.
        label: its video label (0 real, 1 fake, -1 unknown).
        shard: file name of the shard holding its bag, `""` when none.
        video_id: identifier of its bag.
    """

    video: str
    status: str
    reason: str = ""
    faces: int = 0
    frames: int = 0
    label: int = -1
    shard: str = ""
    video_id: str = ""


FIELDS = [field.name for field in dataclasses.fields(ManifestRow)]


def read_manifest(out_dir):
    """The rows of `out_dir/manifest.csv`, in file order (`[]` when there is none).

    Example:

    >>> failed = [row for row in read_manifest("bags/") if row.status != "ok"]
    """
    path = os.path.join(out_dir, MANIFEST_CSV)
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames != FIELDS:
            raise BagFormatError(path, f"manifest columns {reader.fieldnames}, expected {FIELDS}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                rows.append(
                    ManifestRow(
                        **{
                            **row,
                            "faces": int(row["faces"]),
                            "frames": int(row["frames"]),
                            "label": int(row["label"]),
                        }
                    )
                )
            except (TypeError, ValueError) as error:
                raise BagFormatError(path, f"line {line}: {error}") from error
            if rows[-1].status not in STATUSES:
                raise BagFormatError(path, f"line {line}: unknown status {rows[-1].status!r}")
    return rows


def write_manifest(out_dir, rows):
    """Writes `rows` to `out_dir/manifest.csv` and `manifest.json`, each atomically replaced."""
    csv_path = os.path.join(out_dir, MANIFEST_CSV)
    with open(csv_path + ".partial", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(dataclasses.asdict(row) for row in rows)
    json_path = os.path.join(out_dir, MANIFEST_JSON)
    with open(json_path + ".partial", "w", encoding="utf-8") as file:
        json.dump([dataclasses.asdict(row) for row in rows], file, indent=1)
    os.replace(json_path + ".partial", json_path)
    os.replace(csv_path + ".partial", csv_path)
