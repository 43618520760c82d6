"""FFPMS built from the fixture FF++ pairs (c23): pixel provenance, counts, determinism, training
mix, and a failed build that publishes nothing."""

import collections
import pathlib

import cv2
import numpy as np
import pytest

from smil_keras.datasets import build_ffpms, choose_replaced_frames
from smil_keras.datasets.csv_table import read_csv
from smil_keras.faces import Face, FaceDetector

FRAMES = 4


def _decode(path, indices):
    """Reference decoder: OpenCV, frame by frame from the start, RGB."""
    capture = cv2.VideoCapture(str(path))
    frames = {}
    for index in range(max(indices) + 1):
        assert capture.grab(), f"{path}: frame {index} did not decode"
        if index in indices:
            frames[index] = cv2.cvtColor(capture.retrieve()[1], cv2.COLOR_BGR2RGB)
    return frames


@pytest.fixture(scope="module")
def ffpms_dir(fixtures_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ffpms")
    build_ffpms(
        fixtures_dir / "videos" / "ffpp",
        out,
        compression="c23",
        seed=0,
        num_frames=FRAMES,
        extract=False,
        save_frames=True,
    )
    return out


def test_replaced_count_is_uniform_on_1_to_n_minus_1():
    counts = collections.Counter(
        len(choose_replaced_frames(20, np.random.default_rng(seed))) for seed in range(3800)
    )
    assert set(counts) == set(range(1, 20))
    # 200 expected per value; a uniform draw stays well within +-60 (about 4 sigma).
    assert all(abs(c - 200) < 60 for c in counts.values()), counts


def test_training_mix_replaces_a_quarter_of_the_frames():
    rng = np.random.default_rng(0)
    positions = choose_replaced_frames(20, rng, train_mix=0.25)
    assert len(positions) == 5 and len(set(positions)) == 5 and all(0 <= p < 20 for p in positions)


def test_ffpms_replaced_frames_are_the_originals_pixels(ffpms_dir, fixtures_dir):
    frames = read_csv(ffpms_dir / "frames.csv")
    root = fixtures_dir / "videos" / "ffpp"
    originals = {
        "Deepfakes/519_515": root / "original_sequences/youtube/c23/videos/519.mp4",
        "FaceSwap/634_660": root / "original_sequences/youtube/c23/videos/634.mp4",
    }
    fakes = {
        "Deepfakes/519_515": root / "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
        "FaceSwap/634_660": root / "manipulated_sequences/FaceSwap/c23/videos/634_660.mp4",
    }
    for video, original in originals.items():
        rows = [row for row in frames if row["video"] == video]
        indices = [int(row["frame"]) for row in rows]
        real, fake = _decode(original, indices), _decode(fakes[video], indices)
        for row in rows:
            index = int(row["frame"])
            saved = cv2.cvtColor(
                cv2.imread(str(ffpms_dir / "frames" / video / f"{index:06d}.png")),
                cv2.COLOR_BGR2RGB,
            )
            expected_source = original if row["label"] == "0" else fakes[video]
            assert row["source_video"] == str(expected_source)
            np.testing.assert_array_equal(
                saved, real[index] if row["label"] == "0" else fake[index]
            )
            # The pair differs at every sampled frame (the face was swapped), so the check above
            # really tells the two sources apart.
            assert np.abs(real[index].astype(int) - fake[index]).max() > 20


def test_ffpms_csv_files_agree(ffpms_dir):
    videos = {row["video"]: row for row in read_csv(ffpms_dir / "videos.csv")}
    frames = read_csv(ffpms_dir / "frames.csv")
    assert set(videos) == {"original/519", "original/634", "Deepfakes/519_515", "FaceSwap/634_660"}
    for name, video in videos.items():
        rows = [row for row in frames if row["video"] == name]
        assert len(rows) == FRAMES
        fake_frames = sum(row["label"] == "1" for row in rows)
        assert int(video["fake_frames"]) == fake_frames
        assert {row["method"] for row in rows} == {video["method"]}
        if video["method"]:
            assert 1 <= FRAMES - fake_frames <= FRAMES - 1 and video["label"] == "1"
        else:
            assert fake_frames == 0 and video["label"] == "0"
    # Both videos of a pair are sampled at the same frame indices.
    assert [r["frame"] for r in frames if r["video"] == "original/634"] == [
        r["frame"] for r in frames if r["video"] == "FaceSwap/634_660"
    ]


def test_ffpms_test_split_is_deterministic_and_a_video_does_not_depend_on_the_others(
    ffpms_dir, fixtures_dir, tmp_path
):
    # FF++'s official test split holds the pair 634/660 (not 519/515).
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "test.json").write_text('[["634", "660"], ["953", "974"]]')
    build_ffpms(
        fixtures_dir / "videos" / "ffpp",
        tmp_path / "out",
        compression="c23",
        seed=0,
        num_frames=FRAMES,
        split_files=tmp_path / "splits",
        extract=False,
    )
    assert [row["video"] for row in read_csv(tmp_path / "out" / "videos.csv")] == [
        "original/634",
        "FaceSwap/634_660",
    ]
    again = read_csv(tmp_path / "out" / "frames.csv")
    first = [
        row
        for row in read_csv(ffpms_dir / "frames.csv")
        if row["video"] in ("original/634", "FaceSwap/634_660")
    ]
    assert again == first


