"""`benchmarks/scale_out.py --smoke`: every part runs and prints its tables (issue 15 §4).

Timings are never asserted (the machine is shared); only that each table has its rows and
that its numbers are numbers.
"""

import math
import tempfile

import pytest

SMOKE_VIDEOS = [
    "videos/ffpp/original_sequences/youtube/c23/videos/519.mp4",
    "videos/ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
    "videos/ffpp/original_sequences/youtube/c23/videos/634.mp4",
]


def tables(text):
    """`{section title: body rows as lists of cells}` of the Markdown tables in `text`."""
    found, title = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            found[title] = []
        elif line.startswith("|") and title is not None:
            found[title].append([cell.strip(" *`") for cell in line.strip("|").split("|")])
    return {name: rows[2:] for name, rows in found.items()}


def number(cell):
    value = float(cell)
    assert math.isfinite(value), cell
    return value


@pytest.mark.slow
def test_smoke_run_prints_extraction_ray_costs_training_and_projection(
    load_benchmark, fixtures_dir, capsys, monkeypatch, tmp_path
):
    pytest.importorskip("ray", reason='Ray is not installed (pip install "smil-keras[ray]")')
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its work folder
    videos = [str(fixtures_dir / video) for video in SMOKE_VIDEOS]
    load_benchmark("scale_out").main(["--smoke", "--videos", *videos, "--machines", "1", "8"])
    found = tables(capsys.readouterr().out)

    extraction = found["Extraction: videos per second"]
    assert [row[0] for row in extraction] == [
        "local (1 process)",
        "Ray (1 actor)",
        "Ray (2 actors)",
    ]
    for row in extraction:
        assert number(row[3]) > 0 and number(row[4]) > 0 and number(row[6]) > 0
    assert number(extraction[1][8]) == pytest.approx(1.0)  # one worker is the linear reference

    costs = found["Ray's fixed costs"]
    assert costs[0][0].startswith("ray.init") and number(costs[0][1]) > 0
    assert all(number(row[1]) >= 0 for row in costs[1:])

    (training,) = [rows for title, rows in found.items() if title.startswith("Training step")]
    assert [(row[0], row[1]) for row in training] == [("tensorflow", "1"), ("tensorflow", "2")]
    for row in training:
        assert number(row[5]) > 0 and len(row[6].split(",")) == 2  # two epochs' losses
        assert row[8] in ("yes", "no")
    assert number(training[0][7]) == 0  # one device against itself

    (projection,) = [rows for title, rows in found.items() if title.startswith("Projection")]
    assert [(row[0], row[1]) for row in projection] == [("1", "16"), ("8", "128")]
    hours = [number(row[2]) for row in projection]
    assert hours[0] > hours[1] > 0  # more machines, fewer hours
