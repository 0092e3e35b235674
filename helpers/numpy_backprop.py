"""The backward passes by hand, in NumPy: how each layer turns the gradient of the loss with
respect to its output into the gradients with respect to its input and its weights.

Every layer of a small CNN, and the numerical check every gradient is tested with:

- `conv2d_backward(x, kernel, grad_out, stride, padding)`: the gradients for the input, the
  kernel and the bias of `helpers.numpy_cnn.conv2d`.
- `max_pool2d_backward(x, grad_out, ...)`: each window's gradient goes to its maximum (the first
  one, in reading order, when several tie).
- `avg_pool2d_backward(x, grad_out, ...)`: each window's gradient is shared out evenly.
- `relu_backward(x, grad_out)`: the gradient passes where x > 0, and stops elsewhere.
- `dense(x, w, b)` and `dense_backward(x, w, grad_out)`: `x @ w + b`, and its three gradients.
- `softmax_cross_entropy(logits, labels)`: the mean loss and its gradient, `(p - one_hot) / N`.
- `numerical_gradient(f, x)`: central differences, to check an analytic gradient against.

Shapes: convolution and pooling take images as `helpers.numpy_cnn` does, `(H, W)`, `(H, W, C)`
or `(N, H, W, C)`; dense layers `x` `(N, D)`, `w` `(D, U)`, `b` `(U,)`; logits `(N, K)` and
integer labels `(N,)`. Each `grad_out` is the gradient of the loss with respect to that layer's
output, so it has the output's shape. The tests compare every function with TensorFlow's
`GradientTape`.
"""

import functools

import numpy as np

from helpers.numpy_cnn import (
    _axis_padding,
    _check_padding,
    _float_dtype,
    _from_batch,
    _in_blocks,
    _kernel_4d,
    _pair,
    _pool_windows,
    _to_batch,
    _window_positions,
    _windows,
    conv2d,
    softmax,
)


def _float(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)


def _same_shape(grad_out: np.ndarray, shape: tuple, what: str) -> None:
    if grad_out.shape != shape:
        raise ValueError(f"grad_out must have the shape of {what}, {shape}; got {grad_out.shape}")


def _full_convolution(grad, kernel, x_shape, stride, padding) -> np.ndarray:
    """The gradient for conv2d's input `(N, H, W, C)`, from grad `(N, H', W', F)` and kernel
    `(kh, kw, C, F)`: grad, with stride - 1 zeros between its values and kh - 1 (kw - 1) on
    every side, convolved with the kernel turned by 180 degrees, as `(kh, kw, F, C)`; then the
    padding that the forward pass added is cut off."""
    n, out_h, out_w, filters = grad.shape
    kh, kw = kernel.shape[:2]
    (sh, sw), (height, width) = stride, x_shape[1:3]
    (top, bottom), (left, right) = (
        _axis_padding(size, k, s, padding) for size, k, s in ((height, kh, sh), (width, kw, sw))
    )
    # Rows and columns at the end that no window reached get no gradient: extra zeros there.
    extra_h = top + height + bottom - ((out_h - 1) * sh + kh)
    extra_w = left + width + right - ((out_w - 1) * sw + kw)
    spread = np.zeros(
        (
            n,
            (out_h - 1) * sh + 2 * kh - 1 + extra_h,
            (out_w - 1) * sw + 2 * kw - 1 + extra_w,
            filters,
        ),
        grad.dtype,
    )
    spread[
        :, kh - 1 : kh - 1 + (out_h - 1) * sh + 1 : sh, kw - 1 : kw - 1 + (out_w - 1) * sw + 1 : sw
    ] = grad
    turned = kernel[::-1, ::-1].transpose(0, 1, 3, 2)  # (kh, kw, F, C)
    # Only the windows over x's own pixels: the padding that the forward pass added needs none.
    return conv2d(spread[:, top : top + height + kh - 1, left : left + width + kw - 1], turned)


