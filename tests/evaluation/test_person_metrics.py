"""Person-level evaluation (issue 17 §3): labels, accuracy and AUC per person, and scoring bags
person by person, against NumPy references on hand-made scores and hand-written tracks."""

import csv
import itertools

import cv2
import keras
import numpy as np
import pytest

from smil_keras.bags import BagRecord, BagShardWriter
from smil_keras.data import make_bag_dataset
from smil_keras.evaluation import (
    evaluate,
    method_table,
    person_labels,
    person_metrics,
    person_table,
    score_bags,
)
from smil_keras.faces import stored_crop
from smil_keras.models import build_detector, explain_model

SIZE = 24


def reference_labels(face_labels, person_ids):
    """Loop: a person is fake if any face is fake, else real if any face is real."""
    labels = []
    for person in range(max(person_ids) + 1):
        mine = [label for label, p in zip(face_labels, person_ids, strict=True) if p == person]
        labels.append(1 if 1 in mine else 0 if 0 in mine else -1)
    return labels


def reference_auc(labels, scores):
    """The probability that a fake person outscores a real one, ties one half: every pair."""
    pairs = [
        1.0 if fake > real else 0.5 if fake == real else 0.0
        for (fake, fake_label), (real, real_label) in itertools.product(
            zip(scores, labels, strict=True), repeat=2
        )
        if fake_label == 1 and real_label == 0
    ]
    return sum(pairs) / len(pairs)


def test_person_labels_follow_the_any_fake_face_rule():
    rng = np.random.default_rng(0)
    for _ in range(50):
        count = int(rng.integers(1, 12))
        face_labels = rng.integers(-1, 2, count)
        person_ids = rng.integers(0, 4, count)
        np.testing.assert_array_equal(
            person_labels(face_labels, person_ids), reference_labels(face_labels, person_ids)
        )
    np.testing.assert_array_equal(person_labels([1, 0, 0], [0, 0, 1]), [1, 0])
    np.testing.assert_array_equal(person_labels([], []), np.zeros(0))
    with pytest.raises(ValueError, match="person ids"):
        person_labels([0, 1], [0])


def test_person_metrics_pool_every_known_person_of_every_video():
    rng = np.random.default_rng(1)
    face_labels, person_ids, probabilities = [], [], []
    for _ in range(12):
        count = int(rng.integers(2, 9))
        ids = rng.integers(0, 3, count)
        face_labels.append(rng.integers(-1, 2, count))
        person_ids.append(ids)
        probabilities.append(np.round(rng.uniform(0, 1, ids.max() + 1), 1))  # with ties
    labels, scores = [], []
    for faces, ids, probs in zip(face_labels, person_ids, probabilities, strict=True):
        for label, probability in zip(reference_labels(faces, ids), probs, strict=True):
            if label >= 0:
                labels.append(label)
                scores.append(probability)
    labels, scores = np.array(labels), np.array(scores)
    called = scores >= 0.4
    expected_accuracy = (np.mean(called[labels == 1]) + np.mean(~called[labels == 0])) / 2
    metrics = person_metrics(face_labels, person_ids, probabilities, threshold=0.4)
    assert metrics["persons"] == len(labels) and 0 < labels.mean() < 1
    assert metrics["person_accuracy"] == pytest.approx(expected_accuracy)
    assert metrics["person_auc"] == pytest.approx(reference_auc(labels, scores))


def test_person_metrics_of_one_class_have_no_auc():
    metrics = person_metrics([[0, 0, 0]], [[0, 1, 1]], [[0.2, 0.7]])
    assert metrics["persons"] == 2 and metrics["person_accuracy"] == 0.5
    assert np.isnan(metrics["person_auc"])


# --- Scoring bags person by person -------------------------------------------------------------

A, B = 3, 8  # track ids
BAGS = [  # track id and label of each face, in frame order; the bag's label
    ([A, B, A, B, A, B], [0, 1, 0, 1, 0, 1], 1),  # two people talking, B forged
    ([B, A, B, A], [0, 0, 0, 0], 0),
    ([A, A, -1, B, A], [1, 1, -1, 0, 1], 1),  # an untracked face: a person of its own
    ([A, A, A], [0, 0, 0], 0),
]


