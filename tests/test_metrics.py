"""helpers.metrics: the confusion matrix against a count by hand, and percentages."""

import numpy as np
import pytest

from helpers.metrics import confusion_matrix, percent


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    counts = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], n_classes=3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


@pytest.mark.parametrize("seed", range(5))
def test_confusion_matrix_equals_a_count_by_hand(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 12))
    y_true, y_pred = rng.integers(0, n_classes, (2, int(rng.integers(0, 500))))
    by_hand = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(by_hand, (y_true, y_pred), 1)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, n_classes), by_hand)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "phrase"),
    [([0, 1], [0], "same length"), ([[0, 1]], [[0, 1]], "1-D"), ([0, 10], [0, 1], "0 to 9")],
)
def test_confusion_matrix_rejects_bad_labels(y_true, y_pred, phrase):
    with pytest.raises(ValueError, match=phrase):
        confusion_matrix(y_true, y_pred)


@pytest.mark.parametrize(
    ("p", "text"), [(0.9234, "92.3 %"), (0.0, "0.0 %"), (0.9994, "99.9 %"), (0.9995, "> 99.9 %")]
)
def test_percent(p, text):
    assert percent(p) == text
