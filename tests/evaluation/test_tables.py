"""The paper's tables and figure data computed from per-video scores."""

import csv

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from smil_keras.evaluation import (
    VideoScores,
    fake_fraction_table,
    markdown_table,
    method_table,
    plot_curves,
    write_table,
)


def make_scores(labels, methods, probabilities, face_labels):
    n = len(labels)
    face_scores = [np.linspace(0.1, 0.9, len(f)) for f in face_labels]
    return VideoScores(
        video_ids=[f"v{i}" for i in range(n)],
        labels=np.asarray(labels),
        methods=methods,
        probabilities=np.asarray(probabilities, dtype=float),
        face_labels=[np.asarray(f) for f in face_labels],
        face_probabilities=face_scores,
        attention=[np.full(len(f), 1 / len(f)) for f in face_labels],
        frame_scores=face_scores,
    )


@pytest.fixture
def scores():
    return make_scores(
        labels=[0, 0, 0, 1, 1, 1, 1],
        methods=["", "", "", "DF", "DF", "FS", "FS"],
        probabilities=[0.2, 0.7, 0.1, 0.9, 0.3, 0.6, 0.8],
        face_labels=[[0, 0], [0, 0], [0, 0], [1, 1], [0, 1, 0, 0], [1, 0], [1, 1, 1, 1]],
    )


def test_method_table_is_the_balanced_accuracy_of_reals_plus_that_method(scores):
    (row,) = method_table({"S-MIL": scores})
    labels, probabilities = scores.labels, scores.probabilities
    for method in ("DF", "FS"):
        keep = (labels == 0) | (np.asarray(scores.methods) == method)
        expected = balanced_accuracy_score(labels[keep], probabilities[keep] >= 0.5)
        assert row[method] == pytest.approx(expected)
    assert row["all"] == pytest.approx(balanced_accuracy_score(labels, probabilities >= 0.5))
    assert row["auc"] == pytest.approx(roc_auc_score(labels, probabilities))
    face_labels = np.concatenate(scores.face_labels)
    assert row["frame_auc"] == pytest.approx(
        roc_auc_score(face_labels, np.concatenate(scores.frame_scores))
    )
    assert list(row) == ["model", "DF", "FS", "all", "auc", "frame_auc"]


def test_fake_fraction_table_groups_videos_by_their_share_of_fake_faces(scores):
    rows = {row["fake_fraction"]: row for row in fake_fraction_table({"m": scores})}
    # Fractions: reals 0, 0, 0; fakes 1.0, 0.25, 0.5, 1.0.
    assert rows["0"]["videos"] == 3 and rows["0"]["accuracy"] == pytest.approx(2 / 3)
    assert rows["(0.2, 0.3]"]["videos"] == 1 and rows["(0.2, 0.3]"]["accuracy"] == 0.0
    assert rows["(0.4, 0.5]"]["accuracy"] == 1.0
    assert rows["(0.9, 1.0]"]["videos"] == 2 and rows["(0.9, 1.0]"]["accuracy"] == 1.0
    assert sum(row["videos"] for row in rows.values()) == len(scores)


def test_tables_are_written_as_csv_and_markdown_and_curves_as_png(scores, tmp_path):
    rows = method_table({"a": scores, "b": scores.subset(scores.labels >= 0)})
    csv_path, markdown_path = write_table(rows, tmp_path / "metrics")
    with csv_path.open() as file:
        read = list(csv.DictReader(file))
    assert [r["model"] for r in read] == ["a", "b"]
    assert float(read[0]["DF"]) == pytest.approx(rows[0]["DF"])
    header = markdown_path.read_text().splitlines()[0]
    assert header == "| model | DF | FS | all | auc | frame_auc |"
    png = plot_curves(
        fake_fraction_table({"a": scores}),
        "fraction",
        "accuracy",
        tmp_path / "fig6.png",
        "t",
        "x",
        "y",
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_rounds_floats_and_marks_nan():
    text = markdown_table([{"model": "x", "auc": float("nan"), "acc": 0.123456}])
    assert text.splitlines()[2] == "| x | n/a | 0.1235 |"
