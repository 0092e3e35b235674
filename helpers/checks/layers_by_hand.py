"""Self-checks for notebooks 02 to 05, the layers by hand: convolution, padding and stride,
pooling, ReLU and softmax."""

import math
from collections.abc import Callable, Sequence

import numpy as np

from helpers import numpy_cnn as cnn
from helpers.checks._runner import (
    _FILL_IN,
    Mistake,
    _call,
    _check,
    _cropped,
    _gives,
    _last_row_or_column_zero,
    _same,
    _shown,
)

_RNG = np.random.default_rng(7)  # the cases are made once, on import: the same every run


def _ints(shape: tuple[int, ...], low: int = 0, high: int = 10) -> np.ndarray:
    return _RNG.integers(low, high, shape).astype(float)


def _image_case(image: np.ndarray, kernel: np.ndarray, stride: int | None = None):
    """(args, where) for a convolution check: (image, kernel) or (image, kernel, stride)."""
    (h, w), (kh, kw) = image.shape, kernel.shape
    where = f"on a {h}x{w} image with a {kh}x{kw} kernel"
    if stride is None:
        return (image, kernel), where
    return (image, kernel, stride), f"{where} and stride {stride}"


def _distinct(shape: tuple[int, int]) -> np.ndarray:
    """An image whose pixels all differ, so that no two ways of pooling agree by luck."""
    return _RNG.permutation(shape[0] * shape[1]).reshape(shape).astype(float)


_EXAMPLE = cnn.EXAMPLE_IMAGE_6X6.astype(float), cnn.SHARPEN_KERNEL.astype(float)
_CONV_CASES = [  # the original tutorial's example first, then cases drawn at random
    _image_case(*_EXAMPLE),
    _image_case(_ints((5, 5)), _ints((3, 3), -2, 3)),
    _image_case(_ints((5, 7)), _ints((2, 3), -2, 3)),
    _image_case(_ints((7, 4)), _ints((3, 2), -2, 3)),
    _image_case(_ints((3, 3)), _ints((3, 3), -2, 3)),
]
_STRIDE_CASES = [
    _image_case(_ints((7, 7)), _ints((3, 3), -2, 3), 2),
    _image_case(_ints((8, 8)), _ints((3, 3), -2, 3), 2),
    _image_case(_ints((9, 7)), _ints((2, 3), -2, 3), 3),
    _image_case(*_EXAMPLE, 1),
    _image_case(_ints((6, 5)), _ints((1, 1), 1, 3), 2),
]
_SIZE_CASES = [
    (case, "for n={}, k={}, stride={}, padding={!r}".format(*case))
    for case in [
        (28, 3, 1, "valid"),
        (7, 3, 2, "valid"),
        (8, 3, 2, "valid"),
        (6, 6, 1, "valid"),
        (9, 2, 3, "valid"),
        (28, 3, 1, "same"),
        (7, 3, 2, "same"),
        (10, 5, 3, "same"),
        (8, 4, 4, "same"),
    ]
]
_PAD_CASES = [
    ((image, p), f"for a {image.shape[0]}x{image.shape[1]} image with p = {p}")
    for image, p in [
        (_ints((3, 3), 1), 1),
        (_ints((4, 5), 1), 2),
        (_ints((2, 2), 1), 0),
        (_ints((3, 4), 1), 3),
    ]
]
_POOL_CASES = [
    ((x, size), f"on a {x.shape[0]}x{x.shape[1]} input with size {size}")
    for x, size in [
        (cnn.EXAMPLE_POOL_4X4.astype(float), 2),
        (_distinct((6, 6)), 2),
        (_distinct((6, 6)), 3),
        (_distinct((7, 5)), 2),
        (_distinct((4, 6)), 2),
    ]
]
_RELU_CASES = [
    ((x,), f"on an input of shape {x.shape}")
    for x in (
        np.array([-2.0, -0.5, 0.0, 0.5, 3.0]),
        _RNG.normal(size=(3, 4)),
        _RNG.normal(size=(2, 3, 3, 2)),
    )
]
_SOFTMAX_CASES = [
    ((z,), f"on {z.tolist()}" if z.ndim == 1 else f"on a {_shown(z)} input")
    for z in (
        np.array([1.0, 2.0, 3.0]),
        np.array([1000.0, 0.0]),
        _RNG.normal(size=(3, 3)),
        _RNG.normal(size=(2, 4)),
        np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, 0.0]]),
    )
]
_FLIPPED = (
    "Your output looks flipped {where}: that is true convolution; deep-learning layers compute "
    "cross-correlation, so don't flip the kernel"
)


