import numpy as np
import pytest

from minidl.nn.metrics import accuracy, confusion_matrix


def test_accuracy_hand_case():
    assert accuracy(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2])) == 0.75


def test_confusion_matrix_hand_case():
    # truth 0,0,1,2,2 ; predicted 0,1,1,2,0 -> counted by hand
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), n_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_confusion_matrix_matches_sklearn(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    y, p = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    assert np.array_equal(
        confusion_matrix(y, p, 7), metrics.confusion_matrix(y, p, labels=range(7))
    )


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        (np.array([0, 1]), np.array([0]), "equal lengths"),
        (np.array([[0, 1]]), np.array([0, 1]), "y_true"),
        (np.array([0.0, 1.0]), np.array([0, 1]), "y_true"),
    ],
)
def test_bad_labels(y, p, match):
    with pytest.raises((ValueError, TypeError), match=match):
        accuracy(y, p)


def test_labels_out_of_range():
    with pytest.raises(ValueError, match="labels"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), n_classes=3)
