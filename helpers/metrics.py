"""How well a classifier does: its confusion matrix, and probabilities written for people."""

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Counts `(n_classes, n_classes)`: row = true class, column = predicted class.

    y_true, y_pred: `(N,)` class indices. Counted by TensorFlow's `tf.math.confusion_matrix`,
    imported only when called (the NumPy notebooks use this module without TensorFlow).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D class indices of the same length; got shapes "
            f"{y_true.shape} and {y_pred.shape} (for probabilities, use .argmax(axis=1))"
        )
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} must hold class indices from 0 to {n_classes - 1}")
    import tensorflow as tf

    counts = tf.math.confusion_matrix(y_true, y_pred, num_classes=n_classes, dtype=tf.int64)
    return counts.numpy()


def percent(p: float) -> str:
    """A probability for a title: 0.9234 -> '92.3 %'; from 0.9995 on, '> 99.9 %' rather than a
    rounded '100.0 %', which a model's probability never quite is."""
    return f"{100 * p:.1f} %" if p < 0.9995 else "> 99.9 %"