def check_conv2d(fn: Callable) -> None:
    """Check fn(image (H, W), kernel (kh, kw)) -> 'valid' cross-correlation (H-kh+1, W-kw+1)."""
    too_few = (
        "off by one: the kernel fits H - kh + 1 times down the image, so loop over "
        "range(H - kh + 1), and over range(W - kw + 1) across"
    )
    _check(
        "conv2d",
        fn,
        cnn.conv2d,
        _CONV_CASES,
        [
            (_gives(lambda image, kernel: cnn.conv2d(image, kernel[::-1, ::-1])), _FLIPPED),
            (_cropped, "Your output is {got} but should be {expected} {where}: " + too_few),
            (_last_row_or_column_zero, "Your last row or column is 0 {where}: " + too_few),
        ],
        "a 'valid' convolution of an HxW image with a khxkw kernel is (H - kh + 1)x(W - kw + 1)",
    )


def check_conv2d_stride(fn: Callable) -> None:
    """Check fn(image (H, W), kernel (kh, kw), stride) -> 'valid' cross-correlation, strided."""

    def unstrided_windows(image, kernel, stride):
        out_h, out_w = cnn.conv2d(image, kernel, stride=stride).shape
        return cnn.conv2d(image, kernel)[:out_h, :out_w]

    rows = "(H - kh) // stride + 1 rows and (W - kw) // stride + 1 columns"
    _check(
        "strided conv2d",
        fn,
        lambda image, kernel, stride: cnn.conv2d(image, kernel, stride=stride),
        _STRIDE_CASES,
        [
            (
                _gives(
                    lambda image, kernel, stride: cnn.conv2d(
                        image, kernel[::-1, ::-1], stride=stride
                    )
                ),
                _FLIPPED,
            ),
            (
                _gives(lambda image, kernel, stride: cnn.conv2d(image, kernel)),
                "Your output is {got} but should be {expected} {where}: did you use the stride? "
                "Move the window `stride` pixels at a time",
            ),
            (
                _gives(unstrided_windows),
                "Your output has the right size but its windows are in the wrong places {where}: "
                "the window for out[i, j] starts at row i * stride and column j * stride",
            ),
            (
                _cropped,
                "Your output is {got} but should be {expected} {where}: off by one; a strided "
                f"output has {rows}",
            ),
        ],
        f"with a stride, the output has {rows}",
    )


