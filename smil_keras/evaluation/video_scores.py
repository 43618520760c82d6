"""Per-video scores of one model on a set of bags: what every table and figure is computed from."""

import csv
import dataclasses
import pathlib

import numpy as np

from smil_keras.evaluation.metrics import frame_auc, person_metrics, video_metrics


@dataclasses.dataclass
class VideoScores:
    """One model's scores on a set of videos, with their labels and metadata.

    Args:
        video_ids: one id per video.
        labels: `(n,)` int video labels (0 real, 1 fake).
        methods: manipulation method per video (`""` for real or unknown).
        probabilities: `(n,)` video fake probabilities.
        face_labels: per video, the `(m_i,)` int labels of its faces (-1 unknown).
        face_probabilities: per video, the `(m_i,)` fake probability of each face inside its
            bag (the instance scores of the pooling, `explain_model`).
        attention: per video, the `(m_i,)` S-MIL attention weights.
        frame_scores: per video, the `(m_i,)` score of each face fed alone (`frame_model`):
            the paper's frame-level evaluation (sec. 4.4, Table 2 bottom).
        person_ids: per video, the `(m_i,)` person index of each face, or `None` when the
            bags were scored without people (`score_bags(persons=False)`).
        person_probabilities: per video, the `(P_i,)` fake probability of each person
            (`explain_model`'s ``"person_probability"``), or `None`.

    Example:

    >>> scores = score_bags(model, "bags/test")  # doctest: +SKIP
    >>> scores.metrics()  # doctest: +SKIP
    {'accuracy': 0.91, 'auc': 0.97, 'videos': 140, 'frame_auc': 0.95}
    """

    video_ids: list
    labels: np.ndarray
    methods: list
    probabilities: np.ndarray
    face_labels: list
    face_probabilities: list
    attention: list
    frame_scores: list
    person_ids: list | None = None
    person_probabilities: list | None = None

    def __len__(self):
        return len(self.video_ids)

    def subset(self, keep):
        """The videos where the boolean array `keep` is True."""
        keep = np.asarray(keep, dtype=bool)

        def pick(values):
            return [value for value, kept in zip(values, keep, strict=True) if kept]

        return VideoScores(
            video_ids=pick(self.video_ids),
            labels=self.labels[keep],
            methods=pick(self.methods),
            probabilities=self.probabilities[keep],
            face_labels=pick(self.face_labels),
            face_probabilities=pick(self.face_probabilities),
            attention=pick(self.attention),
            frame_scores=pick(self.frame_scores),
            person_ids=None if self.person_ids is None else pick(self.person_ids),
            person_probabilities=(
                None if self.person_probabilities is None else pick(self.person_probabilities)
            ),
        )

    def fake_fractions(self):
        """Per video, the fraction of its faces labelled fake (`nan` if no face label is known)."""
        fractions = []
        for labels in self.face_labels:
            known = np.asarray(labels)[np.asarray(labels) >= 0]
            fractions.append(float(np.mean(known == 1)) if known.size else float("nan"))
        return np.asarray(fractions)

    def metrics(self, threshold=0.5):
        """Video accuracy (mean of real and fake accuracies), video AUC and frame AUC, and with
        people the person accuracy and AUC (`person_metrics`)."""
        metrics = {
            **video_metrics(self.labels, self.probabilities, threshold),
            "frame_auc": frame_auc(self.face_labels, self.frame_scores),
        }
        if self.person_probabilities is not None:
            metrics.update(
                person_metrics(
                    self.face_labels, self.person_ids, self.person_probabilities, threshold
                )
            )
        return metrics

    def to_csv(self, path, threshold=0.5):
        """Writes one row per video: id, label, method, probability, prediction, faces."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fractions = self.fake_fractions()
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(
                [
                    "video_id",
                    "label",
                    "method",
                    "fake_probability",
                    "predicted",
                    "faces",
                    "fake_face_fraction",
                ]
            )
            for index, video_id in enumerate(self.video_ids):
                writer.writerow(
                    [
                        video_id,
                        int(self.labels[index]),
                        self.methods[index],
                        f"{self.probabilities[index]:.6f}",
                        int(self.probabilities[index] >= threshold),
                        len(self.face_probabilities[index]),
                        "" if np.isnan(fractions[index]) else f"{fractions[index]:.4f}",
                    ]
                )
        return path
