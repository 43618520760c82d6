"""`extract_to_shards(engine="ray")`: the same bytes and manifest as the local engine (issue 15)."""

import os
import sys

import pytest

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
