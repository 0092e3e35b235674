"""helpers.checks: right answers pass; typical mistakes fail with one sentence that names them."""

import math
import re

import numpy as np
import pytest

from helpers import checks
from helpers import numpy_cnn as cnn


def conv_loops(image, kernel, stride=1, short=0, allocate_short=0, flip=False):
    """A student's loops; the keyword arguments make the classic mistakes."""
    if flip:
        kernel = kernel[::-1, ::-1]
    kh, kw = kernel.shape
    out_h = (image.shape[0] - kh) // stride + 1
    out_w = (image.shape[1] - kw) // stride + 1
    out = np.zeros((out_h - allocate_short, out_w - allocate_short))
    for i in range(out_h - short):
        for j in range(out_w - short):
            out[i, j] = np.sum(
                image[i * stride : i * stride + kh, j * stride : j * stride + kw] * kernel
            )
    return out


def block_pool(x, size, reduce=np.max, axes=(1, 3)):
    """A student's reshape pooling."""
    rows, cols = x.shape[0] // size, x.shape[1] // size
    return reduce(x[: rows * size, : cols * size].reshape(rows, size, cols, size), axis=axes)


def output_size(n, k, stride, padding):
    return (n - k) // stride + 1 if padding == "valid" else math.ceil(n / stride)


def softmax(z, axis=-1, stable=True, keepdims=True):
    exp = np.exp(z - z.max(axis=axis, keepdims=True)) if stable else np.exp(z)
    return exp / exp.sum(axis=axis, keepdims=keepdims)


def shifted_down(image, pixels):
    out = np.zeros_like(image)
    out[pixels:] = image[:-pixels]
    return out


def bad_index(*args):
    return [][0]


RIGHT = [
    (checks.check_conv2d, conv_loops),
    (checks.check_conv2d, cnn.conv2d_loops),
    (checks.check_conv2d_stride, conv_loops),
    (checks.check_output_size, output_size),
    (checks.check_output_size, cnn.conv_output_size),
    (checks.check_pad, np.pad),
    (checks.check_max_pool, block_pool),
    (checks.check_max_pool, cnn.max_pool2d),
    (checks.check_avg_pool, lambda x, size: block_pool(x, size, np.mean)),
    (checks.check_relu, lambda x: np.maximum(x, 0)),
    (checks.check_softmax, softmax),
    (checks.check_softmax, cnn.softmax),
    (checks.check_to_model_input, lambda x: (x / np.float32(255))[..., None]),
    (checks.check_shift_down, shifted_down),
]

