"""Video-, frame- and person-level metrics as the paper reports them (NumPy only)."""

import numpy as np


def balanced_accuracy(labels, probabilities, threshold=0.5):
    """The paper's video-level accuracy: the mean of the accuracies on real and on fake videos.

    "The experiment is evaluated by the average accuracy of fake and real testing videos"
    (section 4.3). A video is called fake when its probability is `>= threshold`. Classes absent
    from `labels` are left out of the mean; `nan` for no videos.

    Example:

    >>> balanced_accuracy([0, 0, 0, 1], [0.1, 0.2, 0.7, 0.9])  # (2/3 + 1) / 2
    0.8333333333333333
    """
    labels, probabilities = _check(labels, probabilities)
    predicted = probabilities >= threshold
    recalls = [
        np.mean(predicted[labels == value] == bool(value))
        for value in (0, 1)
        if np.any(labels == value)
    ]
    return float(np.mean(recalls)) if recalls else float("nan")


def roc_auc(labels, scores):
    """Area under the ROC curve, via the Mann-Whitney U statistic (ties count one half).

    `nan` when `labels` hold only one class (the AUC is undefined).

    Example:

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    labels, scores = _check(labels, scores)
    positives = labels == 1
    num_positive, num_negative = positives.sum(), (~positives).sum()
    if num_positive == 0 or num_negative == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    u_statistic = ranks[positives].sum() - num_positive * (num_positive + 1) / 2
    return float(u_statistic / (num_positive * num_negative))


def video_metrics(labels, probabilities, threshold=0.5):
    """Video-level `{"accuracy", "auc", "videos"}` (accuracy is `balanced_accuracy`).

    Example:

    >>> video_metrics([0, 1], [0.2, 0.9])
    {'accuracy': 1.0, 'auc': 1.0, 'videos': 2}
    """
    return {
        "accuracy": balanced_accuracy(labels, probabilities, threshold),
        "auc": roc_auc(labels, probabilities),
        "videos": len(labels),
    }


def frame_auc(face_labels, face_scores):
    """Frame-level AUC (Table 2, bottom) over every face with a known label.

    Args:
        face_labels: per-face labels (0 real, 1 fake, -1 unknown), any nesting that flattens.
        face_scores: per-face fake scores aligned with `face_labels`.

    Example:

    >>> frame_auc([[1, 1, 0], [0, -1]], [[0.9, 0.6, 0.7], [0.1, 0.5]])
    0.75
    """
    labels = np.concatenate([np.ravel(item) for item in face_labels]) if len(face_labels) else []
    scores = np.concatenate([np.ravel(item) for item in face_scores]) if len(face_scores) else []
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    if labels.shape != scores.shape:
        raise ValueError(f"face labels {labels.shape} and scores {scores.shape} do not align")
    known = labels >= 0
    return roc_auc(labels[known], scores[known])


def person_labels(face_labels, person_ids):
    """Each person's label from their faces': fake if any face is labelled fake.

    A person (a track of the video) is 1 (fake) when at least one of their faces is labelled
    1, else 0 (real) when at least one is labelled 0, else -1 (unknown: no face label known).

    Args:
        face_labels: `(m,)` per-face labels (0 real, 1 fake, -1 unknown).
        person_ids: `(m,)` the person index `0 .. P - 1` of each face (-1: no person, ignored).

    Returns:
        `(P,)` int labels, `P = max(person_ids) + 1`; -1 also for an index without faces.

    Example:

    >>> person_labels([0, 1, 0, 0, -1], [0, 0, 1, 1, 2])
    array([ 1,  0, -1])
    """
    face_labels = np.asarray(face_labels).astype(int).ravel()
    person_ids = np.asarray(person_ids).astype(int).ravel()
    if face_labels.shape != person_ids.shape:
        raise ValueError(f"{face_labels.size} face labels but {person_ids.size} person ids")
    labels = np.full(person_ids.max(initial=-1) + 1, -1)
    for value in (0, 1):  # 1 last: one fake face makes the person fake
        labels[np.unique(person_ids[(face_labels == value) & (person_ids >= 0)])] = value
    return labels


def person_metrics(face_labels, person_ids, person_probabilities, threshold=0.5):
    """Person-level `{"person_accuracy", "person_auc", "persons"}` over a set of videos.

    Every person of every video whose label is known (`person_labels`) is one sample: their
    fake probability (`explain_model`'s ``"person_probability"``) against their label. The
    accuracy is the paper's convention (`balanced_accuracy`: the mean of the accuracies on
    real and on fake persons); `persons` counts the persons with a known label.

    Args:
        face_labels: per video, the `(m_i,)` labels of its faces (-1 unknown).
        person_ids: per video, the `(m_i,)` person index of each face.
        person_probabilities: per video, the `(P_i,)` fake probability of each person
            (`P_i` at least the largest person index + 1).
        threshold: probability from which a person is called fake.

    Example:

    >>> person_metrics([[0, 1, 0], [0, 0]], [[0, 1, 1], [0, 0]], [[0.2, 0.7], [0.6]])
    {'person_accuracy': 0.75, 'person_auc': 1.0, 'persons': 3}
    """
    labels, probabilities = [], []
    for faces, ids, scores in zip(face_labels, person_ids, person_probabilities, strict=True):
        video_labels = person_labels(faces, ids)
        known = np.flatnonzero(video_labels >= 0)
        labels.extend(video_labels[known])
        probabilities.extend(np.asarray(scores, dtype=float)[known])
    return {
        "person_accuracy": balanced_accuracy(labels, probabilities, threshold),
        "person_auc": roc_auc(labels, probabilities),
        "persons": len(labels),
    }


def _average_ranks(values):
    """1-based ranks, ties getting the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start of each run of equal values, and the mean rank of the run.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_ranks = (starts + ends + 1) / 2
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_ranks, ends - starts)
    return ranks


def _check(labels, values):
    labels = np.asarray(labels).astype(int).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if labels.shape != values.shape:
        raise ValueError(f"{labels.size} labels but {values.size} scores")
    if np.any((labels != 0) & (labels != 1)):
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    return labels, values
