"""`evaluate`: every metric, table and figure of the paper for a set of models (`smil evaluate`)."""

import logging
import pathlib

from smil_keras.evaluation.plots import plot_curves
from smil_keras.evaluation.score_bags import score_bags
from smil_keras.evaluation.tables import (
    fake_fraction_table,
    method_table,
    person_table,
    write_table,
)

logger = logging.getLogger(__name__)


def evaluate(
    models,
    files,
    out_dir=None,
    threshold=0.5,
    frame_counts=(),
    batch_size=8,
    progress=True,
    persons=False,
):
    """Evaluates one or more detectors on bag shards, as the paper reports results.

    Computes, for each model: video-level accuracy (the mean of the accuracies on real and on
    fake videos) and AUC, frame-level AUC (per-face scores against per-face labels, Table 2
    bottom), the accuracy per manipulation method (Tables 1-3), the accuracy against the
    fraction of fake faces in a video (Fig. 6) and, for each count in `frame_counts`, the
    accuracy when only that many faces of each video, evenly spread over it, are used (Fig. 7:
    the number of test frames, with one face per frame). Each model sees the faces through its
    own view (`model.view`: image size and margin; see `score_bags`).

    With `persons`, each bag is scored person by person (`score_bags(persons=True)`: faces in
    person order with their person ids, one fake probability per person), and the method
    table gains the person-level accuracy (the mean of the accuracies on real and on fake
    persons) and AUC over every person whose faces carry labels (a person is fake if any of
    their faces is labelled fake: `person_metrics`).

    With `out_dir`, writes `metrics.{csv,md}` (the method table), `fake_fraction.{csv,md,png}`,
    `frames.{csv,md,png}` (when `frame_counts` is given), `videos_<model>.csv` (per-video
    scores) and, with `persons`, `persons_<model>.{csv,md}` (per-person verdicts).

    Args:
        models: a detector, or a dict display name -> detector.
        files: bag shard files, folders or globs (see `find_shards`).
        out_dir: folder for the tables and plots (`None`: write nothing).
        threshold: probability from which a video is called fake.
        frame_counts: numbers of test frames for the Fig. 7 curve (empty: skip it).
        batch_size: videos per forward pass.
        progress: show a progress bar while each model scores the bags.
        persons: score and report person by person (see above).

    Returns:
        dict with `"metrics"`, `"fake_fraction"` and `"frames"` (lists of row dicts) and
        `"scores"` (dict name -> `VideoScores`).

    Example:

    >>> report = evaluate({"S-MIL-T": load_detector("runs/a/best.keras")}, "bags/test",
    ...                   out_dir="eval", frame_counts=(2, 5, 10, 20))  # doctest: +SKIP
    >>> print(markdown_table(report["metrics"]))  # doctest: +SKIP
    """
    if not isinstance(models, dict):
        models = {models.name: models}
    scores = {
        name: score_bags(model, files, batch_size=batch_size, progress=progress, persons=persons)
        for name, model in models.items()
    }
    report = {
        "scores": scores,
        "metrics": method_table(scores, threshold),
        "fake_fraction": fake_fraction_table(scores, threshold=threshold),
        "frames": [],
    }
    for name, model in models.items():
        for count in frame_counts:
            subset = score_bags(
                model,
                files,
                batch_size=batch_size,
                instances=count,
                progress=False,
                persons=persons,
            )
            metrics = subset.metrics(threshold)
            report["frames"].append(
                {
                    "model": name,
                    "frames": int(count),
                    "videos": len(subset),
                    "accuracy": metrics["accuracy"],
                    "auc": metrics["auc"],
                }
            )
    if out_dir is not None:
        _write(report, pathlib.Path(out_dir), threshold)
    return report


def _write(report, out_dir, threshold):
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(report["metrics"], out_dir / "metrics")
    for name, scores in report["scores"].items():
        scores.to_csv(out_dir / f"videos_{_file_name(name)}.csv", threshold)
        if scores.person_probabilities is not None:
            write_table(person_table(scores, threshold), out_dir / f"persons_{_file_name(name)}")
    if report["fake_fraction"]:
        write_table(report["fake_fraction"], out_dir / "fake_fraction")
        plot_curves(
            report["fake_fraction"],
            "fraction",
            "accuracy",
            out_dir / "fake_fraction.png",
            "Accuracy vs fraction of fake faces (Fig. 6)",
            "fraction of fake faces",
            "accuracy",
        )
    if report["frames"]:
        write_table(report["frames"], out_dir / "frames")
        plot_curves(
            report["frames"],
            "frames",
            "accuracy",
            out_dir / "frames.png",
            "Accuracy vs number of test frames (Fig. 7)",
            "frames per video",
            "accuracy",
        )
    logger.info("wrote evaluation tables and plots to %s", out_dir)


def _file_name(name):
    return "".join(char if char.isalnum() or char in "-_." else "_" for char in name)