def test_ffpms_training_mix_on_fixture(fixtures_dir, tmp_path):
    build_ffpms(
        fixtures_dir / "videos" / "ffpp",
        tmp_path,
        compression="c23",
        seed=3,
        num_frames=8,
        methods=["FaceSwap"],
        train_mix=0.25,
        extract=False,
    )
    videos = {row["video"]: row for row in read_csv(tmp_path / "videos.csv")}
    assert videos["FaceSwap/634_660"]["fake_frames"] == "6"  # 25 % of 8 frames replaced
    assert (tmp_path / "fake_frame_rate.png").stat().st_size > 0


@pytest.mark.slow
def test_build_ffpms_script_writes_bags_with_per_face_labels(fixtures_dir, tmp_path, capsys):
    """End to end with MTCNN: faces in replaced frames are labelled real, and are the original's."""
    import importlib.util

    from smil_keras.bags import read_bags
    from smil_keras.faces import crop_face

    script = pathlib.Path(__file__).resolve().parents[2] / "data_tools" / "build_ffpms.py"
    spec = importlib.util.spec_from_file_location("build_ffpms_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = fixtures_dir / "videos" / "ffpp"
    assert (
        module.main(
            [
                "--ffpp",
                str(root),
                "--compression",
                "c23",
                "--out",
                str(tmp_path),
                "--frames",
                str(FRAMES),
                "--size",
                "64",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    assert "fake frames per manipulated video" in capsys.readouterr().out

    frame_label = {
        (r["video"], int(r["frame"])): int(r["label"]) for r in read_csv(tmp_path / "frames.csv")
    }
    bags = {bag.video_id: bag for bag in read_bags(sorted(tmp_path.glob("bags/*.tfrecord")))}
    assert set(bags) == {"original/519", "original/634", "Deepfakes/519_515", "FaceSwap/634_660"}
    for name, bag in bags.items():
        assert bag.label == int(name != "original/519" and name != "original/634")
        expected = [frame_label[(name, int(i))] for i in bag.frame_indices]
        assert bag.face_labels.tolist() == expected

    # A face of a replaced frame is cut from the original's pixels, not the fake's.
    bag = bags["FaceSwap/634_660"]
    real_positions = [k for k, label in enumerate(bag.face_labels) if label == 0]
    assert real_positions
    indices = [int(bag.frame_indices[k]) for k in real_positions]
    real = _decode(root / "original_sequences/youtube/c23/videos/634.mp4", indices)
    fake = _decode(root / "manipulated_sequences/FaceSwap/c23/videos/634_660.mp4", indices)
    crops = bag.decoded_crops(margin=1.3)  # the 64 px view at the centre of the stored crops
    checked = 0
    for k, index in zip(real_positions, indices, strict=True):
        box = tuple(int(v) for v in bag.boxes[k])
        original, swapped = (crop_face(frames[index], box, size=64) for frames in (real, fake))
        if np.abs(original - swapped.astype(float)).mean() < 4.0:
            continue  # a face the swap left alone (MTCNN also finds a small one in frame 225)
        error_real = np.abs(crops[k].astype(float) - original).mean()
        error_fake = np.abs(crops[k].astype(float) - swapped).mean()
        # JPEG noise of the stored crop against the swapped face's difference.
        assert error_real < 4.0 and 2 * error_real < error_fake, (error_real, error_fake)
        checked += 1
    assert checked


class _CentreDetector(FaceDetector):
    """Finds a face in the middle of every frame; with `fail_on`, fails unexpectedly on that
    video (1-based)."""

    def __init__(self, fail_on=None):
        self.fail_on, self.videos = fail_on, 0

    def detect(self, frames):
        self.videos += 1
        if self.videos == self.fail_on:
            raise RuntimeError("injected failure")
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


def test_a_failed_build_leaves_no_shard_that_looks_complete(fixtures_dir, tmp_path):
    """An unexpected exception mid-build (here in the second video) must not publish the shard
    being written, nor the ones completed before it: the build did not finish."""
    root = fixtures_dir / "videos" / "ffpp"
    kwargs = dict(compression="c23", seed=0, num_frames=FRAMES, size=32, videos_per_shard=2)
    with pytest.raises(RuntimeError, match="injected failure"):
        build_ffpms(root, tmp_path, detector=_CentreDetector(fail_on=2), **kwargs)
    assert not [path for path in tmp_path.rglob("*") if ".tfrecord" in path.name]
    assert not (tmp_path / "bags").exists() and not (tmp_path / "bags.partial").exists()
    # The same build with a working detector publishes its shards under bags/.
    stats = build_ffpms(root, tmp_path, detector=_CentreDetector(), **kwargs)
    assert stats["shards"] == [str(tmp_path / "bags" / f"ffpms-0000{k}.tfrecord") for k in (0, 1)]
    assert sorted(path.name for path in (tmp_path / "bags").iterdir()) == [
        "ffpms-00000.tfrecord",
        "ffpms-00001.tfrecord",
    ]
