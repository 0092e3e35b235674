"""Self-checks for the notebooks' exercises: `check_conv2d(my_conv2d)` prints one sentence.

Each check runs the student's function on a few small cases whose answers come from
`helpers.numpy_cnn`, prints "✅ ..." when they all match, or else one "❌ ..." sentence that says
what is wrong and gives a hint. It returns nothing, so a check cell shows only that sentence. A
bug in the student's function, even an exception, is reported, never raised.
"""

from collections.abc import Callable, Sequence

import numpy as np

from helpers import numpy_cnn as cnn

# A known mistake: a test(got, expected, args) that recognises its output, and the sentence that
# explains it. The sentence may use {got} and {expected} (shapes, or values for a number) and
# {where} (the case, e.g. "on a 5x5 image with a 3x3 kernel").
Mistake = tuple[Callable[[np.ndarray, np.ndarray, tuple], bool], str]

_RNG = np.random.default_rng(7)  # the cases are made once, on import: the same every run


def _same(got: np.ndarray, expected) -> bool:
    expected = np.asarray(expected, dtype=float)
    return got.shape == expected.shape and np.allclose(
        got, expected, rtol=1e-5, atol=1e-6, equal_nan=True
    )


def _gives(wrong: Callable[..., object]) -> Callable[[np.ndarray, np.ndarray, tuple], bool]:
    """The test for a mistake made by the function `wrong` (it gets the case's arguments)."""

    def test(got, expected, args):
        try:
            return _same(got, wrong(*args))
        except ValueError:  # that mistake can't be made on this case (e.g. a reshape that fails)
            return False

    return test


def _cropped(got: np.ndarray, expected: np.ndarray, args: tuple) -> bool:
    """Is got the top-left part of the right answer (the loops stopped too early)?"""
    return (
        got.ndim == expected.ndim
        and got.shape != expected.shape
        and all(g <= e for g, e in zip(got.shape, expected.shape, strict=True))
        and _same(got, expected[tuple(slice(g) for g in got.shape)])
    )


def _last_row_or_column_zero(got: np.ndarray, expected: np.ndarray, args: tuple) -> bool:
    """Is got right except for zeros in its last row or column (the loops stopped too early)?"""
    if got.shape != expected.shape or got.ndim != 2:
        return False
    wrong = ~np.isclose(got, expected, rtol=1e-5, atol=1e-6)
    wrong[-1, :] &= got[-1, :] != 0
    wrong[:, -1] &= got[:, -1] != 0
    return not wrong.any()


def _shown(a: np.ndarray) -> str:
    """How an output is named in a sentence: '3' for a number, '4x4' or 'of shape (3,)'."""
    if a.ndim == 0:
        return f"{a:g}"
    return "x".join(map(str, a.shape)) if a.ndim == 2 else f"of shape {a.shape}"


def _diagnose(got, expected, args, where, mistakes, size_hint) -> str | None:
    """What is wrong with the student's output `got`, as a sentence; None if it is right."""
    if got is None:
        return f"Your function returned None {where}: end it with a return statement (return out)"
    if isinstance(expected, int) and not isinstance(got, int | np.integer):
        return (
            f"Your function returned {got} ({type(got).__name__}) {where}, which is not an int: "
            "a size is a whole "
            "number, so use // (floor division) or int(...)"
        )
    got_dtype = getattr(got, "dtype", None)
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"Your function returned a {type(got).__name__} {where}, not an array of numbers"
    wanted_dtype = getattr(expected, "dtype", None)
    expected = np.asarray(expected, dtype=float)
    if _same(got, expected):
        if wanted_dtype == np.float32 and got_dtype != np.float32:
            return (
                f"The values are right but their type is {got_dtype} {where}: Keras computes in "
                "float32, so convert with .astype('float32')"
            )
        return None
    if expected.ndim == 0:
        fallback = "Your function returned {got} but the answer is {expected} {where}"
    elif got.shape == expected.shape[::-1] and _same(got, expected.T):
        fallback = (
            "Your output is transposed {where}: rows and columns are swapped; out[i, j] should "
            "come from the window at row i, column j"
        )
    elif got.shape != expected.shape:
        fallback = "Your output is {got} but should be {expected} {where}: " + size_hint
    else:
        diff = np.abs(got - expected)
        at = np.unravel_index(np.argmax(np.where(np.isnan(diff), np.inf, diff)), diff.shape)
        fallback = (
            f"The shape is right but the values differ (largest difference {diff[at]:.4g}, at "
            f"out{list(map(int, at))}) {{where}}"
        )
    sentence = next((text for test, text in mistakes if test(got, expected, args)), fallback)
    return sentence.format(got=_shown(got), expected=_shown(expected), where=where)


