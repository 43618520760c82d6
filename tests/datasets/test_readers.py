"""FF++, DFDC and Celeb-DF readers on the fixture layouts and on small layouts built in tmp_path."""

import json
import logging
import pathlib

import cv2
import numpy as np
import pytest

from smil_keras.datasets import (
    DatasetFormatError,
    read_celebdf,
    read_dfdc,
    read_ffpp,
    read_ffpp_split,
)


def _ffpp(fixtures_dir):
    return fixtures_dir / "videos" / "ffpp"


def test_ffpp_fixture_pairs_labels_and_originals(fixtures_dir):
    root = _ffpp(fixtures_dir)
    entries = {e.video_id: e for e in read_ffpp(root, compression="c23")}
    originals = root / "original_sequences" / "youtube" / "c23" / "videos"
    assert set(entries) == {"original/519", "original/634", "Deepfakes/519_515", "FaceSwap/634_660"}
    assert entries["original/519"].label == 0 and entries["original/519"].original is None
    assert (
        entries["Deepfakes/519_515"].label == 1
        and entries["Deepfakes/519_515"].method == "Deepfakes"
    )
    assert entries["Deepfakes/519_515"].original == str(originals / "519.mp4")
    assert entries["FaceSwap/634_660"].original == str(originals / "634.mp4")
    assert all(pathlib.Path(e.path).is_file() and e.dataset == "ffpp" for e in entries.values())


def test_ffpp_method_filter_keeps_originals_and_that_method(fixtures_dir):
    entries = read_ffpp(_ffpp(fixtures_dir), compression="c23", methods=["FaceSwap"])
    assert sorted(e.video_id for e in entries) == [
        "FaceSwap/634_660",
        "original/519",
        "original/634",
    ]


def test_ffpp_unknown_method_or_compression_names_the_missing_folder(fixtures_dir):
    with pytest.raises(DatasetFormatError, match="NeuralTextures.*c23"):
        read_ffpp(_ffpp(fixtures_dir), compression="c23", methods=["NeuralTextures"])
    with pytest.raises(DatasetFormatError, match="c40.*compressions present: c23"):
        read_ffpp(_ffpp(fixtures_dir), compression="c40")
    with pytest.raises(DatasetFormatError, match="original_sequences"):
        read_ffpp(fixtures_dir / "videos" / "dfdc")


def test_ffpp_split_needs_its_official_file(fixtures_dir):
    with pytest.raises(DatasetFormatError, match="test.json.*split file"):
        read_ffpp(_ffpp(fixtures_dir), compression="c23", split="test")


def test_ffpp_official_split_file_selects_both_fakes_of_a_pair(fixtures_dir, tmp_path):
    # FF++'s dataset/splits/test.json format: a JSON list of [id, id] pairs; it holds 634/660.
    (tmp_path / "test.json").write_text(json.dumps([["634", "660"], ["953", "974"]]))
    (tmp_path / "train.json").write_text(json.dumps([["519", "515"]]))
    entries = read_ffpp(_ffpp(fixtures_dir), compression="c23", split="test", split_files=tmp_path)
    assert sorted(e.video_id for e in entries) == ["FaceSwap/634_660", "original/634"]
    assert {e.split for e in entries} == {"test"}
    everything = {
        e.video_id: e.split for e in read_ffpp(_ffpp(fixtures_dir), "c23", split_files=tmp_path)
    }
    assert everything == {
        "original/519": "train",
        "original/634": "test",
        "Deepfakes/519_515": "train",
        "FaceSwap/634_660": "test",
    }
    originals, fakes = read_ffpp_split(tmp_path / "test.json")
    assert originals == {"634", "660", "953", "974"}
    assert fakes == {"634_660", "660_634", "953_974", "974_953"}


@pytest.mark.parametrize("content", ['{"634": "660"}', '[["634"]]', "[[634, 660]]", "not json"])
def test_ffpp_malformed_split_file_names_the_file(tmp_path, content):
    path = tmp_path / "val.json"
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match="val.json"):
        read_ffpp_split(path)


def test_dfdc_fixture_metadata_reports_the_missing_file_and_goes_on(fixtures_dir, caplog):
    root = fixtures_dir / "videos" / "dfdc"
    with caplog.at_level(logging.WARNING, logger="smil_keras.datasets.dfdc"):
        entries = read_dfdc(root)
    assert [(e.video_id, e.label, e.split) for e in entries] == [("brtujopkby", 1, "train")]
    assert entries[0].path == str(root / "dfdc_train_part_0" / "brtujopkby.mp4")
    # Its original (gnmmhlbzge.mp4) is not in the fixture, so it stays unknown.
    assert entries[0].original is None
    assert "awnfpubqmo.mp4" in caplog.text and "missing" in caplog.text
    # The real clip under real/ is in no metadata.json: reported, not given a guessed label.
    assert "real/lynaeydofd.mp4" in caplog.text


