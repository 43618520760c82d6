"""The paper's tables and figure data from `VideoScores`, and CSV / Markdown writers."""

import csv
import math
import pathlib

import numpy as np

from smil_keras.evaluation.metrics import balanced_accuracy


def method_table(scores_by_model, threshold=0.5):
    """Accuracy per manipulation method, one row per model (the layout of Tables 1-3).

    For method `m` the accuracy is the paper's: the mean of the accuracies on the real videos
    and on the fake videos made with `m`. `all` uses every video; `auc` and `frame_auc` are the
    video and frame AUCs over every video.

    Args:
        scores_by_model: dict model name -> `VideoScores` (on the same videos).
        threshold: probability from which a video is called fake.

    Returns:
        List of dicts `{"model", <method>..., "all", "auc", "frame_auc"}`.

    Example:

    >>> method_table({"S-MIL-T": scores})  # doctest: +SKIP
    [{'model': 'S-MIL-T', 'Deepfakes': 0.9071, 'Face2Face': 0.825, 'all': 0.86, ...}]
    """
    rows = []
    for name, scores in scores_by_model.items():
        methods = sorted(
            {m for m, label in zip(scores.methods, scores.labels, strict=True) if label == 1 and m}
        )
        row = {"model": name}
        for method in methods:
            keep = (scores.labels == 0) | (np.asarray(scores.methods, dtype=object) == method)
            row[method] = balanced_accuracy(
                scores.labels[keep], scores.probabilities[keep], threshold
            )
        metrics = scores.metrics(threshold)
        row.update(all=metrics["accuracy"], auc=metrics["auc"], frame_auc=metrics["frame_auc"])
        rows.append(row)
    return rows


def fake_fraction_table(scores_by_model, num_bins=10, threshold=0.5):
    """Accuracy against the fraction of fake faces in a video (the paper's Fig. 6).

    Videos are grouped by the fraction of their faces labelled fake: exactly 0, then
    `num_bins` bins `(a, b]` up to 1. Within a group, accuracy is the share of videos whose
    predicted label is right (for fake videos: how many are caught). Videos without face labels
    are left out.

    Returns:
        List of dicts `{"model", "fake_fraction" (bin label), "fraction" (bin middle, 0 for the
        zero bin), "videos", "accuracy"}`; empty bins are left out.
    """
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    rows = []
    for name, scores in scores_by_model.items():
        fractions = scores.fake_fractions()
        correct = (scores.probabilities >= threshold) == (scores.labels == 1)
        groups = [("0", 0.0, fractions == 0)] + [
            (f"({low:.1f}, {high:.1f}]", (low + high) / 2, (fractions > low) & (fractions <= high))
            for low, high in zip(edges[:-1], edges[1:], strict=True)
        ]
        for label, middle, members in groups:
            if members.any():
                rows.append(
                    {
                        "model": name,
                        "fake_fraction": label,
                        "fraction": middle,
                        "videos": int(members.sum()),
                        "accuracy": float(correct[members].mean()),
                    }
                )
    return rows


def markdown_table(rows, digits=4):
    """A Markdown table of a list of dicts (columns from the first row; floats rounded).

    Example:

    >>> print(markdown_table([{"model": "S-MIL", "DF": 0.90357}]))
    | model | DF |
    |---|---|
    | S-MIL | 0.9036 |
    """
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (_format(row.get(column), digits) for column in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(rows, path, digits=4):
    """Writes `rows` to `path.csv` and `path.md`; returns the two paths."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    csv_path, markdown_path = path.with_suffix(".csv"), path.with_suffix(".md")
    columns = list(rows[0]) if rows else []
    with csv_path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    markdown_path.write_text(markdown_table(rows, digits) + "\n", encoding="utf-8")
    return csv_path, markdown_path


def _format(value, digits):
    if value is None:
        return ""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)
