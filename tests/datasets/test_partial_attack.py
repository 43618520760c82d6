"""Synthetic partial attacks, from the embedded photo, a video or photo files: pixels change
exactly where the labels say a face is fake, and bag faces carry those labels."""

import cv2
import numpy as np
import pytest
import skimage.data

from smil_keras.datasets import (
    ASTRONAUT_FACE_BOX,
    animate_photo,
    attack_frames,
    choose_fake_faces,
    make_partial_attack_dataset,
    self_blend,
)
from smil_keras.datasets.csv_table import read_csv


def _outside(box, shape, grow=1.5):
    """Boolean mask of the pixels outside `box` grown `grow` times about its centre."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    mask = np.ones(shape[:2], bool)
    mask[
        max(int(cy - grow * h / 2), 0) : int(np.ceil(cy + grow * h / 2)),
        max(int(cx - grow * w / 2), 0) : int(np.ceil(cx + grow * w / 2)),
    ] = False
    return mask


def test_self_blend_changes_the_face_and_nothing_outside_it():
    image = skimage.data.astronaut()
    box = ASTRONAUT_FACE_BOX
    for seed in range(5):
        forged, mask = self_blend(image, box, np.random.default_rng(seed))
        outside = _outside(box, image.shape)
        np.testing.assert_array_equal(forged[outside], image[outside])
        assert (mask[outside] == 0).all() and mask.max() <= 1
        x, y, w, h = box
        centre = (slice(y + h // 4, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4))
        assert np.abs(forged[centre].astype(int) - image[centre]).mean() > 5
        # The blend follows the mask: pixels the mask leaves at 0 keep their value.
        np.testing.assert_array_equal(forged[mask == 0], image[mask == 0])


def test_self_blend_is_reproducible_from_the_seed():
    image = skimage.data.astronaut()
    a, _ = self_blend(image, ASTRONAUT_FACE_BOX, np.random.default_rng([7, 0]))
    b, _ = self_blend(image, ASTRONAUT_FACE_BOX, np.random.default_rng([7, 0]))
    c, _ = self_blend(image, ASTRONAUT_FACE_BOX, np.random.default_rng([8, 0]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_self_blend_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        self_blend(np.zeros((8, 8, 3), np.float32), (1, 1, 4, 4), np.random.default_rng(0))
    with pytest.raises(ValueError, match="outside"):
        self_blend(np.zeros((8, 8, 3), np.uint8), (50, 50, 4, 4), np.random.default_rng(0))


def _two_person_clip(num_frames=10, size=128):
    photo = skimage.data.astronaut()
    left, left_boxes = animate_photo(
        photo, ASTRONAUT_FACE_BOX, num_frames, size, np.random.default_rng(1)
    )
    right, right_boxes = animate_photo(
        photo, ASTRONAUT_FACE_BOX, num_frames, size, np.random.default_rng(2)
    )
    frames = [np.concatenate([a, b], axis=1) for a, b in zip(left, right, strict=True)]
    boxes = [
        [a, (b[0] + size, b[1], b[2], b[3])] for a, b in zip(left_boxes, right_boxes, strict=True)
    ]
    return frames, boxes


def test_attacked_pixels_match_the_per_face_labels():
    frames, boxes = _two_person_clip()
    fake = choose_fake_faces(boxes, np.random.default_rng(3), other_people=0.5)
    attacked = attack_frames(frames, boxes, fake, seed=11)
    for before, after, frame_boxes, frame_fake in zip(frames, attacked, boxes, fake, strict=True):
        if not any(frame_fake):
            assert np.array_equal(before, after)  # real frames untouched, bit for bit
            continue
        changed = np.abs(after.astype(int) - before).sum(axis=2) > 0
        for box, forged in zip(frame_boxes, frame_fake, strict=True):
            x, y, w, h = box
            face = changed[max(y, 0) : y + h, max(x, 0) : x + w]
            if forged:
                assert face.mean() > 0.3
            else:
                assert not face.any()
        untouched = np.logical_and.reduce(
            [_outside(b, after.shape) for b, f in zip(frame_boxes, frame_fake, strict=True) if f]
        )
        assert not changed[untouched].any()


def test_fake_faces_cover_1_to_n_minus_1_frames_with_the_target_in_each():
    _, boxes = _two_person_clip(num_frames=10)
    counts = set()
    for seed in range(60):
        fake = choose_fake_faces(boxes, np.random.default_rng(seed), other_people=0.0)
        attacked = [t for t, f in enumerate(fake) if any(f)]
        counts.add(len(attacked))
        # With other_people=0 only the target is forged, and the same person in every frame.
        assert len({j for t in attacked for j, f in enumerate(fake[t]) if f}) == 1
        assert all(sum(fake[t]) == 1 for t in attacked)
    assert counts <= set(range(1, 10)) and len(counts) >= 7


def test_animated_boxes_follow_the_face():
    photo = skimage.data.astronaut()
    frames, boxes = animate_photo(photo, ASTRONAUT_FACE_BOX, 6, 200, np.random.default_rng(0))
    x, y, w, h = ASTRONAUT_FACE_BOX
    template = cv2.cvtColor(photo[y : y + h, x : x + w], cv2.COLOR_RGB2GRAY)
    for frame, (bx, by, bw, bh) in zip(frames, boxes, strict=True):
        assert frame.shape == (200, 200, 3) and frame.dtype == np.uint8
        # The face, scaled to the box, is found where the box says (within a few pixels).
        scaled = cv2.resize(template, (bw, bh))
        score = cv2.matchTemplate(
            cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), scaled, cv2.TM_CCOEFF_NORMED
        )
        found_y, found_x = np.unravel_index(np.argmax(score), score.shape)
        assert abs(found_x - bx) <= 6 and abs(found_y - by) <= 6


def test_dataset_files_agree_and_are_deterministic(tmp_path):
    kwargs = dict(num_videos=4, num_frames=6, fake_fraction=0.5, seed=5, size=96, extract=False)
    data = make_partial_attack_dataset(tmp_path / "a", **kwargs)
    videos = read_csv(tmp_path / "a" / "videos.csv")
    faces = read_csv(tmp_path / "a" / "faces.csv")
    frames = read_csv(tmp_path / "a" / "frames.csv")
    assert [int(v["label"]) for v in videos].count(1) == 2 and len(data.entries) == 4
    for video, entry in zip(videos, data.entries, strict=True):
        assert entry.label == int(video["label"])
        video_faces = [f for f in faces if f["video"] == video["video"]]
        fake_frames = {f["frame"] for f in video_faces if f["label"] == "1"}
        assert int(video["fake_frames"]) == len(fake_frames)
        assert {
            f["frame"] for f in frames if f["video"] == video["video"] and f["label"] == "1"
        } == fake_frames
        if entry.label:
            assert 1 <= len(fake_frames) <= 5 and video["method"] == "self-blend"
        else:
            assert not fake_frames
        capture = cv2.VideoCapture(entry.path)
        decoded = 0
        while capture.read()[0]:
            decoded += 1
        assert decoded == 6
    make_partial_attack_dataset(tmp_path / "b", **kwargs)
    for name in ("videos.csv", "faces.csv", "frames.csv"):
        assert read_csv(tmp_path / "a" / name) == read_csv(tmp_path / "b" / name)


def assert_bag_faces_take_the_label_of_the_box_they_overlap(result, overlapped_known_face):
    """Checks the bags of a `make_partial_attack_dataset` result against its faces.csv: one bag
    per clip, with the clip's label; in a fake clip each face takes the label of the known face
    of its frame it overlaps most (IoU >= 0.3), or -1 (another person, unknown); in a real clip
    every face is 0. Returns the bags by video id."""
    from smil_keras.bags import read_bags

    faces = read_csv(f"{result.root}/faces.csv")
    bags = {bag.video_id: bag for bag in read_bags(result.shards)}
    assert set(bags) == {entry.video_id for entry in result.entries}
    for entry in result.entries:
        bag = bags[entry.video_id]
        assert bag.label == entry.label and bag.crops[0] is not None
        known = [f for f in faces if f["video"] == f"videos/{entry.video_id}.mp4"]
        for index, box, label in zip(bag.frame_indices, bag.boxes, bag.face_labels, strict=True):
            if not entry.label:
                assert label == 0
                continue
            face = overlapped_known_face(known, index, box)
            assert label == (-1 if face is None else int(face["label"]))
    return bags


@pytest.mark.slow
def test_default_dataset_bags_carry_the_face_labels(tmp_path, fixtures_dir, overlapped_known_face):
    """MTCNN finds the synthetic faces again; each bag face takes the label of the box it
    overlaps."""
    from smil_keras.bags import read_bags
    from smil_keras.faces import MTCNNDetector

    detector = MTCNNDetector()
    data = make_partial_attack_dataset(
        tmp_path / "astro",
        num_videos=4,
        num_frames=6,
        seed=2,
        two_face_fraction=0.5,
        crop_size=64,
        detector=detector,
    )
    source = fixtures_dir / "videos" / "real" / "face_recognition__short_hamilton_clip.mp4"
    own = make_partial_attack_dataset(
        tmp_path / "own",
        source=source,
        num_videos=2,
        num_frames=4,
        size=640,
        seed=1,
        crop_size=64,
        detector=detector,
    )
    for result in (data, own):
        bags = assert_bag_faces_take_the_label_of_the_box_they_overlap(
            result, overlapped_known_face
        )
        if result is data:
            labels = np.concatenate(
                [bags[e.video_id].face_labels for e in result.entries if e.label]
            )
            assert (labels == 1).any() and (labels == 0).any()  # partially attacked

    # The shards feed the training pipeline, per-face labels included.
    from smil_keras.data import make_bag_dataset

    inputs, label = next(
        iter(
            make_bag_dataset(
                data.shards, training=False, batch_size=4, image_size=64, face_labels=True
            )
        )
    )
    bags = list(read_bags(data.shards))
    assert inputs["faces"].shape[:2] == inputs["mask"].shape == inputs["face_labels"].shape
    np.testing.assert_array_equal(label.numpy()[:, 0], [bag.label for bag in bags])
    for row, bag in enumerate(bags):
        np.testing.assert_array_equal(
            inputs["face_labels"].numpy()[row, : len(bag)], bag.face_labels
        )


def test_unreadable_source_video_is_logged_and_skipped(tmp_path, caplog):
    from smil_keras.faces import Face, FaceDetector

    class FixedBoxDetector(FaceDetector):
        """Test double: one face at a known box in every frame."""

        def detect(self, frames):
            return [[Face(i, (20, 20, 40, 48), 1.0, {})] for i in range(len(frames))]

    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    good = tmp_path / "good.mp4"
    frames, _ = animate_photo(
        skimage.data.astronaut(), ASTRONAUT_FACE_BOX, 5, 96, np.random.default_rng(0)
    )
    writer = cv2.VideoWriter(str(good), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (96, 96))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    with caplog.at_level("ERROR", logger="smil_keras.datasets.partial_attack"):
        data = make_partial_attack_dataset(
            tmp_path / "out",
            source=[bad, good],
            num_videos=2,
            num_frames=5,
            fake_fraction=1.0,
            size=96,
            extract=False,
            detector=FixedBoxDetector(),
        )
    assert "bad.mp4" in caplog.text
    assert [(e.video_id, e.label, e.original) for e in data.entries] == [("clip001", 1, str(good))]
    faces = read_csv(tmp_path / "out" / "faces.csv")
    assert {(f["x"], f["y"], f["w"], f["h"]) for f in faces} == {("20", "20", "40", "48")}


@pytest.mark.slow
def test_photos_are_animated_in_turn_and_their_bags_labelled_by_the_forged_box(
    tmp_path, fixtures_dir, overlapped_known_face
):
    from smil_keras.faces import MTCNNDetector

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
    videos = read_csv(f"{data.root}/videos.csv")
    assert [row["source"] for row in videos] == [str(p.resolve()) for p in photos] * 2
    assert sorted(int(row["label"]) for row in videos) == [0, 0, 1, 1]
    faces = read_csv(f"{data.root}/faces.csv")
    assert {(f["video"], f["frame"]) for f in faces} == {
        (f"videos/clip{i:03d}.mp4", str(t)) for i in range(4) for t in range(4)
    }  # one known face (the photo's largest) per frame
    bags = assert_bag_faces_take_the_label_of_the_box_they_overlap(data, overlapped_known_face)
    assert set(bags) == {f"clip{i:03d}" for i in range(4)}


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
