"""Classification metrics used by ``Sequential.evaluate``, the main job and the chapters."""

import numpy as np


def _check_labels(y, name):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D class labels, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    return y


def accuracy(y_true, y_pred):
    """Fraction of ``y_pred == y_true``: (1/N) sum_i [y_pred_i = y_true_i]."""
    y_true, y_pred = _check_labels(y_true, "y_true"), _check_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have equal lengths, got {y_true.shape} and {y_pred.shape}"
        )
    if y_true.size == 0:
        raise ValueError("y_true is empty: accuracy of no samples is undefined")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, n_classes=None):
    """C[i, j] = number of samples of true class i predicted as class j (rows: truth)."""
    y_true, y_pred = _check_labels(y_true, "y_true"), _check_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have equal lengths, got {y_true.shape} and {y_pred.shape}"
        )
    if n_classes is None:
        n_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    if y_true.size and (
        min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes
    ):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values outside it")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    # One pass: flatten (i, j) to i * K + j and count.
    np.add.at(cm.reshape(-1), y_true * n_classes + y_pred, 1)
    return cm
