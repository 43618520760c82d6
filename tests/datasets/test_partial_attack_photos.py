"""Synthetic partial attacks from photo files (the shared fixtures' real photos)."""

import csv

import pytest

from smil_keras.bags import read_bags
from smil_keras.datasets import make_partial_attack_dataset
from smil_keras.faces import MTCNNDetector, box_iou

pytestmark = pytest.mark.slow


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_photos_are_animated_in_turn_and_their_bags_labelled_by_the_forged_box(
    tmp_path, fixtures_dir
):
    photos = [
        fixtures_dir / "images" / "face_recognition" / "obama.jpg",
        fixtures_dir / "images" / "face_recognition" / "biden.jpg",
    ]
    data = make_partial_attack_dataset(
        tmp_path / "out",
        source=photos,
        num_videos=4,
        num_frames=4,
        seed=3,
        size=128,
        crop_size=32,
        fake_fraction=0.5,
        detector=MTCNNDetector(),
    )
    videos = _rows(f"{data.root}/videos.csv")
    assert [row["source"] for row in videos] == [str(p.resolve()) for p in photos] * 2
    assert sorted(int(row["label"]) for row in videos) == [0, 0, 1, 1]
    faces = _rows(f"{data.root}/faces.csv")
    assert {(f["video"], f["frame"]) for f in faces} == {
        (f"videos/clip{i:03d}.mp4", str(t)) for i in range(4) for t in range(4)
    }  # one known face (the photo's largest) per frame
    bags = {bag.video_id: bag for bag in read_bags(data.shards)}
    assert set(bags) == {f"clip{i:03d}" for i in range(4)}
    for row in videos:
        name = row["video"].split("/")[-1][:-4]
        bag = bags[name]
        assert bag.label == int(row["label"])
        known = [f for f in faces if f["video"] == row["video"]]
        for frame, box, label in zip(bag.frame_indices, bag.boxes, bag.face_labels, strict=True):
            boxes = [f for f in known if int(f["frame"]) == frame]
            best = max(boxes, key=lambda f: box_iou(tuple(box), tuple(int(f[k]) for k in "xywh")))
            if not bag.label:
                assert label == 0
            elif box_iou(tuple(box), tuple(int(best[k]) for k in "xywh")) >= 0.3:
                assert label == int(best["label"])
            else:
                assert label == -1  # another person in the photo: never forged, unknown


def test_a_photo_without_a_face_loses_its_clips_only(tmp_path, fixtures_dir, caplog):
    photos = [
        fixtures_dir / "images" / "negatives" / "dlib_dogs.jpg",
        fixtures_dir / "images" / "face_recognition" / "biden.jpg",
    ]
    with caplog.at_level("ERROR", logger="smil_keras.datasets.partial_attack"):
        data = make_partial_attack_dataset(
            tmp_path / "out",
            source=photos,
            num_videos=2,
            num_frames=3,
            seed=0,
            size=96,
            extract=False,
        )
    assert [entry.video_id for entry in data.entries] == ["clip001"]
    assert "dlib_dogs.jpg: skipped (no face found in the photo)" in caplog.text
