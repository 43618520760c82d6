"""`extract_to_shards(engine="ray")`: the same bytes and manifest as the local engine (issue 15)."""

import os
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from smil_keras.bags import extract_to_shards, read_manifest
from smil_keras.faces import Face, FaceDetector

ray = pytest.importorskip(
    "ray", reason='Ray is not installed (optional: pip install "smil-keras[ray]")'
)

FFPP = "videos/ffpp"
ORIGINAL = f"{FFPP}/original_sequences/youtube/c23/videos/519.mp4"
FAKE = f"{FFPP}/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"
OTHER = f"{FFPP}/original_sequences/youtube/c23/videos/634.mp4"


class CentreDetector(FaceDetector):
    """A deterministic stand-in detector that Ray actors can rebuild (`get_config`)."""

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

    def get_config(self):
        return {}


class CrashOnWhite(CentreDetector):
    """Kills its process on a white frame, as a crash in a native decoder would."""

    def detect(self, frames):
        if any(frame.min() > 240 for frame in frames):
            os._exit(3)
        return super().detect(frames)


def frame_parity(record):  # an `annotate` hook, run in the actors
    record.method = "even" if record.frame_indices[0] % 2 == 0 else "odd"
    return record


@pytest.fixture(scope="module")
def local_ray():
    # This test module is not importable by name in Ray's workers: ship its code by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def corrupt_video(folder):
    path = folder / "corrupt.mp4"
    path.write_bytes(b"\0" * 3000)
    return path


def shard_bytes(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.tfrecord"))}


def test_ray_writes_the_bytes_and_manifest_of_the_local_engine(fixtures_dir, tmp_path, local_ray):
    inputs = [
        fixtures_dir / ORIGINAL,
        corrupt_video(tmp_path),
        fixtures_dir / FAKE,
        fixtures_dir / OTHER,
    ]
    options = dict(
        num_frames=2,
        size=32,
        detector=CentreDetector(),
        videos_per_shard=2,
        labels={"519.mp4": 0, "519_515.mp4": 1},
        annotate=frame_parity,
        dataset="ffpp",
        progress=False,
    )
    local = extract_to_shards(inputs, tmp_path / "local", **options)
    remote = extract_to_shards(inputs, tmp_path / "ray", engine="ray", workers=2, **options)
    assert remote == local and read_manifest(tmp_path / "ray") == local
    assert [row.status for row in remote] == ["ok", "error", "ok", "ok"]  # a failure is a row
    assert len(shard_bytes(tmp_path / "ray")) == 2
    assert shard_bytes(tmp_path / "ray") == shard_bytes(tmp_path / "local")
    assert sorted(os.listdir(tmp_path / "ray")) == sorted(os.listdir(tmp_path / "local"))
    # A rerun finds every range done: nothing is rewritten.
    times = {path.name: path.stat().st_mtime_ns for path in (tmp_path / "ray").iterdir()}
    assert extract_to_shards(inputs, tmp_path / "ray", engine="ray", **options) == local
    shards = {name: time for name, time in times.items() if name.endswith(".tfrecord")}
    assert shards == {name: (tmp_path / "ray" / name).stat().st_mtime_ns for name in shards}


def test_ray_resumes_a_run_killed_inside_a_range_per_video(fixtures_dir, tmp_path, local_ray):
    inputs = [fixtures_dir / ORIGINAL, fixtures_dir / FAKE, fixtures_dir / OTHER]
    options = dict(num_frames=2, size=32, detector=CentreDetector(), progress=False)
    whole = extract_to_shards(inputs, tmp_path / "whole", **options)

    def interrupt_on_634(record):
        if record.video_id == "634":
            raise KeyboardInterrupt
        return record

    with pytest.raises(KeyboardInterrupt):  # the local engine journals two videos, then dies
        extract_to_shards(inputs, tmp_path / "resumed", annotate=interrupt_on_634, **options)
    journal = tmp_path / "resumed" / "bags-00000.tfrecord.journal"
    assert len(list(journal.glob("*.json"))) == 2
    resumed = extract_to_shards(inputs, tmp_path / "resumed", engine="ray", **options)
    assert resumed == whole and not journal.exists()
    assert shard_bytes(tmp_path / "resumed") == shard_bytes(tmp_path / "whole")


@pytest.mark.slow  # worker deaths and restarts: each restart imports TensorFlow
def test_a_video_that_kills_its_worker_is_an_error_row_and_the_rest_goes_on(
    fixtures_dir, tmp_path, local_ray, monkeypatch
):
    from smil_keras.bags import ray_engine

    monkeypatch.setattr(ray_engine, "RETRIES", 1)  # each try restarts the worker: seconds
    white = tmp_path / "white.mp4"
    writer = cv2.VideoWriter(str(white), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
    for _ in range(6):
        writer.write(np.full((64, 64, 3), 255, np.uint8))
    writer.release()
    options = dict(num_frames=2, size=32, videos_per_shard=2, progress=False)
    inputs = [fixtures_dir / ORIGINAL, white, fixtures_dir / FAKE]
    rows = extract_to_shards(
        inputs, tmp_path / "ray", engine="ray", workers=2, detector=CrashOnWhite(), **options
    )
    assert [row.status for row in rows] == ["ok", "error", "ok"]
    assert "the Ray worker extracting it died on each of 2 tries" in rows[1].reason
    assert read_manifest(tmp_path / "ray") == rows
    # The other videos' bags are the local engine's, byte for byte.
    local = extract_to_shards(
        [fixtures_dir / ORIGINAL, fixtures_dir / FAKE],
        tmp_path / "local",
        detector=CentreDetector(),
        **options,
    )
    assert [row.status for row in local] == ["ok", "ok"]

    def records(folder):
        shards = [str(path) for path in sorted(folder.glob("*.tfrecord"))]
        return [record.numpy() for record in tf.data.TFRecordDataset(shards)]

    assert records(tmp_path / "ray") == records(tmp_path / "local")
    # A rerun finds every range done, the error row included.
    assert extract_to_shards(inputs, tmp_path / "ray", engine="ray", **options) == rows
