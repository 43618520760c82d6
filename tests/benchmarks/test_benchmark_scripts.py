"""Smoke runs of the benchmark scripts on tiny settings: they run and print full tables.

Timings are never asserted (they depend on the machine and its load); these tests only keep the
scripts working while the library's API moves.
"""

import pathlib
import re
import subprocess
import tempfile

import numpy as np
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def table_rows(text):
    """The body rows of the Markdown table in `text`, as lists of cell strings."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip(" *") for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_train_speed_prints_detector_and_bare_backbone_rates(load_benchmark, capsys):
    load_benchmark("train_speed").main(
        [
            "--backbone",
            "tiny",
            "--image-size",
            "32",
            "--bags",
            "2",
            "--faces-per-bag",
            "3",
            "--filters",
            "8",
            "--warmup",
            "1",
            "--steps",
            "1",
            "--repeats",
            "2",
        ]
    )
    rows = table_rows(capsys.readouterr().out)
    assert [row[0].split()[0] for row in rows] == ["bare", "S-MIL-T"]
    rates = [float(row[2]) for row in rows]
    assert all(rate > 0 for rate in rates)
    assert rows[0][4] == "1.000"  # the bare backbone is the reference
    assert float(rows[1][4]) > 0


@pytest.mark.slow
def test_predict_speed_times_every_stage_of_a_real_video(
    load_benchmark, fixtures_dir, capsys, monkeypatch, tmp_path
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    video = fixtures_dir / "videos" / "dfdc" / "real" / "lynaeydofd.mp4"
    load_benchmark("predict_speed").main(
        [
            "--video",
            str(video),
            "--backbones",
            "tiny",
            "--frames",
            "3",
            "--image-size",
            "64",
            "--repeats",
            "1",
        ]
    )
    (row,) = table_rows(capsys.readouterr().out)
    assert row[0] == "tiny" and int(row[1]) >= 1  # faces found
    decode, detect, crop, faces, model, other, total = map(float, row[2:9])
    assert min(decode, detect, faces, model) > 0 and crop >= 0
    # decoding overlaps detection: the bag of crops is ready sooner than their sum
    assert max(decode, detect) <= faces + 0.005 and faces <= decode + detect + crop + 0.05
    assert total == pytest.approx(faces + model + other, abs=0.005)


@pytest.mark.slow
def test_memory_use_measures_training_in_fresh_processes(
    load_benchmark, capsys, monkeypatch, tmp_path
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    load_benchmark("memory_use").main(
        [
            "--jobs",
            "train",
            "--bags",
            "3",
            "--scales",
            "1",
            "2",
            "--faces",
            "2",
            "--crop-size",
            "32",
            "--image-size",
            "32",
            "--batch-size",
            "2",
        ]
    )
    rows = table_rows(capsys.readouterr().out)
    assert [row[1] for row in rows] == ["3 bags x 2 faces", "6 bags x 2 faces"]
    for row in rows:
        before, peak = float(row[3]), float(row[4])
        assert 0 < before <= peak
        assert re.fullmatch(r"\d+\.\d", row[7])  # seconds


def check_pipeline_rows(rows, threads, configurations):
    assert [int(row[0]) for row in rows] == [t for t in threads for _ in range(configurations)]
    for row in rows:
        raw, bags, ratio = float(row[2].split()[0]), float(row[3]), float(row[4].strip("*"))
        assert raw > 0 and bags > 0 and ratio > 0
        assert ratio == pytest.approx(np.median([float(r) for r in row[5].split(",")]), abs=0.01)
        assert len(row[5].split(",")) == 2  # one ratio per round


# The pipeline benchmark's smoke settings: 4 bags, 2 rounds of 0.05 s after a 0.05 s warm-up.
PIPELINE_SMOKE = ["--bags", "4", "--seconds", "0.05", "--rounds", "2", "--warmup", "0.05"]


def test_pipeline_speed_compares_every_configuration_with_raw_decoding(load_benchmark, capsys):
    # One thread count: a second would rebuild the same five pipelines (most of the time).
    load_benchmark("pipeline_speed").main([*PIPELINE_SMOKE, "--threads", "1", "--no-isolate"])
    out = capsys.readouterr().out
    assert "one process" in out
    check_pipeline_rows(table_rows(out), [1], 5)  # 5 configurations


def test_pipeline_speed_measures_each_configuration_in_a_fresh_process(load_benchmark, capsys):
    load_benchmark("pipeline_speed").main([*PIPELINE_SMOKE, "--threads", "2", "--configs", "cache"])
    out = capsys.readouterr().out
    assert "each configuration in a fresh process" in out  # one: each costs a TensorFlow import
    rows = table_rows(out)
    check_pipeline_rows(rows, [2], 1)
    assert rows[0][1] == "cache=True"


@pytest.mark.slow
def test_gpu_checks_script_runs_training_in_both_precisions_and_video_jobs_on_jax(
    fixtures_dir, tmp_path, jax_without_tensorflow_env
):
    # `benchmarks/gpu_checks.sh OUT train video` as the lent GPU machine runs it (Keras on JAX,
    # no TensorFlow: importing it fails), rehearsed on the CPU with tiny arguments. One call for
    # both jobs: they share the script's set-up.
    videos = "videos/ffpp/original_sequences/youtube/c23/videos"
    arguments = {
        "TRAIN_ARGS": (
            "--backbone tiny --image-size 32 --bags 2 --faces-per-bag 3 --filters 8 --warmup 1 "
            "--steps 1 --repeats 1"
        ),
        # The extraction's 480p clip, not the 1080p default: decoded faster, and the MTCNN
        # programs that JAX compiles for it serve both scripts (the persistent cache).
        "PREDICT_ARGS": (
            f"--video {fixtures_dir / videos / '519.mp4'} --backbones tiny --frames 3 "
            "--image-size 64 --repeats 1"
        ),
        "EXTRACT_ARGS": "--videos 480p --num-frames 3",
        "SMIL_FIXTURES": str(fixtures_dir),
    }
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_checks.sh"), str(out), "train", "video"],
        env={**jax_without_tensorflow_env, **arguments},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ModuleNotFoundError" not in result.stderr and "ImportError" not in result.stderr

    for precision in ("mixed_bfloat16", "float32"):
        text = (out / f"train_{precision}.md").read_text()
        assert "backend jax" in text and f"precision {precision}" in text
        rows = table_rows(text)
        assert [row[0].split()[0] for row in rows] == ["bare", "S-MIL-T"]
        assert all(float(row[2]) > 0 for row in rows)
    predict = (out / "predict.md").read_text()
    assert "backend jax" in predict and table_rows(predict)[0][0] == "tiny"
    extract = (out / "extract.md").read_text()
    assert "backend jax" in extract and "naive detector MTCNNDetector" in extract
    (row,) = table_rows(extract)
    assert row[0].startswith("480p") and row[-1].split(" / ")[1] == "0"  # no face missed


def test_train_profile_counts_kernels_on_the_device_streams_only(load_benchmark, tmp_path):
    # A Perfetto trace as JAX writes it: the GPU's "XLA Modules" row spans the kernels that its
    # stream rows hold, and host rows hold Python; only the streams' kernels count.
    import gzip
    import json

    profile = load_benchmark("train_profile")
    meta = [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/host:CPU"}},
        {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/device:GPU:0 (pid 2)"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 9, "args": {"name": "python3"}},
        {"ph": "M", "name": "thread_name", "pid": 2, "tid": 1, "args": {"name": "XLA Modules"}},
        {
            "ph": "M",
            "name": "thread_name",
            "pid": 2,
            "tid": 7,
            "args": {"name": "Stream #7(Compute)"},
        },
        {
            "ph": "M",
            "name": "thread_name",
            "pid": 2,
            "tid": 8,
            "args": {"name": "Stream #8(MemcpyH2D)"},
        },
    ]
    spans = [
        (1, 9, 0, 100),
        (2, 1, 0, 60),
        (2, 7, 0, 10),
        (2, 7, 5, 10),
        (2, 8, 30, 5),
        (2, 7, 50, 10),
    ]
    events = meta + [
        {"ph": "X", "name": f"k{i}", "pid": pid, "tid": tid, "ts": ts, "dur": dur}
        for i, (pid, tid, ts, dur) in enumerate(spans)
    ]
    trace = tmp_path / "perfetto_trace.json.gz"
    with gzip.open(trace, "wt") as file:
        json.dump({"traceEvents": events}, file)
    kernels, rows = profile.device_events(trace)
    assert rows == ["Stream #7(Compute)", "Stream #8(MemcpyH2D)"]
    assert sorted(e["name"] for e in kernels) == ["k2", "k3", "k4", "k5"]
    assert profile.busy_time(kernels) == 15 + 5 + 10  # [0, 15) once, [30, 35), [50, 60)
