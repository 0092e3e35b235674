"""Self-checks for notebook 06, training by hand: the backward passes and gradient checking."""

from collections.abc import Callable

import numpy as np

from helpers import numpy_backprop as bp
from helpers import numpy_cnn as cnn
from helpers.checks._runner import _check, _gives

_RNG = np.random.default_rng(6)

_RELU_BACKWARD_CASES = [
    ((x, _RNG.normal(size=x.shape)), f"on an input of shape {x.shape}")
    for x in (
        np.array([-2.0, -0.5, 0.0, 0.5, 3.0]),
        _RNG.normal(size=(3, 4)),
        np.where(_RNG.random((2, 3, 3, 2)) < 0.2, 0.0, _RNG.normal(size=(2, 3, 3, 2))),
    )
]


def check_relu_backward(fn: Callable) -> None:
    """Check fn(x, grad_out) -> the gradient for ReLU's input: grad_out where x > 0, else 0."""
    _check(
        "relu_backward",
        fn,
        bp.relu_backward,
        _RELU_BACKWARD_CASES,
        [
            (
                _gives(lambda x, g: g * (x >= 0)),
                "The gradient passes where x == 0 too {where}: ReLU is flat for x <= 0, and "
                "TensorFlow takes its slope at 0 to be 0, so use x > 0",
            ),
            (
                _gives(lambda x, g: cnn.relu(g)),
                "You applied ReLU to the gradient {where}: what decides is the forward input x "
                "(the gradient passes where x > 0), whatever the gradient's own sign",
            ),
            (
                _gives(lambda x, g: (x > 0).astype(float)),
                "Your output is 0 or 1 {where}: that is ReLU's slope; multiply it by grad_out "
                "(the chain rule)",
            ),
            (
                _gives(lambda x, g: cnn.relu(x) * g),
                "You multiplied grad_out by relu(x) {where}: ReLU's slope is 1 where x > 0, "
                "not x, so multiply by the mask (x > 0)",
            ),
            (
                _gives(lambda x, g: g),
                "You returned grad_out unchanged {where}: where x <= 0 ReLU's output does not "
                "move when x moves, so the gradient there is 0",
            ),
        ],
        "the gradient for x has the shape of x",
    )


def _tied_windows() -> np.ndarray:
    """A 4x4 input whose 2x2 windows hold ties for the maximum."""
    return np.array([[3, 3, 1, 0], [1, 2, 5, 5], [4, 1, 2, 2], [1, 4, 2, 2]], dtype=float)


