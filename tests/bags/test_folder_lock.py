"""One writer per output folder: `extract_to_shards` locks its folder (issue 19.3)."""

import json
import logging
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from smil_keras.bags import FolderLock, extract_to_shards, read_bags, read_manifest
from smil_keras.cli.main import main
from smil_keras.errors import LockedError
from smil_keras.faces import Face, FaceDetector

ORIGINAL = "videos/ffpp/original_sequences/youtube/c23/videos/519.mp4"
FOLDER_LOCK = pathlib.Path(__file__).resolve().parents[2] / "smil_keras" / "bags" / "folder_lock.py"
TIMEOUT = 600  # generous: each child process imports TensorFlow on a busy machine


class CentreDetector(FaceDetector):
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


def extract_original(fixtures_dir, out):
    """`extract_to_shards` of the FF++ original into `out`: 2 frames, the centre as the face."""
    return extract_to_shards(
        [fixtures_dir / ORIGINAL],
        out,
        num_frames=2,
        size=32,
        detector=CentreDetector(),
        progress=False,
    )


def wait_for(condition, what):
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_second_writer_in_the_same_process_is_refused_naming_the_holder(fixtures_dir, tmp_path):
    out = tmp_path / "bags"
    with FolderLock(out, "extract.lock"), pytest.raises(LockedError) as caught:
        extract_original(fixtures_dir, out)
    message = str(caught.value)
    assert (
        str(out) in message and f"process {os.getpid()} on host {socket.gethostname()}" in message
    )
    assert "since" in message
    assert sorted(os.listdir(out)) == []  # nothing written, and the lock file is gone
    # Released, the folder takes a writer again.
    rows = extract_original(fixtures_dir, out)
    assert [row.status for row in rows] == ["ok"] and "extract.lock" not in os.listdir(out)


_WRITER = textwrap.dedent("""
    import json, os, sys, time
    from smil_keras.bags import extract_to_shards
    from smil_keras.errors import LockedError
    from smil_keras.faces import Face, FaceDetector

    folder, video, out = sys.argv[1:4]

    class HeldDetector(FaceDetector):  # keeps the extraction running until the test says so
        def detect(self, frames):
            while not os.path.exists(os.path.join(folder, "release")):
                time.sleep(0.02)
            return [[Face(i, (8, 8, 32, 32), 0.99, {})] for i in range(len(frames))]

    open(os.path.join(folder, f"ready-{os.getpid()}"), "w").close()
    while not os.path.exists(os.path.join(folder, "go")):
        time.sleep(0.002)
    try:
        rows = extract_to_shards([video], out, num_frames=2, size=32, detector=HeldDetector(),
                                 progress=False)
        print(json.dumps({"pid": os.getpid(), "statuses": [row.status for row in rows]}))
    except LockedError as error:
        print(json.dumps({"pid": os.getpid(), "locked": str(error)}))
""")


@pytest.mark.slow
def test_two_processes_started_at_the_same_moment_one_writes_one_is_refused(fixtures_dir, tmp_path):
    out = tmp_path / "bags"
    command = [sys.executable, "-c", _WRITER, str(tmp_path), str(fixtures_dir / ORIGINAL), str(out)]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(2)
    ]
    try:
        wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 2, "both writers to start")
        (tmp_path / "go").touch()  # both call extract_to_shards now
        wait_for(
            lambda: any(child.poll() is not None for child in children),
            "the refused writer to exit",
        )
        (tmp_path / "release").touch()
        outputs = [json.loads(child.communicate(timeout=TIMEOUT)[0]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    refused = [output for output in outputs if "locked" in output]
    written = [output for output in outputs if "statuses" in output]
    assert len(refused) == 1 and len(written) == 1, outputs
    message = refused[0]["locked"]
    assert str(out) in message
    assert f"process {written[0]['pid']} on host {socket.gethostname()}" in message
    assert written[0]["statuses"] == ["ok"]
    # The folder holds exactly the winner's extraction, consistent with its manifest.
    (row,) = read_manifest(out)
    assert [record.video_id for record in read_bags(out)] == [row.video_id] == ["519"]
    assert not (out / "extract.lock").exists()


_HOLDER = textwrap.dedent("""
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location("folder_lock", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.FolderLock(sys.argv[2], "extract.lock").acquire()
    print("held", flush=True)
    time.sleep(600)
""")


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_warning(
    fixtures_dir, tmp_path, caplog
):
    out = tmp_path / "bags"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(FOLDER_LOCK), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"process {holder.pid} on host"):
            extract_original(fixtures_dir, out)
    finally:
        holder.send_signal(signal.SIGKILL)  # as a crash would: the lock file stays behind
        holder.wait()
    assert json.loads((out / "extract.lock").read_text())["pid"] == holder.pid
    with caplog.at_level(logging.WARNING, logger="smil_keras.bags.folder_lock"):
        rows = extract_original(fixtures_dir, out)
    assert [row.status for row in rows] == ["ok"]
    (warning,) = [r for r in caplog.records if r.name == "smil_keras.bags.folder_lock"]
    assert "stale lock" in warning.getMessage() and f"process {holder.pid}" in warning.getMessage()
    assert not (out / "extract.lock").exists()


def test_smil_extract_into_a_locked_folder_exits_2_with_one_line(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "bags"
    with FolderLock(out, "extract.lock"):
        code = main(["extract", str(fixtures_dir / ORIGINAL), "--out", str(out), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert (
        f"smil extract: error: {out} is locked: another writer holds it (process {os.getpid()}"
        in err
        and "Traceback" not in err
    )