def _crop(rng, size):
    cells = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return cv2.resize(cells, (size, size), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    rng = np.random.default_rng(2)
    stored_size, stored_margin = stored_crop(SIZE, 1.3)
    folder = tmp_path_factory.mktemp("person_bags")
    with BagShardWriter(folder, videos_per_shard=3) as writer:
        for index, (tracks, face_labels, label) in enumerate(BAGS):
            writer.write(
                BagRecord(
                    f"v{index}",
                    f"v{index}.mp4",
                    [_crop(rng, stored_size) for _ in tracks],
                    frame_indices=list(range(len(tracks))),
                    boxes=[(0, 0, 10, 10)] * len(tracks),
                    track_ids=tracks,
                    label=label,
                    face_labels=face_labels,
                    margin=stored_margin,
                )
            )
    return sorted(str(path) for path in folder.glob("*.tfrecord"))


@pytest.fixture(scope="module")
def detector():
    keras.utils.set_random_seed(0)
    return build_detector("s-mil-t", backbone="tiny", image_size=SIZE, filters=8)


def _reference_order(tracks):
    """People in order of first appearance; faces sorted (stably) by person."""
    person_of = {}
    for track in tracks:
        person_of.setdefault(track, len(person_of))
    ids = np.array([person_of[track] for track in tracks])
    order = np.argsort(ids, kind="stable")
    return order, ids[order]


def test_score_bags_with_persons_scores_each_person_with_the_detectors_head(shards, detector):
    scores = score_bags(detector, shards, batch_size=3, progress=False, persons=True)
    # The reference: the bags in frame order, reordered here person by person, through
    # `explain_model` with the person ids.
    frame_order = make_bag_dataset(
        shards, training=False, batch_size=len(BAGS), view=detector.view, face_labels=True
    )
    inputs, _ = next(iter(frame_order))
    faces, mask = np.asarray(inputs["faces"]), np.asarray(inputs["mask"])
    explainer = explain_model(detector)
    assert scores.video_ids == [f"v{i}" for i in range(len(BAGS))]
    for row, (tracks, face_labels, _) in enumerate(BAGS):
        order, ids = _reference_order(tracks)
        outputs = explainer(
            {
                "faces": faces[row : row + 1, order],
                "mask": mask[row : row + 1, order],
                "person_ids": ids[None].astype("int32"),
            }
        )
        np.testing.assert_array_equal(scores.person_ids[row], ids)
        np.testing.assert_array_equal(scores.face_labels[row], np.asarray(face_labels)[order])
        np.testing.assert_allclose(
            scores.person_probabilities[row],
            np.asarray(outputs["person_probability"])[0, : ids.max() + 1],
            rtol=1e-5,
            atol=1e-6,
        )
        np.testing.assert_allclose(
            scores.probabilities[row],
            np.asarray(outputs["fake_probability"])[0, 0],
            rtol=1e-5,
            atol=1e-6,
        )
    metrics = scores.metrics(threshold=0.5)
    expected = person_metrics(
        [np.asarray(f)[_reference_order(t)[0]] for t, f, _ in BAGS],
        [_reference_order(t)[1] for t, _, _ in BAGS],
        scores.person_probabilities,
    )
    assert expected["persons"] == 2 + 2 + 2 + 1  # the untracked face's label is unknown
    for key in ("person_accuracy", "person_auc", "persons"):
        assert metrics[key] == expected[key]
    (row,) = method_table({"S-MIL-T": scores})
    assert row["person_accuracy"] == metrics["person_accuracy"]
    rows = person_table(scores)
    assert [(r["video_id"], r["person"]) for r in rows][:3] == [("v0", 0), ("v0", 1), ("v1", 0)]
    assert [r["label"] for r in rows[:2]] == [0, 1] and rows[0]["faces"] == 3


def test_scores_without_persons_have_no_person_columns(shards, detector):
    scores = score_bags(detector, shards, batch_size=3, progress=False)
    assert scores.person_ids is None and scores.person_probabilities is None
    assert "person_accuracy" not in scores.metrics()
    with pytest.raises(ValueError, match="persons=True"):
        person_table(scores)


def test_evaluate_with_persons_writes_the_person_verdicts(shards, detector, tmp_path):
    report = evaluate({"S-MIL-T": detector}, shards, out_dir=tmp_path, progress=False, persons=True)
    (row,) = report["metrics"]
    assert list(row)[-5:] == ["all", "auc", "frame_auc", "person_accuracy", "person_auc"]
    with open(tmp_path / "persons_S-MIL-T.csv", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == sum(len(set(tracks)) for tracks, _, _ in BAGS)
    assert "person_accuracy" in (tmp_path / "metrics.md").read_text()