def conv2d_backward(x, kernel, grad_out, stride=1, padding="valid", input_gradient=True):
    """The gradients of y = conv2d(x, kernel, bias, stride, padding): `(grad_x, grad_kernel,
    grad_bias)`, shaped like x, kernel and the bias (`(F,)`, or `()` for a 2-D kernel).
    `input_gradient=False` skips grad_x (None), which a network's first layer does not need.

    Each output y[n, r, c, f] is the sum, over the window at (r, c), of input times kernel, so:
    - grad_kernel[i, j, :, f] adds up, over all images and windows, the input at position (i, j)
      of the window times that window's gradient: a correlation of the input with grad_out;
    - grad_x: each window sends grad_out times the kernel back to the pixels it covered: the
      "full" convolution of grad_out (spread out by the stride) with the kernel turned by 180
      degrees, its input and output channels swapped;
    - grad_bias: grad_out summed over images and positions, one number per filter.
    """
    x, kernel, grad_out = _float(x, "x"), _float(kernel, "kernel"), _float(grad_out, "grad_out")
    batch = _to_batch(x)
    kernel4 = _kernel_4d(kernel, x.shape)
    kh, kw, channels, filters = kernel4.shape
    dtype = _float_dtype(x, kernel, grad_out)
    stride, padding = _pair(stride, "stride"), _check_padding(padding)
    windows = _windows(batch.astype(dtype, copy=False), (kh, kw), stride, padding, 0, "kernel")
    n, out_h, out_w = windows.shape[:3]
    _same_shape(
        grad_out, _from_batch(np.empty((n, out_h, out_w, filters)), x.ndim).shape, "conv2d's output"
    )
    grad = _to_batch(grad_out).astype(dtype, copy=False)  # (N, H', W', F)

    def correlate(block: tuple) -> np.ndarray:  # the windows' part of grad_kernel, (kh*kw*C, F)
        return windows[block].reshape(-1, kh * kw * channels).T @ grad[block].reshape(-1, filters)

    partials = _in_blocks(grad.shape[:3], kh * kw * channels * windows.itemsize, correlate)
    grad_kernel = functools.reduce(np.add, partials).reshape(kernel4.shape)
    grad_bias = np.einsum("nhwf->f", grad)  # summed over images and positions
    grad_x = None
    if input_gradient:
        full = _full_convolution(
            grad, kernel4.astype(dtype, copy=False), batch.shape, stride, padding
        )
        grad_x = full[0, :, :, 0] if x.ndim == 2 else _from_batch(full, x.ndim)
    if x.ndim == 2:
        return grad_x, grad_kernel[:, :, 0, 0], grad_bias[0]
    return grad_x, grad_kernel, grad_bias


def _pool_backward(x, grad_out, pool_size, stride, padding, kind: str) -> np.ndarray:
    """The gradient for x of max (kind "max") or average pooling, shaped like x."""
    x, grad_out = _float(x, "x"), _float(grad_out, "grad_out")
    batch = _to_batch(x)
    windows = _pool_windows(batch, pool_size, stride, padding, -np.inf if kind == "max" else 0)
    n, out_h, out_w, ph, pw, c = windows.shape  # windows of the padded input
    out_shape = _from_batch(np.empty((n, out_h, out_w, c)), x.ndim).shape
    _same_shape(grad_out, out_shape, "the pooling's output")
    grad = _to_batch(grad_out)
    sh, sw = (ph, pw) if stride is None else _pair(stride, "stride")
    height, width = batch.shape[1:3]
    (top, bottom), (left, right) = (
        _axis_padding(size, k, s, _check_padding(padding, allow_int=False))
        for size, k, s in ((height, ph, sh), (width, pw, sw))
    )
    dtype = np.result_type(x, grad_out)
    if kind == "max":
        # Each window's first maximum in reading order, one window position at a time.
        positions = _window_positions(windows)
        best = functools.reduce(np.maximum, positions)
        taken, firsts = np.zeros(best.shape, bool), []
        for value in positions:
            first = (value == best) & ~taken
            taken |= first
            firsts.append(first)

        def part(i, j):
            return grad * firsts[i * pw + j]
    else:
        real = _pool_windows(np.ones((1, height, width, 1), dtype), pool_size, stride, padding, 0)
        share = grad / real.sum(axis=(3, 4))  # shared among the window's real pixels

        def part(i, j):
            return share

    padded = np.zeros((n, top + height + bottom, left + width + right, c), dtype)
    overlapping = sh < ph or sw < pw
    for i in range(ph):  # each position in the window, for all windows at once
        for j in range(pw):
            rows = slice(i, i + sh * (out_h - 1) + 1, sh)
            cols = slice(j, j + sw * (out_w - 1) + 1, sw)
            if overlapping:  # a pixel in several windows collects the gradient of each
                padded[:, rows, cols] += part(i, j)
            else:
                padded[:, rows, cols] = part(i, j)
    return _from_batch(padded[:, top : top + height, left : left + width], x.ndim)


def max_pool2d_backward(x, grad_out, pool_size=2, stride=None, padding="valid") -> np.ndarray:
    """dL/dx for y = max_pool2d(x, pool_size, stride, padding); same shape as x.

    Each output is one input, the window's maximum, so its gradient goes there and nowhere
    else: to the first maximum in reading order when several tie, as TensorFlow does. Where
    windows overlap, a pixel collects the gradients of every window it wins.
    """
    return _pool_backward(x, grad_out, pool_size, stride, padding, "max")


def avg_pool2d_backward(x, grad_out, pool_size=2, stride=None, padding="valid") -> np.ndarray:
    """dL/dx for y = avg_pool2d(x, pool_size, stride, padding); same shape as x.

    Each output is the mean of its window's k real pixels (padding left out), so each of them
    receives 1/k of its gradient.
    """
    return _pool_backward(x, grad_out, pool_size, stride, padding, "avg")


def relu_backward(x, grad_out) -> np.ndarray:
    """dL/dx for y = relu(x): `grad_out * (x > 0)`, the gradient where x > 0 and 0 elsewhere
    (at x = 0 too, as TensorFlow does); same shape as x."""
    x, grad_out = _float(x, "x"), _float(grad_out, "grad_out")
    _same_shape(grad_out, x.shape, "relu's output (the shape of x)")
    return (grad_out * (x > 0)).astype(np.result_type(x, grad_out), copy=False)


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
