"""`extract_to_shards(engine="ray")`: the same bytes and manifest as the local engine (issue 15).

The videos are short synthetic clips and the face detector a stand-in: what is checked is the
engine (ranges, journals, retries, manifest), not the faces, and a real video would cost a
second of decoding per extraction.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from smil_keras.bags import extract_to_shards, read_manifest
from smil_keras.datasets.partial_attack import write_video
from smil_keras.faces import Face, FaceDetector

ray = pytest.importorskip(
    "ray", reason='Ray is not installed (optional: pip install "smil-keras[ray]")'
)


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
    """Kills its process on a white frame, as a crash in a native decoder would, after adding a
    line to the file `deaths`."""

    def __init__(self, deaths):
        self.deaths = str(deaths)

    def detect(self, frames):
        if any(frame.min() > 240 for frame in frames):
            with open(self.deaths, "a", encoding="utf-8") as file:
                file.write("died\n")
            os._exit(3)
        return super().detect(frames)

    def get_config(self):
        return {"deaths": self.deaths}


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


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three clips of random patterns (`real`, `fake`, `other`) and a `white` one, 6 frames of
    64 x 64 px each."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    frames = {
        name: list(rng.integers(0, 256, (6, 64, 64, 3), np.uint8))
        for name in ("real", "fake", "other")
    }
    frames["white"] = [np.full((64, 64, 3), 255, np.uint8)] * 6
    for name, clip in frames.items():
        write_video(folder / f"{name}.mp4", clip)
    return {name: folder / f"{name}.mp4" for name in frames}


def corrupt_video(folder):
    path = folder / "corrupt.mp4"
    path.write_bytes(b"\0" * 3000)
    return path


def shard_bytes(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.tfrecord"))}


def test_ray_writes_the_bytes_and_manifest_of_the_local_engine(clips, tmp_path, local_ray):
    inputs = [clips["real"], corrupt_video(tmp_path), clips["fake"], clips["other"]]
    options = dict(
        num_frames=2,
        size=32,
        detector=CentreDetector(),
        videos_per_shard=2,
        labels={"real.mp4": 0, "fake.mp4": 1},
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


def test_ray_resumes_a_run_killed_inside_a_range_per_video(clips, tmp_path, local_ray):
    inputs = [clips["real"], clips["fake"], clips["other"]]
    options = dict(num_frames=2, size=32, detector=CentreDetector(), progress=False)
    whole = extract_to_shards(inputs, tmp_path / "whole", **options)

    def interrupt_on_other(record):
        if record.video_id == "other":
            raise KeyboardInterrupt
        return record

    with pytest.raises(KeyboardInterrupt):  # the local engine journals two videos, then dies
        extract_to_shards(inputs, tmp_path / "resumed", annotate=interrupt_on_other, **options)
    journal = tmp_path / "resumed" / "bags-00000.tfrecord.journal"
    assert len(list(journal.glob("*.json"))) == 2
    resumed = extract_to_shards(inputs, tmp_path / "resumed", engine="ray", **options)
    assert resumed == whole and not journal.exists()
    assert shard_bytes(tmp_path / "resumed") == shard_bytes(tmp_path / "whole")


@pytest.mark.slow  # worker deaths and restarts: each restart imports TensorFlow
def test_a_video_that_kills_its_worker_is_an_error_row_and_the_rest_goes_on(
    clips, tmp_path, local_ray, monkeypatch
):
    from smil_keras.bags import ray_engine

    monkeypatch.setattr(ray_engine, "RETRIES", 1)  # each try restarts the worker: seconds
    options = dict(num_frames=2, size=32, videos_per_shard=2, progress=False)
    inputs = [clips["real"], clips["white"], clips["fake"]]
    deaths = tmp_path / "deaths.txt"
    rows = extract_to_shards(
        inputs, tmp_path / "ray", engine="ray", workers=2, detector=CrashOnWhite(deaths), **options
    )
    assert [row.status for row in rows] == ["ok", "error", "ok"]
    assert deaths.read_text().count("died") == 2  # tried again once, on a restarted worker
    assert "the Ray worker extracting it died on each of 2 tries" in rows[1].reason
    assert read_manifest(tmp_path / "ray") == rows
    # The other videos' bags are the local engine's, byte for byte.
    local = extract_to_shards(
        [clips["real"], clips["fake"]],
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
