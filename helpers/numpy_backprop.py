"""The backward passes by hand, in NumPy: how each layer turns the gradient of the loss with
respect to its output into the gradients with respect to its input and its weights.

The layers of a CNN's dense head, and the numerical check that every gradient is tested with:

- `relu_backward(x, grad_out)`: the gradient passes where x > 0, and stops elsewhere.
- `dense(x, w, b)` and `dense_backward(x, w, grad_out)`: `x @ w + b`, and its three gradients.
- `softmax_cross_entropy(logits, labels)`: the mean loss and its gradient, `(p - one_hot) / N`.
- `numerical_gradient(f, x)`: central differences, to check an analytic gradient against.

Shapes: `x` `(N, D)`, `w` `(D, U)`, `b` `(U,)`, logits `(N, K)` and integer labels `(N,)`.
Each `grad_out` is the gradient of the loss with respect to that layer's output, so it has the
output's shape. The tests compare every function with TensorFlow's `GradientTape`.
"""

import numpy as np

from helpers.numpy_cnn import softmax


def _float(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)


def _same_shape(grad_out: np.ndarray, shape: tuple, what: str) -> None:
    if grad_out.shape != shape:
        raise ValueError(f"grad_out must have the shape of {what}, {shape}; got {grad_out.shape}")


def relu_backward(x, grad_out) -> np.ndarray:
    """dL/dx for y = relu(x): `grad_out` where x > 0, 0 elsewhere (at x = 0 too, as
    TensorFlow does); same shape as x."""
    x, grad_out = _float(x, "x"), _float(grad_out, "grad_out")
    _same_shape(grad_out, x.shape, "relu's output (the shape of x)")
    return np.where(x > 0, grad_out, 0).astype(np.result_type(x, grad_out), copy=False)


def _check_dense(x: np.ndarray, w: np.ndarray) -> None:
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(
            f"dense needs x of shape (N, D) and w of shape (D, U); got {x.shape} and {w.shape}"
        )
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x has {x.shape[1]} features per row but w expects {w.shape[0]} "
            f"(x {x.shape}, w {w.shape}): w's first dimension must match x's second"
        )


def dense(x, w, b=None) -> np.ndarray:
    """A fully connected layer: `x @ w + b`, `(N, D)` and `(D, U)` -> `(N, U)`."""
    x, w = _float(x, "x"), _float(w, "w")
    _check_dense(x, w)
    y = x @ w
    if b is not None:
        b = _float(b, "b")
        if b.shape != (w.shape[1],):
            raise ValueError(f"b must have shape ({w.shape[1]},), one per unit; got {b.shape}")
        y = y + b
    return y


def dense_backward(x, w, grad_out) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of y = x @ w + b: `(grad_x, grad_w, grad_b)`, shaped like x, w and `(U,)`.

    Each output y[n, u] = sum_d x[n, d] w[d, u] + b[u], so dL/dx = grad_out @ w.T (each input
    feeds every unit), dL/dw = x.T @ grad_out (summed over the batch) and dL/db = grad_out
    summed over the batch.
    """
    x, w, grad_out = _float(x, "x"), _float(w, "w"), _float(grad_out, "grad_out")
    _check_dense(x, w)
    _same_shape(grad_out, (x.shape[0], w.shape[1]), "dense's output, (N, U)")
    return grad_out @ w.T, x.T @ grad_out, grad_out.sum(axis=0)


def softmax_cross_entropy(logits, labels) -> tuple[float, np.ndarray]:
    """The mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    logits `(N, K)`, labels `(N,)` in 0 .. K-1 -> `(loss, grad_logits)`, grad_logits `(N, K)`.
    With p = softmax(z), the loss of one row is -log p[label] = log(sum_j exp z_j) - z[label];
    its derivative in z_k is p_k - [k == label]. The mean over N rows divides it by N.
    The log-probabilities are computed from `z - max(z)`, so large logits do not overflow.
    """
    logits, labels = _float(logits, "logits"), np.asarray(labels)
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"logits must have shape (N, K) with N, K >= 1; got {logits.shape}")
    n, k = logits.shape
    if labels.shape != (n,):
        raise ValueError(
            f"labels must have shape ({n},), one per row of logits; got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(
            f"labels must lie in 0 .. {k - 1}; got values from {labels.min()} to {labels.max()}"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -log_p[rows, labels].mean()
    grad = softmax(logits, axis=1)
    grad[rows, labels] -= 1
    return float(loss), grad / n


def numerical_gradient(f, x, eps: float = 1e-5) -> np.ndarray:
    """dF/dx by central differences, (f(x + eps) - f(x - eps)) / (2 eps), one element at a time.

    f: a function of an array shaped like x that returns a number. Computed in float64: in
    float32 the two values of f agree to about 7 digits, so their difference loses most of its
    own. Slow (two calls of f per element): for checking gradients on small cases.
    """
    x = np.array(x, dtype=np.float64)  # a copy, nudged in place below
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = float(f(x))
        x[i] = saved - eps
        down = float(f(x))
        x[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad
