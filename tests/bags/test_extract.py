"""`extract_to_shards` and `smil extract` on real fixture videos, broken files, resume."""

import dataclasses
import os
import pathlib
import re
import sys

import numpy as np
import pytest

import smil_keras
from smil_keras.bags import extract_to_shards, find_videos, read_bags, read_manifest
from smil_keras.cli.main import main
from smil_keras.faces import Face, FaceDetector

FFPP = "videos/ffpp"
ORIGINAL = f"{FFPP}/original_sequences/youtube/c23/videos/519.mp4"
FAKE = f"{FFPP}/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"


class CentreDetector(FaceDetector):
    """A deterministic stand-in detector (fast): one face box in the middle of every frame."""

    def detect(self, frames):
        return [
            [
                Face(
                    i,
                    (f.shape[1] // 4, f.shape[0] // 4, f.shape[1] // 2, f.shape[0] // 2),
                    0.99,
                    {},
                )
            ]
            for i, f in enumerate(frames)
        ]


def broken_inputs(folder):
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    not_video = folder / "notes.pdf"
    not_video.write_text("not a video")
    return corrupt, not_video


def same_records(a, b):
    assert [r.video_id for r in a] == [r.video_id for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.crops == y.crops  # identical JPEG bytes
        for field in ("frame_indices", "boxes", "confidences", "track_ids", "face_labels"):
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field))
        assert (x.label, x.video, x.dataset) == (y.label, y.video, y.dataset)


def same_bytes(folder, other, pattern):
    """Asserts the files matching `pattern` in two folders are byte-identical; their number."""
    names = sorted(path.name for path in folder.glob(pattern))
    assert names == sorted(path.name for path in other.glob(pattern))
    for name in names:
        assert (folder / name).read_bytes() == (other / name).read_bytes(), name
    return len(names)


def test_find_videos_reads_folders_recursively_and_list_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.mp4", "a/b/two.AVI", "a/skip.txt.bak", "a/b/image.jpg"):
        (tmp_path / name).write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\na/one.mp4\n\na/b/two.AVI\nmissing.mp4\n")
    assert find_videos(tmp_path / "a") == [
        (str(tmp_path / "a/b/two.AVI"), "b/two"),
        (str(tmp_path / "a/one.mp4"), "one"),
    ]
    assert [p for p, _ in find_videos([listing])] == [
        str(tmp_path / "a/one.mp4"),
        str(tmp_path / "a/b/two.AVI"),
        str(tmp_path / "missing.mp4"),
    ]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_videos([tmp_path / "nowhere"])


def test_failed_videos_are_recorded_and_the_rest_extracted(fixtures_dir, tmp_path):
    corrupt, not_video = broken_inputs(tmp_path)
    inputs = [fixtures_dir / ORIGINAL, corrupt, not_video, fixtures_dir / "images"]
    labels = {"519.mp4": 0}
    rows = extract_to_shards(
        inputs,
        tmp_path / "out",
        num_frames=3,
        size=48,
        detector=CentreDetector(),
        labels=labels,
        dataset="ffpp",
        progress=False,
    )
    # `images` holds no video: it adds nothing.
    assert [(r.video_id, r.status) for r in rows] == [
        ("519", "ok"),
        ("corrupt", "error"),
        ("notes", "error"),
    ]
    assert all(r.reason for r in rows[1:]) and rows[0].reason == ""
    assert (rows[0].faces, rows[0].frames, rows[0].label) == (3, 3, 0)
    assert read_manifest(tmp_path / "out") == rows
    (record,) = read_bags(tmp_path / "out")
    assert record.label == 0 and record.dataset == "ffpp"
    # crops stored with about 1.11 times the 48 px view of margin 1.3, at the same scale
    assert record.image_size == 54 and record.margin == pytest.approx(1.3 * 54 / 48)
    # sample_frames' uniform indices over the 751 frames of 519.mp4
    np.testing.assert_array_equal(record.frame_indices, [0, 375, 750])
    np.testing.assert_array_equal(record.boxes, [[160, 120, 320, 240]] * 3)