_MAX_POOL_BACKWARD_CASES = [
    ((x, _RNG.integers(1, 6, (x.shape[0] // 2, x.shape[1] // 2)).astype(float)), where)
    for x, where in [
        (cnn.EXAMPLE_POOL_4X4.astype(float), "on the 4x4 example"),
        (_RNG.permutation(36).reshape(6, 6).astype(float), "on a 6x6 input"),
        (
            _RNG.permutation(35).reshape(5, 7).astype(float),
            "on a 5x7 input (its last row and column are in no window)",
        ),
        (_tied_windows(), "on a 4x4 input with ties in its windows"),
    ]
]


def _every_tied_maximum(x, grad_out):
    rows, cols = grad_out.shape
    blocks = x[: rows * 2, : cols * 2].reshape(rows, 2, cols, 2)
    mask = blocks == blocks.max(axis=(1, 3), keepdims=True)
    out = np.zeros_like(x)
    out[: rows * 2, : cols * 2] = (mask * grad_out[:, None, :, None]).reshape(rows * 2, cols * 2)
    return out


def _to_every_position(x, grad_out):
    out = np.zeros_like(x)
    rows, cols = grad_out.shape
    out[: rows * 2, : cols * 2] = np.kron(grad_out, np.ones((2, 2)))
    return out


def check_max_pool_backward(fn: Callable) -> None:
    """Check fn(x (H, W), grad_out (H // 2, W // 2)) -> the gradient for x of 2x2 max pooling
    with stride 2: each window's gradient at its maximum (the first, in reading order, of
    equals), 0 elsewhere; shaped like x."""
    _check(
        "max_pool_backward",
        fn,
        lambda x, g: bp.max_pool2d_backward(x, g, 2),
        _MAX_POOL_BACKWARD_CASES,
        [
            (
                _gives(_to_every_position),
                "You sent the gradient to every position of the window {where}: only the "
                "maximum reached the output, so only it gets the gradient; the others get 0",
            ),
            (
                _gives(lambda x, g: bp.avg_pool2d_backward(x, g, 2)),
                "You shared each gradient out evenly {where}: that is average pooling's "
                "backward pass; max pooling sends it all to the window's maximum",
            ),
            (
                _gives(lambda x, g: bp.max_pool2d_backward(x, np.ones_like(g), 2)),
                "Your output has 1 at each maximum {where}: put the window's gradient there, "
                "grad_out[i, j], not 1",
            ),
            (
                _gives(_every_tied_maximum),
                "Several positions tie for a window's maximum {where} and you gave the "
                "gradient to each: TensorFlow gives it to the first in reading order only "
                "(np.argmax finds it)",
            ),
        ],
        "the gradient for x has the shape of x; a row or column in no window gets 0",
    )


def _wavy(x):
    return np.sum(np.sin(x) * x**2)


def _log_sum_exp(x):
    return np.log(np.sum(np.exp(x)))


_NUMERICAL_GRADIENT_CASES = [
    ((f, x, eps), f"for {name} at an x of shape {x.shape} with eps = {eps:g}")
    for f, name, x, eps in [
        (_wavy, "f(x) = sum(sin(x) * x**2)", _RNG.normal(size=(4,)), 1e-3),
        (_log_sum_exp, "f(x) = log(sum(exp(x)))", _RNG.normal(size=(2, 3)), 1e-3),
        (_wavy, "f(x) = sum(sin(x) * x**2)", _RNG.normal(size=(2, 2, 2)), 1e-5),
    ]
]


def check_numerical_gradient(fn: Callable) -> None:
    """Check fn(f, x, eps) -> the central differences (f(x + eps) - f(x - eps)) / (2 eps), one
    element of x at a time, in float64; shaped like x."""

    def one_sided(f, x, eps):
        return np.array(
            [(f(x + eps * e) - f(x)) / eps for e in np.eye(x.size).reshape(x.size, *x.shape)]
        ).reshape(x.shape)

    def noisy(got, expected, args):
        return got.shape == expected.shape and np.allclose(got, expected, rtol=0.1, atol=1e-2)

    _check(
        "numerical_gradient",
        fn,
        bp.numerical_gradient,
        _NUMERICAL_GRADIENT_CASES,
        [
            (
                _gives(lambda f, x, eps: 2 * bp.numerical_gradient(f, x, eps)),
                "Your gradient is twice the right one {where}: x + eps and x - eps are 2 eps "
                "apart, so divide by 2 * eps",
            ),
            (
                _gives(one_sided),
                "Your gradient is close but not exact {where}: that is the one-sided "
                "difference (f(x + eps) - f(x)) / eps, whose error shrinks like eps; the "
                "central one, (f(x + eps) - f(x - eps)) / (2 * eps), errs like eps**2",
            ),
            (
                noisy,
                "Your gradient is close but not exact {where}: if you compute in float32, "
                "f(x + eps) and f(x - eps) agree in most of their 7 digits and their "
                "difference keeps only the rest; keep x in float64 (np.array(x, dtype=float))",
            ),
        ],
        "the gradient has one number for each element of x, so the shape of x",
    )


def _input_gradient(kernel, grad_out):
    """The gradient for the image of a 'valid', stride-1 conv2d (H, W) with kernel (kh, kw)."""
    shape = tuple(g + k - 1 for g, k in zip(grad_out.shape, kernel.shape, strict=True))
    return bp.conv2d_backward(np.zeros(shape), kernel, grad_out)[0]


def _full(grad_out, kernel):
    kh, kw = kernel.shape
    return cnn.conv2d(np.pad(grad_out, ((kh - 1, kh - 1), (kw - 1, kw - 1))), kernel)


_CONV_BACKWARD_CASES = [
    (
        (kernel, grad),
        f"for a {kernel.shape[0]}x{kernel.shape[1]} kernel and a "
        f"{grad.shape[0]}x{grad.shape[1]} grad_out",
    )
    for kernel, grad in [
        (np.array([[1.0, 0.0], [-1.0, 2.0]]), np.array([[1.0, 1.0], [0.0, -1.0]])),
        (
            _RNG.integers(-2, 3, (3, 3)).astype(float),
            _RNG.integers(-2, 3, (3, 4)).astype(float),
        ),
        (
            _RNG.integers(-2, 3, (2, 3)).astype(float),
            _RNG.integers(-2, 3, (4, 2)).astype(float),
        ),
    ]
]


def check_conv2d_backward(fn: Callable) -> None:
    """Check fn(kernel (kh, kw), grad_out (H', W')) -> the gradient for the image of a 'valid',
    stride-1 conv2d: the full convolution of grad_out with the kernel turned by 180 degrees,
    `(H' + kh - 1, W' + kw - 1)`."""
    _check(
        "conv2d input gradient",
        fn,
        _input_gradient,
        _CONV_BACKWARD_CASES,
        [
            (
                _gives(lambda kernel, grad_out: _full(grad_out, kernel)),
                "Your output would be right for the kernel turned by 180 degrees {where}: "
                "pixel x[i, j] met kernel[a, b] in output (i - a, j - b), so in the full "
                "convolution the kernel runs backwards; use kernel[::-1, ::-1]",
            ),
            (
                _gives(lambda k, g: _full(g, k.T) if k.shape[0] == k.shape[1] else None),
                "You transposed the kernel {where}: turning it by 180 degrees is "
                "kernel[::-1, ::-1], not kernel.T",
            ),
        ],
        "the gradient has the shape of the image, grad_out's size + kernel's size - 1; pad "
        "grad_out with kh - 1 rows and kw - 1 columns of zeros on every side",
    )