WRONG = {
    "input not scaled": (
        checks.check_to_model_input,
        lambda x: x[..., None].astype("float32"),
        "divide by 255",
    ),
    "input without channel": (
        checks.check_to_model_input,
        lambda x: x.astype("float32") / 255,
        r"images\[\.\.\., None\]",
    ),
    "input float64": (checks.check_to_model_input, lambda x: (x / 255)[..., None], "float32"),
    "shift rolls": (checks.check_shift_down, lambda im, p: np.roll(im, p, axis=0), "np.roll"),
    "shift up": (
        checks.check_shift_down,
        lambda im, p: shifted_down(im[::-1], p)[::-1],
        "moved the image up",
    ),
    "shift sideways": (
        checks.check_shift_down,
        lambda im, p: shifted_down(im.T, p).T,
        "sideways",
    ),
    "conv off by one": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel, short=1, allocate_short=1),
        "off by one",
    ),
    "conv loops stop early": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel, short=1),
        "last row or column is 0",
    ),
    "conv flipped": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel, flip=True),
        "looks flipped .*: that is true convolution; deep-learning layers compute cross-corr",
    ),
    "conv transposed": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel).T,
        "transposed",
    ),
    "conv values": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel) + 1,
        r"the shape is right but the values differ \(largest difference 1",
    ),
    "conv no return": (checks.check_conv2d, lambda image, kernel: None, "returned None"),
    "conv raises": (checks.check_conv2d, bad_index, "raised IndexError on a 5x5 image"),
    "conv wrong signature": (checks.check_conv2d, lambda image: image, "raised TypeError"),
    "conv returns text": (checks.check_conv2d, lambda image, kernel: "4x4", "not an array"),
    "conv ragged": (checks.check_conv2d, lambda image, kernel: [[1, 2], [3]], "not an array"),
    "stride ignored": (
        checks.check_conv2d_stride,
        lambda image, kernel, stride: conv_loops(image, kernel),
        "did you use the stride",
    ),
    "stride windows": (
        checks.check_conv2d_stride,
        lambda image, kernel, stride: conv_loops(image, kernel)[
            : (image.shape[0] - kernel.shape[0]) // stride + 1,
            : (image.shape[1] - kernel.shape[1]) // stride + 1,
        ],
        r"starts at row i \* stride",
    ),
    "stride flipped": (
        checks.check_conv2d_stride,
        lambda image, kernel, stride: conv_loops(image, kernel, stride, flip=True),
        "flipped",
    ),
    "stride off by one": (
        checks.check_conv2d_stride,
        lambda image, kernel, stride: conv_loops(image, kernel, stride, 1, 1),
        "off by one",
    ),
    "size off by one": (
        checks.check_output_size,
        lambda n, k, s, p: output_size(n, k, s, p) - (p == "valid"),
        "returned 25 but the answer is 26 .* off by one",
    ),
    "size without stride": (
        checks.check_output_size,
        lambda n, k, s, p: n - k + 1 if p == "valid" else output_size(n, k, s, p),
        "forget the stride",
    ),
    "same is n": (
        checks.check_output_size,
        lambda n, k, s, p: n if p == "same" else output_size(n, k, s, p),
        "'same' keeps the size n only with stride 1",
    ),
    "same rounds down": (
        checks.check_output_size,
        lambda n, k, s, p: n // s if p == "same" else output_size(n, k, s, p),
        "round up",
    ),
    "size is a float": (
        checks.check_output_size,
        lambda n, k, s, p: (n - k) / s + 1 if p == "valid" else output_size(n, k, s, p),
        "not an int",
    ),
    "pad missing": (
        checks.check_pad,
        lambda image, p: image,
        "3x3 but should be 5x5 .* did you pad",
    ),
    "pad one side": (
        checks.check_pad,
        lambda image, p: np.pad(image, ((p, 0), (p, 0))),
        "pad both sides",
    ),
    "pad twice": (checks.check_pad, lambda image, p: np.pad(image, 2 * p), "2p on each side"),
    "pad edge": (checks.check_pad, lambda image, p: np.pad(image, p, "edge"), "not zeros"),
    "max is avg": (
        checks.check_max_pool,
        lambda x, size: block_pool(x, size, np.mean),
        "average of each window",
    ),
    "max is min": (
        checks.check_max_pool,
        lambda x, size: block_pool(x, size, np.min),
        "smallest value",
    ),
    "max wrong axes": (
        checks.check_max_pool,
        lambda x, size: block_pool(x, size, axes=(0, 2)),
        "wrong axes",
    ),
    "max overlapping": (
        checks.check_max_pool,
        lambda x, size: cnn.max_pool2d(x, size, stride=1),
        "must not overlap",
    ),
    "max drops a row": (
        checks.check_max_pool,
        lambda x, size: block_pool(x, size)[:-1],
        "should be 2x2 .* H // size rows",
    ),
    "avg is max": (checks.check_avg_pool, block_pool, "largest value of each window"),
    "avg is sum": (
        checks.check_avg_pool,
        lambda x, size: block_pool(x, size, np.sum),
        "sum of each window",
    ),
    "avg wrong axes": (
        checks.check_avg_pool,
        lambda x, size: block_pool(x, size, np.mean, (0, 2)),
        "wrong axes",
    ),
    "relu abs": (checks.check_relu, np.abs, "absolute value"),
    "relu np.max": (checks.check_relu, lambda x: np.max(x, 0), r"np\.maximum\(x, 0\)"),
    "relu mask": (checks.check_relu, lambda x: x > 0, "True/False"),
    "softmax unstable": (
        checks.check_softmax,
        lambda z: softmax(z, stable=False),
        r"nan or inf on \[1000.0, 0.0\]: .*subtract the maximum first",
    ),
    "softmax global max": (
        checks.check_softmax,
        lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(axis=-1, keepdims=True),
        "maximum of each row",
    ),
    "softmax columns": (
        checks.check_softmax,
        lambda z: softmax(z, axis=0),
        "normalised each column",
    ),
    "softmax whole array": (
        checks.check_softmax,
        lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(),
        "sum of the whole array",
    ),
    "softmax keepdims": (
        checks.check_softmax,
        lambda z: softmax(z, keepdims=False),
        "rows don't sum to 1",
    ),
    "softmax without exp": (
        checks.check_softmax,
        lambda z: z / z.sum(axis=-1, keepdims=True),
        "exponential",
    ),
}


@pytest.mark.parametrize(("check", "fn"), RIGHT)
def test_a_right_answer_passes(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("✅ Well done: your ") and out.count("\n") == 1


@pytest.mark.parametrize(("check", "fn", "phrase"), WRONG.values(), ids=WRONG.keys())
def test_a_mistake_fails_with_a_sentence_that_names_it(check, fn, phrase, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("❌ ") and out.count("\n") == 1
    assert re.search(phrase, out, flags=re.IGNORECASE), out


def test_a_student_cannot_change_the_cases(capsys):
    def relu_in_place(x):
        x[x < 0] = 0
        x[...] = 7
        return None

    checks.check_relu(relu_in_place)
    checks.check_relu(lambda x: np.maximum(x, 0))
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("❌ ") and second.startswith("✅ ")


def test_no_warning_for_an_overflowing_softmax(recwarn):
    checks.check_softmax(lambda z: softmax(z, stable=False))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