def test_dfdc_metadata_original_is_resolved_across_parts(tmp_path):
    for part, name in (("dfdc_train_part_0", "fake.mp4"), ("dfdc_train_part_1", "real.mp4")):
        (tmp_path / part).mkdir()
        (tmp_path / part / name).write_bytes(b"x")
    (tmp_path / "dfdc_train_part_0" / "metadata.json").write_text(
        json.dumps({"fake.mp4": {"label": "FAKE", "split": "train", "original": "real.mp4"}})
    )
    (tmp_path / "dfdc_train_part_1" / "metadata.json").write_text(
        json.dumps({"real.mp4": {"label": "REAL", "split": "train", "original": None}})
    )
    entries = {e.video_id: e for e in read_dfdc(tmp_path)}
    assert entries["fake"].label == 1 and entries["real"].label == 0
    assert entries["fake"].original == str(tmp_path / "dfdc_train_part_1" / "real.mp4")


def test_dfdc_preview_dataset_json(tmp_path):
    files = {
        "original_videos/1/a.mp4": {"label": "real", "set": "train", "augmented": False},
        "method_A/1/b.mp4": {"label": "fake", "set": "test", "augmented": True},
    }
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dataset.json").write_text(json.dumps(files))
    entries = {e.video_id: e for e in read_dfdc(tmp_path)}
    assert (entries["original_videos/1/a.mp4"].label, entries["original_videos/1/a.mp4"].split) == (
        0,
        "train",
    )
    assert (entries["method_A/1/b.mp4"].label, entries["method_A/1/b.mp4"].method) == (
        1,
        "method_A",
    )


@pytest.mark.parametrize("content", ["{broken", '{"a.mp4": {"label": "MAYBE"}}', '["a.mp4"]'])
def test_dfdc_malformed_metadata_names_the_file(tmp_path, content):
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "metadata.json").write_text(content)
    with pytest.raises(DatasetFormatError, match="metadata.json"):
        read_dfdc(tmp_path)


def test_dfdc_without_label_file_is_an_unknown_layout(tmp_path):
    with pytest.raises(DatasetFormatError, match="no DFDC label file"):
        read_dfdc(tmp_path)


def _write_clip(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (32, 32))
    for frame in np.random.default_rng(seed).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8):
        writer.write(frame)
    writer.release()


@pytest.fixture
def celebdf_root(tmp_path):
    names = [
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0001.mp4",
        "YouTube-real/00000.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id1_id0_0001.mp4",
    ]
    for seed, name in enumerate(names):
        _write_clip(tmp_path / name, seed)
    # Celeb-DF's own convention in this file: 1 = real, 0 = fake.
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n\n"
    )
    return tmp_path


def test_celebdf_labels_splits_and_originals(celebdf_root):
    entries = {e.video_id: e for e in read_celebdf(celebdf_root, version="v2")}
    assert {k: (e.label, e.split) for k, e in entries.items()} == {
        "Celeb-real/id0_0000.mp4": (0, "train"),
        "Celeb-real/id1_0001.mp4": (0, "train"),
        "YouTube-real/00000.mp4": (0, "test"),
        "Celeb-synthesis/id0_id1_0000.mp4": (1, "test"),
        "Celeb-synthesis/id1_id0_0001.mp4": (1, "train"),
    }
    assert entries["Celeb-synthesis/id1_id0_0001.mp4"].original == str(
        celebdf_root / "Celeb-real" / "id1_0001.mp4"
    )
    assert {e.dataset for e in entries.values()} == {"celebdf-v2"}


@pytest.mark.parametrize(
    "line, message",
    [
        ("2 Celeb-real/id0_0000.mp4", "line 1"),
        ("Celeb-real/id0_0000.mp4", "line 1"),
        ("0 Celeb-real/id0_0000.mp4", "labelled fake but lies in Celeb-real"),
    ],
)
def test_celebdf_malformed_test_list_names_the_file(celebdf_root, line, message):
    (celebdf_root / "List_of_testing_videos.txt").write_text(line + "\n")
    with pytest.raises(DatasetFormatError, match=f"List_of_testing_videos.txt.*{message}"):
        read_celebdf(celebdf_root)


def test_celebdf_missing_list_and_listed_missing_video_are_warnings(celebdf_root, caplog):
    (celebdf_root / "List_of_testing_videos.txt").write_text("1 Celeb-real/id9_0009.mp4\n")
    with caplog.at_level(logging.WARNING, logger="smil_keras.datasets.celebdf"):
        assert len(read_celebdf(celebdf_root)) == 5
    assert "id9_0009.mp4" in caplog.text
    (celebdf_root / "List_of_testing_videos.txt").unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="smil_keras.datasets.celebdf"):
        assert {e.split for e in read_celebdf(celebdf_root)} == {""}
    assert "List_of_testing_videos.txt is missing" in caplog.text


def test_celebdf_unknown_layout(tmp_path):
    with pytest.raises(DatasetFormatError, match="not a Celeb-DF folder"):
        read_celebdf(tmp_path)


def test_ffpp_c0_is_the_download_scripts_raw_folder(tmp_path):
    for folder in (
        "original_sequences/youtube/raw/videos",
        "manipulated_sequences/Face2Face/raw/videos",
    ):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "original_sequences/youtube/raw/videos/000.mp4").write_bytes(b"x")
    (tmp_path / "manipulated_sequences/Face2Face/raw/videos/000_003.mp4").write_bytes(b"x")
    for name in ("c0", "raw"):
        entries = {e.video_id: e for e in read_ffpp(tmp_path, compression=name)}
        assert entries["Face2Face/000_003"].original == str(
            tmp_path / "original_sequences/youtube/raw/videos/000.mp4"
        )
