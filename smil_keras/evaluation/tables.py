"""The paper's tables and figure data from `VideoScores`, and CSV / Markdown writers."""

import csv
import math
import pathlib

import numpy as np

from smil_keras.evaluation.metrics import balanced_accuracy, person_labels


def method_table(scores_by_model, threshold=0.5):
    """Accuracy per manipulation method, one row per model (the layout of Tables 1-3).

    For method `m` the accuracy is the paper's: the mean of the accuracies on the real videos
    and on the fake videos made with `m`. `all` uses every video; `auc` and `frame_auc` are the
    video and frame AUCs over every video; with per-person scores (`score_bags(persons=True)`),
    `person_accuracy` and `person_auc` are the person-level ones (`person_metrics`).

    Args:
        scores_by_model: dict model name -> `VideoScores` (on the same videos).
        threshold: probability from which a video is called fake.

    Returns:
        List of dicts `{"model", <method>..., "all", "auc", "frame_auc"}`, and
        `"person_accuracy"`, `"person_auc"` for scores with people.

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
        if "person_accuracy" in metrics:
            row.update(person_accuracy=metrics["person_accuracy"], person_auc=metrics["person_auc"])
        rows.append(row)
    return rows


def person_table(scores, threshold=0.5):
    """One row per person of every video: the per-person verdicts of `score_bags(persons=True)`.

    Args:
        scores: `VideoScores` with people (`person_ids`, `person_probabilities`).
        threshold: probability from which a person is called fake.

    Returns:
        List of dicts `{"video_id", "person" (index in the bag), "faces", "label" (0, 1, or -1
        unknown: `person_labels`), "fake_probability", "predicted"}`.

    Example:

    >>> person_table(score_bags(model, "bags/test", persons=True))[:1]  # doctest: +SKIP
    [{'video_id': 'clip000', 'person': 0, 'faces': 8, 'label': 0, 'fake_probability': 0.12, ...}]
    """
    if scores.person_probabilities is None:
        raise ValueError("these scores have no people: use score_bags(..., persons=True)")
    rows = []
    for video_id, face_labels, ids, probabilities in zip(
        scores.video_ids,
        scores.face_labels,
        scores.person_ids,
        scores.person_probabilities,
        strict=True,
    ):
        labels = person_labels(face_labels, ids)
        for person, probability in enumerate(probabilities):
            rows.append(
                {
                    "video_id": video_id,
                    "person": person,
                    "faces": int(np.sum(np.asarray(ids) == person)),
                    "label": int(labels[person]),
                    "fake_probability": float(probability),
                    "predicted": int(probability >= threshold),
                }
            )
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