def check_output_size(fn: Callable) -> None:
    """Check fn(n, k, stride, padding) -> the output size (an int), padding 'valid' or 'same'."""

    def when(padding: str, size: Callable[[int, int, int], int]):
        """A wrong size formula that a student may use for this padding."""
        return _gives(lambda n, k, s, p: size(n, k, s) if p == padding else None)

    valid, same = "(n - k) // stride + 1", "ceil(n / stride), that is (n + stride - 1) // stride"
    answer = "Your function returned {got} but the answer is {expected} {where}: "
    _check(
        "output size",
        fn,
        cnn.conv_output_size,
        _SIZE_CASES,
        [
            (when("valid", lambda n, k, s: (n - k) // s), answer + f"off by one; {valid}"),
            (
                when("valid", lambda n, k, s: n - k + 1),
                answer + f"did you forget the stride? {valid}",
            ),
            (
                when("valid", lambda n, k, s: -(-(n - k) // s) + 1),
                answer + f"the last window must fit entirely, so round down: {valid}",
            ),
            (
                when("same", lambda n, k, s: n),
                answer + f"'same' keeps the size n only with stride 1; in general it is {same}",
            ),
            (when("same", lambda n, k, s: n // s), answer + f"round up: {same}"),
            (
                when("same", lambda n, k, s: (n - k) // s + 1),
                answer + f"that is the 'valid' size; 'same' pads so that the size is {same}",
            ),
        ],
    )


def check_pad(fn: Callable) -> None:
    """Check fn(image (H, W), p) -> the image with p zeros on every side, (H+2p, W+2p)."""

    def wrong_fill(got, expected, args):
        image, p = args
        if got.shape != expected.shape:
            return False
        return _same(got[p : got.shape[0] - p, p : got.shape[1] - p], image)

    def padded_by(*amounts: int) -> Callable[[np.ndarray, np.ndarray, tuple], bool]:
        """Test: has got the shape of the image grown by (rows, columns) = amounts(p)?"""
        return lambda got, expected, args: (
            args[1] > 0
            and any(
                got.shape == (args[0].shape[0] + rows * args[1], args[0].shape[1] + cols * args[1])
                for rows, cols in amounts
            )
        )

    wrong_size = "Your output is {got} but should be {expected} {where}: "
    _check(
        "pad",
        fn,
        cnn.pad2d,
        _PAD_CASES,
        [
            (
                padded_by((0, 0)),
                wrong_size + "did you pad? Add p rows of zeros at the top and at the bottom, and "
                "p columns at the left and at the right",
            ),
            (
                padded_by((1, 1)),
                wrong_size + "pad both sides, p at the top and p at the bottom, p at the left and "
                "p at the right",
            ),
            (
                padded_by((2, 0), (0, 2)),
                wrong_size + "pad the rows and the columns, p on every side",
            ),
            (
                padded_by((4, 4)),
                wrong_size + "you padded 2p on each side; p on each side makes the image 2p "
                "larger in all",
            ),
            (
                wrong_fill,
                "Your padding is not zeros {where}: fill the border with 0 (np.pad's default, "
                "mode='constant')",
            ),
        ],
        "padding an HxW image by p on every side gives (H + 2p)x(W + 2p)",
    )


def _pool_check(
    fn: Callable, name: str, reference: Callable, reduce: Callable, extra: Sequence[Mistake]
) -> None:
    """What max and average pooling share: fn(x (H, W), size), stride = size.

    reference(x, size, stride=...) is the right pooling, `reduce` its NumPy reduction (np.max,
    np.mean); `extra` are the mistakes proper to this pooling.
    """

    def wrong_axes(got, expected, args):
        x, size = args
        rows, cols = x.shape[0] // size, x.shape[1] // size
        blocks = x[: rows * size, : cols * size].reshape(rows, size, cols, size)
        axes = [(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]
        return any(_same(got, reduce(blocks, axis=pair)) for pair in axes)

    rows = "H // size rows and W // size columns (a leftover row or column is dropped)"
    _check(
        name,
        fn,
        reference,
        _POOL_CASES,
        [
            *extra,
            (
                _gives(lambda x, size: reference(x, size, stride=1)),
                "Your output is {got} but should be {expected} {where}: the windows must not "
                "overlap; move them `size` pixels at a time (the stride is the size)",
            ),
            (
                wrong_axes,
                "You pooled over the wrong axes {where}: after x.reshape(H // size, size, "
                "W // size, size), reduce over axes 1 and 3, the positions inside each window",
            ),
            (_cropped, "Your output is {got} but should be {expected} {where}: it has " + rows),
        ],
        f"pooling with size s and stride s gives {rows}",
    )


def check_max_pool(fn: Callable) -> None:
    """Check fn(x (H, W), size) -> max pooling, 'valid', stride = size: (H // size, W // size)."""
    _pool_check(
        fn,
        "max pooling",
        cnn.max_pool2d,
        np.max,
        [
            (
                _gives(cnn.avg_pool2d),
                "Your output is the average of each window {where}: max pooling keeps the "
                "largest value (np.max)",
            ),
            (
                _gives(lambda x, size: -cnn.max_pool2d(-x, size)),
                "Your output is the smallest value of each window {where}: max pooling keeps the "
                "largest (np.max)",
            ),
        ],
    )


def check_avg_pool(fn: Callable) -> None:
    """Check fn(x (H, W), size) -> average pooling, 'valid', stride = size."""
    _pool_check(
        fn,
        "average pooling",
        cnn.avg_pool2d,
        np.mean,
        [
            (
                _gives(cnn.max_pool2d),
                "Your output is the largest value of each window {where}: average pooling "
                "keeps the mean (np.mean)",
            ),
            (
                _gives(lambda x, size: cnn.avg_pool2d(x, size) * size**2),
                "Your output is the sum of each window {where}: divide by the number of pixels "
                "in it, size * size (or use np.mean)",
            ),
            (
                _gives(lambda x, size: cnn.avg_pool2d(x, size) * size),
                "Your output is size times too large {where}: a window has size * size pixels, "
                "so divide by size * size",
            ),
        ],
    )


def check_relu(fn: Callable) -> None:
    """Check fn(x) -> max(x, 0) element-wise, for inputs of any shape."""
    _check(
        "relu",
        fn,
        cnn.relu,
        _RELU_CASES,
        [
            (
                _gives(np.abs),
                "Your output is the absolute value {where}: ReLU sets negative values to 0, it "
                "doesn't flip their sign",
            ),
            (
                _gives(lambda x: np.minimum(x, 0)),
                "You kept the negative values {where}: ReLU keeps the positive ones and sets the "
                "negative ones to 0",
            ),
            (
                _gives(lambda x: x > 0),
                "Your output is 0 or 1 {where}: return the values themselves where x > 0, not "
                "True/False",
            ),
            (
                _gives(lambda x: np.max(x, axis=0)),
                "Your output is {got} but should be {expected} {where}: np.max(x, 0) is the "
                "largest value along axis 0; np.maximum(x, 0) compares element by element",
            ),
        ],
        "ReLU works element by element, so the output has the shape of the input",
    )


def check_softmax(fn: Callable) -> None:
    """Check fn(z) -> softmax of z (1-D), or of each row of z (2-D), for large logits too."""

    def unstable(got, expected, args):
        return not np.isfinite(got).all()

    def global_max(z):
        exp = np.exp(z - z.max())
        return exp / exp.sum(axis=-1, keepdims=True)

    def rows_not_normalised(got, expected, args):
        return got.shape == expected.shape and not np.allclose(got.sum(axis=-1), 1)

    _check(
        "softmax",
        fn,
        cnn.softmax,
        _SOFTMAX_CASES,
        [
            (
                _gives(global_max),
                "Your output contains nan {where}: subtract the maximum of each row, "
                "z.max(axis=-1, keepdims=True), not the maximum of the whole array",
            ),
            (
                unstable,
                "Your output contains nan or inf {where}: exp overflows for large inputs; "
                "subtract the maximum first (softmax doesn't change, exp can't overflow)",
            ),
            (
                _gives(lambda z: cnn.softmax(z, axis=0)),
                "Your rows don't sum to 1 {where}: you normalised each column; in a batch each "
                "row is one example, so use axis=-1",
            ),
            (
                _gives(lambda z: cnn.softmax(z.ravel()).reshape(z.shape)),
                "Your rows don't sum to 1 {where}: you divided by the sum of the whole array; "
                "sum each row, with axis=-1 and keepdims=True",
            ),
            (
                rows_not_normalised,
                "Your rows don't sum to 1 {where}: divide each row by its own sum, "
                "exp.sum(axis=-1, keepdims=True)",
            ),
            (
                _gives(lambda z: z / z.sum(axis=-1, keepdims=True)),
                "Your output is z / sum(z) {where}: don't forget the exponential, "
                "softmax is exp(z) / sum(exp(z))",
            ),
        ],
        "softmax keeps the shape of its input",
    )


def check_horizontal_edges(kernel) -> None:
    """Check a 3x3 kernel that finds horizontal edges (brighter below): 0 on a flat image,
    positive on such an edge, 0 on a vertical edge."""
    step = np.repeat([0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 6).reshape(6, 6)  # dark top, bright bottom
    kernel = np.asarray(kernel, dtype=float)
    if kernel.shape != (3, 3):
        print(f"❌ Your kernel has shape {kernel.shape}: make it 3x3, like np.zeros((3, 3)).")
    elif not kernel.any():
        print(
            "❌ Your kernel is all zeros: is the exercise filled in yet? Write your weights "
            "where it says `# Your kernel here`."
        )
    elif not np.allclose(cnn.conv2d(np.ones((6, 6)), kernel), 0):
        print("❌ Your kernel responds to a flat image: make its weights add up to 0.")
    elif cnn.conv2d(step, kernel).max() <= 0:
        print(
            "❌ Your kernel gives nothing positive on a horizontal edge (dark above, bright "
            "below): put positive weights in the bottom row and negative ones in the top row."
        )
    elif not np.allclose(cnn.conv2d(step.T, kernel), 0):
        print(
            "❌ Your kernel also responds to a vertical edge (dark left, bright right): make "
            "each of its columns add up to 0."
        )
    else:
        print("✅ Well done: your kernel finds horizontal edges and ignores vertical ones.")


def check_param_counts(conv_params: Callable, dense_params: Callable) -> None:
    """Check conv_params(kh, kw, c_in, c_out) and dense_params(n_in, n_out): how many weights and
    biases a Conv2D layer (c_out filters of kh x kw over c_in channels) and a Dense layer have."""
    conv_hint = "each of the c_out filters has kh x kw x c_in weights and one bias"
    dense_hint = "each of the n_out outputs has one weight per input and one bias"
    cases = [
        (conv_params, (3, 3, 1, 8), "notebook 05's conv1", conv_hint),
        (conv_params, (3, 3, 8, 16), "notebook 05's conv2", conv_hint),
        (conv_params, (5, 3, 4, 2), "a layer of 2 filters of 5x3 over 4 channels", conv_hint),
        (dense_params, (400, 10), "notebook 05's dense layer", dense_hint),
        (dense_params, (7, 3), "a dense layer from 7 inputs to 3 outputs", dense_hint),
    ]
    for fn, args, where, hint in cases:
        right = math.prod(args) + args[-1]  # the weights, then one bias per output
        call = f"{getattr(fn, '__name__', 'your function')}{args}"
        got, failure = _call(fn, args, f"for {call}")
        if failure is not None:
            print(failure)
            return
        if got == right:
            continue
        if got == 0:
            print(f"❌ {call} returned 0 ({where}): {_FILL_IN}.")
        elif got == math.prod(args):
            print(f"❌ {call} returned {got} ({where}): right for the weights; add the biases.")
        else:
            print(f"❌ {call} returned {got} but {where} has {right:,} numbers: {hint}.")
        return
    print(f"✅ Well done: your counts match on all {len(cases)} layers, as Keras counts them.")