def test_resumed_extraction_gives_the_records_of_an_uninterrupted_one(fixtures_dir, tmp_path):
    corrupt, _ = broken_inputs(tmp_path)
    inputs = [fixtures_dir / ORIGINAL, corrupt, fixtures_dir / FAKE]
    options = dict(
        num_frames=2, size=32, detector=CentreDetector(), videos_per_shard=2, progress=False
    )

    def face_labels(record):  # per-face labels from frame indices, written by the hook
        return dataclasses.replace(record, face_labels=(record.frame_indices > 300).astype(int))

    whole = extract_to_shards(inputs, tmp_path / "whole", annotate=face_labels, **options)

    calls = []

    def interrupt_on_second_bag(record):
        calls.append(record.video_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return face_labels(record)

    with pytest.raises(KeyboardInterrupt):
        extract_to_shards(inputs, tmp_path / "resumed", annotate=interrupt_on_second_bag, **options)
    # The first shard (videos 0-1) is complete, the second was being written: it is gone.
    assert sorted(os.listdir(tmp_path / "resumed")) == [
        "bags-00000.tfrecord",
        "extract.json",
        "manifest.csv",
        "manifest.json",
    ]
    assert len(read_manifest(tmp_path / "resumed")) == 2
    resumed_calls = []
    resumed = extract_to_shards(
        inputs,
        tmp_path / "resumed",
        annotate=lambda r: resumed_calls.append(r.video_id) or face_labels(r),
        **options,
    )
    assert resumed_calls == ["519_515"]  # the done shard was not redone
    assert resumed == whole
    assert sorted(os.listdir(tmp_path / "resumed")) == sorted(os.listdir(tmp_path / "whole"))
    same_records(list(read_bags(tmp_path / "resumed")), list(read_bags(tmp_path / "whole")))
    assert same_bytes(tmp_path / "resumed", tmp_path / "whole", "*.tfrecord") == 2
    # Rerunning a finished extraction does nothing; other settings are refused.
    assert extract_to_shards(inputs, tmp_path / "whole", **options) == whole
    with pytest.raises(ValueError, match="num_frames"):
        extract_to_shards(inputs, tmp_path / "whole", **{**options, "num_frames": 3})


@pytest.mark.slow
def test_smil_extract_with_mtcnn_on_real_and_broken_videos(fixtures_dir, tmp_path, capsys):
    corrupt, not_video = broken_inputs(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("video,label\n519.mp4,0\n")
    out = tmp_path / "bags"
    code = main(
        [
            "extract",
            str(fixtures_dir / ORIGINAL),
            str(corrupt),
            str(not_video),
            "--out",
            str(out),
            "--frames",
            "2",
            "--size",
            "64",
            "--labels",
            str(labels),
            "--no-progress",
        ]
    )
    assert code == 1  # the run finished, some videos have no bag
    rows = {row.video_id: row for row in read_manifest(out)}
    assert rows["519"].status == "ok" and rows["519"].faces == 2 and rows["519"].label == 0
    assert rows["corrupt"].status == "error" and rows["notes"].status == "error"
    console = capsys.readouterr()
    assert "1 of 3 videos" in console.out
    # Each failed file is named on the console with its reason, not only in the manifest.
    for name in ("corrupt", "notes"):
        assert f"  {rows[name].video}: error: {rows[name].reason}" in console.err.splitlines()
    (record,) = read_bags(out)
    # MTCNN found the news anchor: one face per frame, within the 640x480 frame
    x, y, w, h = record.boxes.T
    assert len(record) == 2 and (x >= 0).all() and (x + w <= 640).all() and (y + h <= 480).all()
    assert (w > 40).all() and (record.confidences > 0.9).all()


def test_smil_extract_on_an_empty_folder_fails_clearly(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["extract", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "no videos found" in capsys.readouterr().err
    code = main(["extract", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err == (
        f"smil extract: error: input not found: {tmp_path / 'missing.mp4'}\n"
    )


def test_smil_extract_refuses_an_output_that_is_a_file(tmp_path, fixtures_dir, capsys):
    (tmp_path / "out").write_text("")
    code = main(["extract", str(fixtures_dir / ORIGINAL), "--out", str(tmp_path / "out")])
    assert code == 2 and "not a folder" in capsys.readouterr().err


def test_smil_extract_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    assert "examples:" in capsys.readouterr().out


@pytest.mark.slow
def test_two_mtcnn_workers_give_the_records_of_one(fixtures_dir, tmp_path):
    inputs = [fixtures_dir / ORIGINAL, fixtures_dir / FAKE]
    options = dict(num_frames=2, size=48, videos_per_shard=1, progress=False)
    one = extract_to_shards(inputs, tmp_path / "one", workers=1, **options)
    two = extract_to_shards(inputs, tmp_path / "two", workers=2, **options)
    assert [r.status for r in two] == ["ok"] * 2 and two == one
    same_records(list(read_bags(tmp_path / "two")), list(read_bags(tmp_path / "one")))


def test_smil_extract_refuses_a_context_below_1(fixtures_dir, tmp_path, capsys):
    code = main(
        [
            "extract",
            str(fixtures_dir / ORIGINAL),
            "--out",
            str(tmp_path / "out"),
            "--context",
            "0",
            "--no-progress",
        ]
    )
    assert code == 2
    assert "context must be at least 1" in capsys.readouterr().err


def test_a_run_killed_inside_a_shard_resumes_per_video_with_identical_bytes(fixtures_dir, tmp_path):
    root = fixtures_dir / FFPP
    inputs = [
        root / "original_sequences/youtube/c23/videos/519.mp4",
        broken_inputs(tmp_path)[0],
        fixtures_dir / FAKE,
        root / "original_sequences/youtube/c23/videos/634.mp4",
    ]
    options = dict(num_frames=2, size=32, progress=False)  # default: 100 videos per shard

    whole = extract_to_shards(inputs, tmp_path / "whole", detector=CentreDetector(), **options)

    def interrupt_on_third_bag(record):
        if record.video_id == "634":
            raise KeyboardInterrupt
        return record

    with pytest.raises(KeyboardInterrupt):
        extract_to_shards(
            inputs,
            tmp_path / "resumed",
            detector=CentreDetector(),
            annotate=interrupt_on_third_bag,
            **options,
        )
    # No shard yet (the range is not done), but the three videos done are journaled.
    assert not list((tmp_path / "resumed").glob("*.tfrecord"))
    journal = tmp_path / "resumed" / "bags-00000.tfrecord.journal"
    assert sorted(path.name for path in journal.iterdir()) == [
        "00000.example",
        "00000.json",
        "00001.json",
        "00002.example",
        "00002.json",
    ]
    extracted = []
    resumed = extract_to_shards(
        inputs,
        tmp_path / "resumed",
        detector=CentreDetector(),
        annotate=lambda r: extracted.append(r.video_id) or r,
        **options,
    )
    assert extracted == ["634"]  # the videos journaled were not extracted again
    assert resumed == whole
    assert sorted(os.listdir(tmp_path / "resumed")) == sorted(os.listdir(tmp_path / "whole"))
    assert same_bytes(tmp_path / "resumed", tmp_path / "whole", "*.tfrecord") == 1


def test_videos_sharing_a_file_name_get_distinct_ids(tmp_path):
    for name in ("real/001.mp4", "fake/001.mp4", "fake/002.mp4", "clips/a.mp4", "clips/a.avi"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = find_videos([tmp_path / "real", tmp_path / "fake", tmp_path / "clips"])
    assert [video_id for _, video_id in found] == ["real/001", "fake/001", "002", "a.avi", "a.mp4"]
    assert [path for path, _ in found] == [
        str(tmp_path / name)
        for name in ("real/001.mp4", "fake/001.mp4", "fake/002.mp4", "clips/a.avi", "clips/a.mp4")
    ]
    # Single files given one by one: the same rule.
    found = find_videos([tmp_path / "real/001.mp4", tmp_path / "fake/001.mp4"])
    assert [video_id for _, video_id in found] == ["real/001", "fake/001"]


def test_a_bare_file_name_label_shared_by_two_videos_is_refused(fixtures_dir, tmp_path):
    for folder in ("real", "fake"):  # two inputs holding the same file name
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "519.mp4").symlink_to(fixtures_dir / ORIGINAL)
    inputs = [tmp_path / "real", tmp_path / "fake"]
    options = dict(num_frames=2, size=32, detector=CentreDetector(), progress=False)
    with pytest.raises(ValueError) as caught:
        extract_to_shards(inputs, tmp_path / "out", labels={"519.mp4": 0}, **options)
    message = str(caught.value)
    assert "'519.mp4' matches 2 videos" in message
    assert str(tmp_path / "real/519.mp4") in message and str(tmp_path / "fake/519.mp4") in message
    assert not (tmp_path / "out").exists()  # refused before anything is written
    # Labelled by path, both are extracted, with distinct ids and their own labels.
    labels = {str(tmp_path / "real/519.mp4"): 0, str(tmp_path / "fake/519.mp4"): 1}
    rows = extract_to_shards(inputs, tmp_path / "out", labels=labels, **options)
    assert [(row.video_id, row.label) for row in rows] == [("real/519", 0), ("fake/519", 1)]
    assert [(r.video_id, r.label) for r in read_bags(tmp_path / "out")] == [
        ("real/519", 0),
        ("fake/519", 1),
    ]
    # One path label and one bare name: the name labels only the video without a path label.
    rows = extract_to_shards(
        inputs,
        tmp_path / "mixed",
        **options,
        labels={str(tmp_path / "real/519.mp4"): 0, "519.mp4": 1},
    )
    assert [row.label for row in rows] == [0, 1]


class UnconfigurableDetector(CentreDetector):
    """A detector without `get_config`: usable in this process, not rebuildable in a worker."""


def test_a_detector_without_get_config_runs_in_process_and_is_refused_for_workers(
    fixtures_dir, tmp_path
):
    options = dict(num_frames=2, size=32, detector=UnconfigurableDetector(), progress=False)
    rows = extract_to_shards([fixtures_dir / ORIGINAL], tmp_path / "one", **options)
    assert [row.status for row in rows] == ["ok"]
    with pytest.raises(ValueError, match="needs a detector with get_config"):
        extract_to_shards(
            [fixtures_dir / ORIGINAL, fixtures_dir / FAKE], tmp_path / "two", workers=2, **options
        )
    assert not (tmp_path / "two").exists()  # refused before anything is written


def test_engine_ray_without_ray_installed_says_how_to_install_it(
    fixtures_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as when absent
    monkeypatch.delitem(sys.modules, "smil_keras.bags.ray_engine", raising=False)
    with pytest.raises(ImportError, match='pip install "smil-keras\\[ray\\]"'):
        extract_to_shards(
            [fixtures_dir / ORIGINAL],
            tmp_path / "out",
            engine="ray",
            detector=CentreDetector(),
            progress=False,
        )
    assert not (tmp_path / "out").exists()  # refused before anything is written
    code = main(
        ["extract", str(fixtures_dir / ORIGINAL), "--out", str(tmp_path / "out"), "--engine", "ray"]
    )
    assert code == 2 and "smil-keras[ray]" in capsys.readouterr().err
    code = main(
        [
            "extract",
            str(fixtures_dir / ORIGINAL),
            "--out",
            str(tmp_path / "out"),
            "--address",
            "auto",
        ]
    )
    assert code == 2 and "--address is for --engine ray" in capsys.readouterr().err


def test_only_the_ray_engine_imports_ray():
    """Ray is an optional extra: the core library never imports it."""
    package = pathlib.Path(smil_keras.__file__).parent
    importers = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"^\s*(import|from) ray\b", path.read_text(encoding="utf-8"), re.M)
    )
    assert importers == ["bags/ray_engine.py"]
    # ... and the two engines, which import it through ray_engine, are imported only where
    # engine="ray" is chosen (inside a function, not at a module's top level).
    engine_users = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"^(import|from) \S*(ray_engine|ray_scoring)\b", path.read_text("utf-8"), re.M)
    )
    assert engine_users == ["evaluation/ray_scoring.py"]
