"""Video and frame metrics against scikit-learn on the same scores."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from smil_keras.evaluation import balanced_accuracy, frame_auc, roc_auc, video_metrics


@pytest.mark.parametrize("seed", range(8))
def test_roc_auc_matches_sklearn_including_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 40)
    labels[:2] = [0, 1]
    scores = np.round(rng.random(40), 1)  # rounding makes many ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_video_accuracy_is_sklearn_balanced_accuracy(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 30)
    labels[:2] = [0, 1]
    probabilities = rng.random(30)
    expected = balanced_accuracy_score(labels, probabilities >= 0.5)
    assert balanced_accuracy(labels, probabilities) == pytest.approx(expected, abs=1e-12)


def test_video_accuracy_is_mean_of_real_and_fake_accuracies_as_in_the_paper():
    # 3 of 4 real videos right (0.75), 1 of 2 fake videos right (0.5): (0.75 + 0.5) / 2.
    labels = [0, 0, 0, 0, 1, 1]
    probabilities = [0.1, 0.2, 0.3, 0.9, 0.8, 0.4]
    assert balanced_accuracy(labels, probabilities) == pytest.approx(0.625)


def test_threshold_is_inclusive():
    assert balanced_accuracy([1], [0.5]) == 1.0
    assert balanced_accuracy([1], [0.5], threshold=0.6) == 0.0


def test_auc_undefined_with_one_class_is_nan():
    assert np.isnan(roc_auc([1, 1], [0.2, 0.9]))
    assert video_metrics([1, 1], [0.2, 0.9])["accuracy"] == 0.5


def test_frame_auc_skips_unknown_face_labels():
    face_labels = [np.array([1, 1, 0]), np.array([0, -1, 1])]
    face_scores = [np.array([0.9, 0.3, 0.4]), np.array([0.2, 0.99, 0.7])]
    expected = roc_auc_score([1, 1, 0, 0, 1], [0.9, 0.3, 0.4, 0.2, 0.7])
    assert frame_auc(face_labels, face_scores) == pytest.approx(expected)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="3 labels but 2 scores"):
        roc_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="0 .real. or 1"):
        balanced_accuracy([0, 2], [0.1, 0.2])