def _check(
    name: str,
    fn: Callable,
    reference: Callable,
    cases: Sequence[tuple[tuple, str]],
    mistakes: Sequence[Mistake] = (),
    size_hint: str = "",
) -> None:
    """Run fn on each case (args, where) and print one sentence: all right, or what is wrong.

    reference(*args) is the right answer. On the first wrong case the sentence is the first
    mistake that recognises fn's output, or else says how the output differs: transposed, of the
    wrong size (then `size_hint` says what the size should be) or with other values.
    """
    for args, where in cases:
        expected = reference(*args)
        copies = tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)
        with np.errstate(all="ignore"):  # overflow in exp is diagnosed, not warned about
            try:
                got = fn(*copies)
            except Exception as exc:  # the student's bug: report it, never raise it
                detail = f": {str(exc).strip()}" if str(exc).strip() else ""
                print(f"❌ Your function raised {type(exc).__name__} {where}{detail}")
                return
            sentence = _diagnose(got, expected, args, where, mistakes, size_hint)
        if sentence is not None:
            print(f"❌ {sentence}.")
            return
    print(f"✅ Well done: your {name} matches on all {len(cases)} cases.")


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


_SEED = cnn.SEED_IMAGE_6X6.astype(float), cnn.SHARPEN_KERNEL.astype(float)
_CONV_CASES = [
    _image_case(_ints((5, 5)), _ints((3, 3), -2, 3)),
    _image_case(*_SEED),
    _image_case(_ints((5, 7)), _ints((2, 3), -2, 3)),
    _image_case(_ints((7, 4)), _ints((3, 2), -2, 3)),
    _image_case(_ints((3, 3)), _ints((3, 3), -2, 3)),
]
_STRIDE_CASES = [
    _image_case(_ints((7, 7)), _ints((3, 3), -2, 3), 2),
    _image_case(_ints((8, 8)), _ints((3, 3), -2, 3), 2),
    _image_case(_ints((9, 7)), _ints((2, 3), -2, 3), 3),
    _image_case(*_SEED, 1),
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
        (cnn.SEED_POOL_4X4.astype(float), 2),
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


def check_to_model_input(fn: Callable) -> None:
    """Check fn(images uint8 (N, H, W)) -> float32 (N, H, W, 1) in [0, 1], what Keras takes."""
    cases = [
        ((_RNG.integers(0, 256, (n, h, w), dtype=np.uint8),), f"on {n} images of {h}x{w}")
        for n, h, w in [(3, 28, 28), (1, 5, 7)]
    ]
    _check(
        "to_model_input",
        fn,
        lambda images: (images.astype(np.float32) / 255.0)[..., None],
        cases,
        [
            (
                _gives(lambda images: images[..., None]),
                "Your values go up to 255 {where}: divide by 255 to bring them into [0, 1]",
            ),
            (
                _gives(lambda images: images / 255.0),
                "Your output is {got} but Keras wants {expected} {where}: add the channel axis "
                "with images[..., None]",
            ),
        ],
        "Keras wants (N, H, W, 1): one channel, last",
    )


def check_shift_down(fn: Callable) -> None:
    """Check fn(image (H, W), pixels) -> the image moved down, zeros coming in at the top."""

    def shifted(image, pixels):
        out = np.zeros_like(image)
        out[pixels:] = image[:-pixels]
        return out

    cases = [
        ((_distinct((6, 6)), 2), "on a 6x6 image moved 2 pixels"),
        ((_distinct((5, 4)), 1), "on a 5x4 image moved 1 pixel"),
    ]
    _check(
        "shift_down",
        fn,
        shifted,
        cases,
        [
            (
                _gives(lambda image, pixels: np.roll(image, pixels, axis=0)),
                "The rows that fell off the bottom came back at the top {where}: that is "
                "np.roll; fill the top rows with 0 instead",
            ),
            (
                _gives(lambda image, pixels: shifted(image[::-1], pixels)[::-1]),
                "You moved the image up {where}: moving down means row i goes to row i + pixels",
            ),
            (
                _gives(lambda image, pixels: shifted(image.T, pixels).T),
                "You moved the image sideways {where}: rows are the first axis, image[row, col]",
            ),
        ],
        "moving an image keeps its shape",
    )
