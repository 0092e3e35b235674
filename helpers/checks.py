"""Self-checks for the notebooks' exercises: `check_conv2d(my_conv2d)` prints one sentence.

Each check runs the student's function on a few small cases whose answers come from
`helpers.numpy_cnn`, prints "✅ ..." when they all match, or else one "❌ ..." sentence that says
what is wrong and gives a hint. It returns nothing, so a check cell shows only that sentence. A
bug in the student's function, even an exception or an endless loop (stopped after TIME_LIMIT_S
seconds), is reported, never raised.
"""

import re
import signal
import threading
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np

from helpers import numpy_backprop as bp
from helpers import numpy_cnn as cnn
from helpers.perturb import shift

# A known mistake: a test(got, expected, args) that recognises its output, and the sentence that
# explains it. The sentence may use {got} and {expected} (shapes, or values for a number) and
# {where} (the case, e.g. "on a 5x5 image with a 3x3 kernel").
Mistake = tuple[Callable[[np.ndarray, np.ndarray, tuple], bool], str]

_RNG = np.random.default_rng(7)  # the cases are made once, on import: the same every run

# Seconds one call of the student's function may take. The slowest right answers take 0.04 s a
# call, and the slowest check 0.17 s in all (AMD EPYC Zen 3, 2 cores).
TIME_LIMIT_S = 5.0

_ANSI_CODE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # a colour code, as in Keras's errors
_KERAS_HEADER = "Exception encountered when calling"  # the line Keras puts before the error
_DETAIL_CHARS = 240  # an error message longer than this is shortened with "…"


class _OutOfTime(BaseException):
    """Raised in the student's function when its time is up (not an Exception, so that an
    `except Exception` in it cannot swallow it)."""


def _detail(exc: BaseException) -> str:
    """': ' and the first meaningful line of exc's message, colour codes and a final '.' removed,
    shortened with '…' if long; '' if the message is empty."""
    lines = (line.strip().rstrip(".") for line in _ANSI_CODE.sub("", str(exc)).splitlines())
    line = next((line for line in lines if line and not line.startswith(_KERAS_HEADER)), "")
    if len(line) > _DETAIL_CHARS:
        line = line[: _DETAIL_CHARS - 1].rstrip() + "…"
    return f": {line}" if line else ""


def _raised(who: str, exc: Exception, where: str) -> str:
    """The ❌ line for an exception raised by the student's code: its type and first line."""
    return f"❌ {who} raised {type(exc).__name__} {where}{_detail(exc)}."


def _unconvertible(got, where: str, exc: Exception) -> str:
    """The sentence for an output whose own code raised when it was turned into numbers."""
    return (
        f"Your function returned a {type(got).__name__} {where} that could not be turned into an "
        f"array of numbers: converting it raised {type(exc).__name__}{_detail(exc)}"
    )


def _with_time_limit(fn: Callable, args: tuple):
    """fn(*args), stopped by _OutOfTime once TIME_LIMIT_S seconds have passed.

    The limit is a SIGALRM timer, so it holds in the main thread on Linux and macOS only; on
    Windows, in another thread or when SIGALRM's handler was set outside Python, fn runs without
    a limit. A long C call (one big NumPy operation) is stopped only once it returns. The previous
    handler and timer are restored afterwards.
    """
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGALRM) is None
    ):
        return fn(*args)
    running = True

    def stop(signum, frame):
        if running:  # not once fn has returned: the alarm may be handled a moment late
            raise _OutOfTime

    previous_handler = signal.signal(signal.SIGALRM, stop)
    start = time.monotonic()
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    try:
        try:
            return fn(*args)
        finally:
            running = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = previous_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), previous_interval)


def _call(fn: Callable, args: tuple, where: str) -> tuple[object, str | None]:
    """Run the student's fn(*args) with the time limit: (its result, None), or (None, the ❌ line)
    if it raised or did not return in time."""
    try:
        return _with_time_limit(fn, args), None
    except _OutOfTime:
        return None, (
            f"❌ Your function did not return within {TIME_LIMIT_S:g} seconds {where}, so it was "
            "stopped: look for a loop that never ends (e.g. a while loop whose condition stays "
            "true)."
        )
    except Exception as exc:  # the student's bug: report it, never raise it
        return None, _raised("Your function", exc, where)


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
    if getattr(got_dtype, "kind", None) == "c":
        return (
            f"Your function returned complex numbers ({got_dtype}) {where}: the answer is real, "
            "so look for a 1j or the square root of a negative number"
        )
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"Your function returned a {type(got).__name__} {where}, not an array of numbers"
    except Exception as exc:  # the output's own code raised (its __array__, say)
        return _unconvertible(got, where, exc)
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
            got, failure = _call(fn, copies, where)
            if failure is not None:
                print(failure)
                return
            changed = any(
                isinstance(a, np.ndarray) and not np.array_equal(a, c, equal_nan=True)
                for a, c in zip(args, copies, strict=True)
            )
            if changed:
                sentence = (
                    f"Your function changed its input {where}: the caller's array must stay as "
                    "it was, so build a new array (np.maximum(x, 0), np.zeros(...)) or work on "
                    "x.copy()"
                )
            else:
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


_EXAMPLE = cnn.EXAMPLE_IMAGE_6X6.astype(float), cnn.SHARPEN_KERNEL.astype(float)
_CONV_CASES = [
    _image_case(_ints((5, 5)), _ints((3, 3), -2, 3)),
    _image_case(*_EXAMPLE),
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


# Notebook 06: backward passes by hand. Its cases come from an RNG of their own, so that adding
# cases here changes no other notebook's.

_RNG_06 = np.random.default_rng(6)

_RELU_BACKWARD_CASES = [
    ((x, _RNG_06.normal(size=x.shape)), f"on an input of shape {x.shape}")
    for x in (
        np.array([-2.0, -0.5, 0.0, 0.5, 3.0]),
        _RNG_06.normal(size=(3, 4)),
        np.where(_RNG_06.random((2, 3, 3, 2)) < 0.2, 0.0, _RNG_06.normal(size=(2, 3, 3, 2))),
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
    ((x, _RNG_06.integers(1, 6, (x.shape[0] // 2, x.shape[1] // 2)).astype(float)), where)
    for x, where in [
        (cnn.EXAMPLE_POOL_4X4.astype(float), "on the 4x4 example"),
        (_RNG_06.permutation(36).reshape(6, 6).astype(float), "on a 6x6 input"),
        (
            _RNG_06.permutation(35).reshape(5, 7).astype(float),
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
        (_wavy, "f(x) = sum(sin(x) * x**2)", _RNG_06.normal(size=(4,)), 1e-3),
        (_log_sum_exp, "f(x) = log(sum(exp(x)))", _RNG_06.normal(size=(2, 3)), 1e-3),
        (_wavy, "f(x) = sum(sin(x) * x**2)", _RNG_06.normal(size=(2, 2, 2)), 1e-5),
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
            _RNG_06.integers(-2, 3, (3, 3)).astype(float),
            _RNG_06.integers(-2, 3, (3, 4)).astype(float),
        ),
        (
            _RNG_06.integers(-2, 3, (2, 3)).astype(float),
            _RNG_06.integers(-2, 3, (4, 2)).astype(float),
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


# Notebook 07: reading a trained classifier's mistakes, and checking a model before training it.


def _labels_from_counts(counts: dict[tuple[int, int], int], rng) -> tuple[np.ndarray, np.ndarray]:
    """y_true, y_pred (uint8, like Fashion-MNIST's labels) holding each (true, predicted) pair
    `counts[pair]` times, in a shuffled order."""
    pairs = np.array([pair for pair, n in counts.items() for _ in range(n)], dtype=np.uint8)
    pairs = pairs[rng.permutation(len(pairs))]
    return pairs[:, 0], pairs[:, 1]


def _confusion_cases() -> list[tuple[tuple[np.ndarray, np.ndarray], str]]:
    """Labels whose most frequent mistake is known: (y_true, y_pred), where."""
    rng = np.random.default_rng(6)
    right = {c: 4 + (7 * c) % 11 for c in range(10)}  # every class, mostly classified right
    mistakes = [
        # The answer (6, 0), 7 times, is not the pair most mixed up in both directions together:
        # (2, 4) and (4, 2) make 5 + 5 = 10. The diagonal holds larger counts (up to 14); the
        # reverse pair (0, 6) is a smaller mistake.
        {(6, 0): 7, (0, 6): 1, (4, 2): 5, (2, 4): 5, (9, 7): 2},
        {(2, 0): 5, (0, 2): 2, (1, 3): 3, (3, 1): 1},
        # The last class counts too.
        {(9, 7): 6, (7, 9): 2, (5, 7): 4, (8, 0): 3},
    ]
    cases = []
    for extra in mistakes:
        counts = {(c, c): n for c, n in right.items()} | extra
        y_true, y_pred = _labels_from_counts(counts, rng)
        cases.append(((y_true, y_pred), f"on {len(y_true)} made-up labels"))
    return cases


_CONFUSION_CASES = _confusion_cases()


def _off_diagonal_counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(10, 10) counts of (true, predicted) pairs, the right answers (diagonal) set to 0."""
    counts = np.zeros((10, 10), dtype=int)
    np.add.at(counts, (y_true.astype(int), y_pred.astype(int)), 1)
    np.fill_diagonal(counts, 0)
    return counts


def _pair_problem(got, y_true: np.ndarray, y_pred: np.ndarray, where: str) -> str | None:
    """What is wrong with `got` as the most frequent (true, predicted) pair; None if right."""
    counts = _off_diagonal_counts(y_true, y_pred)
    answer = tuple(int(i) for i in np.unravel_index(np.argmax(counts), counts.shape))
    t, p = answer
    if got is None:
        return (
            f"Your function returned None {where}: end it with return (true_class, predicted_class)"
        )
    if isinstance(got, int | np.integer):
        return (
            f"Your function returned one number, {got}, {where}: return two, (true_class, "
            "predicted_class); if yours came from np.argmax of the matrix, which counts through "
            "it row by row, np.unravel_index(index, cm.shape) turns it into (row, column)"
        )
    sequence = isinstance(got, tuple | list) or (isinstance(got, np.ndarray) and got.ndim == 1)
    try:
        values = list(got) if sequence else None
    except Exception as exc:  # the output's own code raised (its __len__, say)
        return _unconvertible(got, where, exc)
    if values is not None:
        shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
        text = f"({shown})"
    else:
        text = repr(got)
    if values is not None and any(isinstance(v, str) for v in values):
        return (
            f"Your function returned {text} {where}: return the class numbers, "
            "(6, 0) say, not their names"
        )
    try:
        pair = tuple(int(v) for v in values)
        if len(pair) != 2 or any(float(v) != i for v, i in zip(values, pair, strict=True)):
            raise ValueError
    except (TypeError, ValueError):
        return (
            f"Your function returned {text} {where}: return a pair of class numbers, "
            "(true_class, predicted_class)"
        )
    except Exception as exc:  # a value's own code raised (its __float__, say)
        return _unconvertible(got, where, exc)
    if pair == answer:
        return None
    a, b = pair
    if not (0 <= a < 10 and 0 <= b < 10):
        return f"Your function returned {pair} {where}: the classes are numbered 0 to 9"
    if a == b:
        return (
            f"Your function returned ({a}, {a}) {where}: that is on the diagonal, the images of "
            f"class {a} that were classified right; set the diagonal to 0 first "
            "(np.fill_diagonal(cm, 0)) so that only mistakes are left"
        )
    if pair == (p, t):
        return (
            f"Your pair is the wrong way round {where}: you returned ({p}, {t}) but the answer is "
            f"({t}, {p}); the confusion matrix's rows are the true classes and its columns the "
            "predicted ones, so return (row, column) = (true, predicted)"
        )
    both_ways = counts + counts.T
    if both_ways[a, b] == both_ways.max():
        return (
            f"You returned ({a}, {b}) {where}: classes {a} and {b} are mixed up {both_ways[a, b]} "
            f"times in both directions together, but the most frequent single mistake is true "
            f"class {t} predicted as {p}, {counts[t, p]} times; count each direction on its own"
        )
    made = f"made {counts[a, b]} times" if counts[a, b] else "never made"
    return (
        f"You returned ({a}, {b}) {where}, a mistake {made}; the most frequent one is "
        f"({t}, {p}), made {counts[t, p]} times"
    )


def check_most_confused(fn: Callable) -> None:
    """Check fn(y_true, y_pred) -> (true_class, predicted_class), the most frequent mistake.

    y_true and y_pred hold class numbers 0 to 9 (uint8, like Fashion-MNIST's labels).
    """
    for (y_true, y_pred), where in _CONFUSION_CASES:
        got, failure = _call(fn, (y_true.copy(), y_pred.copy()), where)
        if failure is not None:
            print(failure)
            return
        sentence = _pair_problem(got, y_true, y_pred, where)
        if sentence is not None:
            print(f"❌ {sentence}.")
            return
    n = len(_CONFUSION_CASES)
    print(f"✅ Well done: your most_confused finds the right pair on all {n} cases.")


def _per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    return np.diag(cm) / cm.sum(axis=1)


def _confusion_matrix_cases() -> list[tuple[tuple[np.ndarray], str]]:
    rng = np.random.default_rng(8)
    y_true = rng.integers(0, 10, 600)
    y_pred = np.where(rng.random(600) < 0.8, y_true, rng.integers(0, 10, 600))
    ten = np.zeros((10, 10), dtype=int)
    np.add.at(ten, (y_true, y_pred), 1)
    matrices = [
        # Row and column sums differ; in row 1 the largest count is a mistake, not the diagonal.
        np.array([[8, 1, 1], [5, 3, 2], [0, 6, 14]]),
        np.array([[20, 2, 0, 3], [1, 9, 4, 0], [0, 3, 30, 2], [6, 0, 1, 12]]),
        ten,
    ]
    return [((m,), f"on a {m.shape[0]}x{m.shape[1]} confusion matrix") for m in matrices]


_CONFUSION_MATRIX_CASES = _confusion_matrix_cases()


def check_per_class_accuracy(fn: Callable) -> None:
    """Check fn(cm) -> the accuracy of each class (n,), from a confusion matrix (n, n).

    cm[i, j] counts the images of true class i predicted as class j; the answer is fractions
    between 0 and 1: the diagonal divided by the row sums.
    """
    answer = "Your output is {got} but should be {expected} {where}: "
    _check(
        "per_class_accuracy",
        fn,
        _per_class_accuracy,
        _CONFUSION_MATRIX_CASES,
        [
            (
                _gives(lambda cm: np.diag(cm) / cm.sum(axis=0)),
                "You divided by the column sums {where}: that is the share of each class's "
                "predictions that are right (its precision); accuracy per class divides by the "
                "row sums, the number of images of each true class",
            ),
            (
                _gives(lambda cm: np.diag(cm) / cm.sum()),
                "You divided by the total number of images {where}: divide each class by its "
                "own row sum, cm.sum(axis=1)",
            ),
            (
                _gives(np.diag),
                "You returned the number of right answers {where}: divide by the number of "
                "images of each class, cm.sum(axis=1)",
            ),
            (
                _gives(lambda cm: 100 * _per_class_accuracy(cm)),
                "Your values are 100 times too large {where}: return fractions between 0 and 1 "
                "(format them as percentages only to print them)",
            ),
            (
                _gives(lambda cm: np.diag(cm) // cm.sum(axis=1)),
                "Your accuracies are rounded down to whole numbers {where}: // is floor "
                "division; use / to divide",
            ),
            (
                _gives(lambda cm: 1 - _per_class_accuracy(cm)),
                "You computed the error rate of each class {where}: accuracy is the share of "
                "right answers, the diagonal",
            ),
            (
                _gives(lambda cm: cm.max(axis=1) / cm.sum(axis=1)),
                "You took the largest count of each row {where}: the right answers are on the "
                "diagonal, np.diag(cm), wherever the largest count is",
            ),
            (
                _gives(lambda cm: cm / cm.sum(axis=1, keepdims=True)),
                answer + "you normalised the whole matrix; keep only its diagonal, np.diag(cm)",
            ),
        ],
        "one accuracy per class, a 1-D array as long as the matrix is wide",
    )


def _model_problem(model, min_conv_layers: int) -> str:
    """What is wrong with `model` for Fashion-MNIST, or, if nothing, the ✅ sentence."""
    import keras  # here, not at the top: the other checks need only NumPy

    if model is None:
        return "❌ You passed None: end your function with return model"
    if not isinstance(model, keras.Model):
        if callable(model):
            name = getattr(model, "__name__", "your_function")
            return f"❌ You passed the function itself: call it, check_model_shapes({name}())"
        return f"❌ You passed a {type(model).__name__}, not a Keras model"
    try:
        input_shape = model.input_shape
    except (AttributeError, ValueError):
        return "❌ Your model has no input shape yet: start it with keras.Input((28, 28, 1))"
    if input_shape != (None, 28, 28, 1):
        return (
            f"❌ Your model takes inputs of shape {input_shape} but Fashion-MNIST batches are "
            "(None, 28, 28, 1): start it with keras.Input((28, 28, 1))"
        )
    output_shape = model.output_shape
    if output_shape != (None, 10):
        hint = " (did you forget Flatten before the dense layers?)" if len(output_shape) > 2 else ""
        return (
            f"❌ Your model's output has shape {output_shape} but should be (None, 10), ten "
            f"numbers per image{hint}: end it with Dense(10, activation='softmax')"
        )

    def conv_layers(layer) -> int:
        inner = getattr(layer, "layers", [])
        return isinstance(layer, keras.layers.Conv2D) + sum(conv_layers(i) for i in inner)

    convs = conv_layers(model)
    if convs < min_conv_layers:
        return (
            f"❌ Your model has {convs} Conv2D layer{'s' * (convs != 1)}; the exercise asks for "
            f"at least {min_conv_layers}: add another convolution block before Flatten"
        )
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    try:
        probs = np.asarray(model.predict(images, verbose=0))
    except Exception as exc:  # the student's model: report it, never raise it
        return _raised("Your model", exc, "on a batch of 4 images")
    if not (np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)):
        return (
            "❌ Your model's ten outputs are not probabilities (they don't sum to 1 for each "
            "image): give the last layer activation='softmax'"
        )
    if not getattr(model, "compiled", False):
        return (
            "❌ Your model is not compiled: end your function with model.compile(...), as "
            "build_cnn does, so that it can be trained"
        )
    return (
        f"✅ Well done: your model takes 28x28x1 images, gives 10 probabilities per image and "
        f"has {convs} Conv2D layers ({model.count_params():,} parameters)."
    )


def check_model_shapes(model, min_conv_layers: int = 3) -> None:
    """Check a Fashion-MNIST classifier without training it.

    model: a compiled keras.Model that takes (N, 28, 28, 1) images, gives (N, 10) probabilities
    and has at least `min_conv_layers` Conv2D layers (nested models count too).
    """
    sentence = _model_problem(model, min_conv_layers)
    print(sentence if sentence.endswith(".") else f"{sentence}.")


# Notebook 08: a trained CNN's filters, feature maps and gradients. Keras is imported inside the
# checks that need it, so that importing this module stays fast for notebooks 01 to 06. Their
# cases come from a generator of their own, so that checks added above them cannot change them.

_RNG_08 = np.random.default_rng(710)


def _ints_08(shape: tuple[int, ...], low: int, high: int) -> np.ndarray:
    return _RNG_08.integers(low, high, shape).astype(float)


def _cosines(kernels: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The cosine similarity of each filter of `kernels` (kh, kw, F) with `target` (kh, kw)."""
    flat = kernels.reshape(-1, kernels.shape[-1])
    return target.ravel() @ flat / (np.linalg.norm(target) * np.linalg.norm(flat, axis=0))


def _filter_case(n_filters: int, with_opposite: bool):
    """(args, where) for check_most_similar_filter: filters where every shortcut picks another.

    A faint copy of the target (the most similar by direction, but small), a large filter (the
    largest dot product) and, with `with_opposite`, the target turned negative (cosine -1).
    """
    target = _RNG_08.normal(size=(3, 3))
    kernels = _RNG_08.normal(size=(3, 3, n_filters)) * 0.5
    kernels[:, :, n_filters - 2] = 0.1 * target + 0.02 * _RNG_08.normal(size=(3, 3))
    kernels[:, :, 1] = 3 * target + 3 * _RNG_08.normal(size=(3, 3))
    if with_opposite:
        kernels[:, :, 0] = -2 * target
    where = f"for {n_filters} filters of 3x3" + (
        " (one of them is -target)" if with_opposite else ""
    )
    return (kernels, target), where


_FILTER_CASES = [_filter_case(6, False), _filter_case(8, True), _filter_case(5, False)]


def check_most_similar_filter(fn: Callable) -> None:
    """Check fn(kernels (kh, kw, F), target (kh, kw)) -> the index of the most similar filter.

    Most similar: the largest cosine similarity, sum(a * b) / (norm(a) * norm(b)).
    """

    def not_an_index(got, expected, args):
        return got.ndim == 0 and got != np.round(got)

    def pick(score: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        return _gives(lambda kernels, target: np.int64(np.argmax(score(kernels, target))))

    def first_axis(kernels, target):
        flat = kernels.reshape(kernels.shape[-1], -1)
        return target.ravel() @ flat.T / np.linalg.norm(flat, axis=1)

    _check(
        "most similar filter",
        fn,
        lambda kernels, target: np.int64(np.argmax(_cosines(kernels, target))),
        _FILTER_CASES,
        [
            (
                lambda got, expected, args: got.ndim != 0,
                "Your function returned an array {where}: return one number, the index of the "
                "best filter (np.argmax of the similarities)",
            ),
            (
                not_an_index,
                "Your function returned {got} {where}: return the index of the most similar "
                "filter (a whole number from 0 to F - 1), not its similarity",
            ),
            (
                pick(lambda kernels, target: np.abs(_cosines(kernels, target))),
                "Your function returned {got} but the answer is {expected} {where}: don't take "
                "the absolute value; a filter equal to -target has cosine -1, it finds the "
                "opposite pattern",
            ),
            (
                pick(lambda kernels, target: -_cosines(kernels, target)),
                "Your function returned {got}, the LEAST similar filter, {where}: the most similar "
                "has the largest cosine (np.argmax)",
            ),
            (
                pick(
                    lambda kernels, target: target.ravel() @ kernels.reshape(-1, kernels.shape[-1])
                ),
                "Your function returned {got} but the answer is {expected} {where}: that filter "
                "has the largest dot product only because it is large; divide by the two norms",
            ),
            (
                pick(first_axis),
                "Your function returned {got} but the answer is {expected} {where}: the filters "
                "are the LAST axis of kernels, so take kernels[:, :, f] (or "
                "kernels.reshape(-1, F)), not kernels.reshape(F, -1)",
            ),
        ],
    )


# Whole-number weights and pixels, so that Keras's float32 and NumPy agree exactly.
_SMALL_CNN_WEIGHTS = (
    _ints_08((3, 3, 1, 2), -2, 3),
    _ints_08((18, 3), -2, 3),
    _ints_08((3,), -2, 3),
)
_SMALL_CNN_IMAGES = (_ints_08((2, 6, 6, 1), 0, 5).astype("float32"), _ints_08((3, 6, 6, 1), 0, 5))


def _small_cnn():
    """A tiny Keras CNN with the weights above: image (6, 6, 1) -> conv -> relu -> pool -> 3."""
    import keras

    zeros = "zeros"  # no random initial weights: building the model draws no random numbers
    inputs = keras.Input((6, 6, 1), name="image")
    x = keras.layers.Conv2D(
        2, 3, padding="same", use_bias=False, kernel_initializer=zeros, name="conv"
    )(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(3, kernel_initializer=zeros, name="scores")(x)
    model = keras.Model(inputs, outputs, name="small_cnn")
    kernel, dense, bias = _SMALL_CNN_WEIGHTS
    model.get_layer("conv").set_weights([kernel.astype("float32")])
    model.get_layer("scores").set_weights([dense.astype("float32"), bias.astype("float32")])
    return model


def _small_cnn_layers(images) -> dict[str, np.ndarray]:
    """The output of every layer of `_small_cnn`, computed with helpers.numpy_cnn."""
    kernel, dense, bias = _SMALL_CNN_WEIGHTS
    out = {"conv": cnn.conv2d(images, kernel, padding="same")}
    out["relu"] = cnn.relu(out["conv"])
    out["pool"] = cnn.max_pool2d(out["relu"], 2)
    out["scores"] = out["pool"].reshape(len(images), -1) @ dense + bias
    return {name: value.astype(float) for name, value in out.items()}


def check_feature_extractor(fn: Callable) -> None:
    """Check fn(model, layer_name, images (N, H, W, C)) -> that layer's output, one per image."""
    import keras

    model = _small_cnn()
    images = _SMALL_CNN_IMAGES
    cases = [
        ((model, name, x), f"for layer {name!r} of a small CNN, on {len(x)} images of 6x6")
        for name, x in [("conv", images[0]), ("pool", images[0]), ("relu", images[1])]
    ]
    first, failure = _call(fn, (model, "conv", images[0].copy()), cases[0][1])
    if failure is not None:
        print(failure)
        return
    if isinstance(first, keras.Model):
        print(
            "❌ Your function returned a model, not the feature maps: call it on the images, "
            "extractor(images), and return what it gives."
        )
        return
    if type(first).__name__ == "KerasTensor":
        print(
            "❌ Your function returned model.get_layer(layer_name).output, a placeholder that "
            "holds no numbers: make it the output of a keras.Model(inputs=model.input, "
            "outputs=...) and call that model on the images."
        )
        return
    _check(
        "feature extractor",
        fn,
        lambda model, name, images: _small_cnn_layers(images)[name],
        cases,
        [
            (
                _gives(lambda model, name, images: _small_cnn_layers(images)["scores"]),
                "Your output is the model's final output {where}: return the output of the layer "
                "named layer_name, model.get_layer(layer_name).output",
            ),
            (
                lambda got, expected, args: _same(got, expected[0]),
                "Your output is the feature maps of the first image only {where}: keep the batch "
                "axis, one set of maps per image",
            ),
        ],
        "a layer's output has one set of feature maps per image, (N, height, width, channels)",
    )


# A linear model's weights (16, 3) and biases; a two-layer model's (16, 5), (5,) and (5, 3). The
# hidden biases end in .125, so that no unit is ever exactly 0 before the ReLU (its kink).
_DENSE_WEIGHTS = (
    _ints_08((16, 3), -3, 4),
    _ints_08((3,), -2, 3),
    _ints_08((16, 5), -2, 3),
    _ints_08((5,), -2, 3) + 0.125,
    _ints_08((5, 3), -2, 3),
)
_GRADIENT_IMAGES = tuple(_ints_08((4, 4, 1), 0, 5).astype("float32") / 4 for _ in range(3))


def _small_dense_models():
    """Two tiny Keras models of a (4, 4, 1) image with known weights, and their gradients.

    Returns [(model, gradient)], where gradient(image, c) is d score_c / d pixels, (4, 4),
    worked out by hand: a linear model's is its weights; with a ReLU layer in between, only the
    units that are on (positive) pass the gradient on.
    """
    import keras

    zeros = "zeros"
    models = []
    for hidden in (None, 5):
        inputs = keras.Input((4, 4, 1), name="image")
        x = keras.layers.Flatten(name="flatten")(inputs)
        if hidden:
            x = keras.layers.Dense(hidden, "relu", kernel_initializer=zeros, name="hidden")(x)
        outputs = keras.layers.Dense(3, kernel_initializer=zeros, name="scores")(x)
        models.append(keras.Model(inputs, outputs))
    linear, deep = models
    w, b, w1, b1, w2 = _DENSE_WEIGHTS
    linear.get_layer("scores").set_weights([w.astype("float32"), b.astype("float32")])
    deep.get_layer("hidden").set_weights([w1.astype("float32"), b1.astype("float32")])
    deep.get_layer("scores").set_weights([w2.astype("float32"), np.zeros(3, "float32")])

    def deep_gradient(image, c):
        on = image.reshape(-1) @ w1 + b1 > 0
        return (w1[:, on] @ w2[on, c]).reshape(4, 4)

    return [(linear, lambda image, c: w[:, c].reshape(4, 4)), (deep, deep_gradient)]


def check_gradient_times_input(fn: Callable) -> None:
    """Check fn(model, image (H, W, 1), class_index) -> (H, W): d score / d pixel * pixel."""
    (linear, linear_gradient), (deep, deep_gradient) = _small_dense_models()
    gradients = {id(linear): linear_gradient, id(deep): deep_gradient}

    def gradient(model, image, c):
        return gradients[id(model)](image, c)

    def answer(model, image, c):
        return gradient(model, image, c) * image[:, :, 0]

    images = _GRADIENT_IMAGES
    cases = [
        ((model, image, c), f"with class_index {c}, for a {kind} model of a 4x4 image")
        for model, kind, image, c in [
            (linear, "linear", images[0], 1),
            (linear, "linear", images[1], 2),
            (deep, "two-layer", images[2], 0),
            (deep, "two-layer", images[2], 2),
        ]
    ]

    def other_class(got, expected, args):
        model, image, c = args
        return any(_same(got, answer(model, image, k)) for k in range(3) if k != c)

    def with_batch_axes(got, expected, args):
        return (
            got.shape != expected.shape
            and got.size == expected.size
            and _same(got.reshape(expected.shape), expected)
        )

    def watched(model, image, c):
        try:
            return fn(model, image, c)
        except (TypeError, AttributeError) as exc:
            if "NoneType" not in str(exc):
                raise
            raise type(exc)(
                f"{exc}; the gradient is None: inside the tape, call tape.watch(x) on the "
                "image as a tensor, x = tf.convert_to_tensor(image[None]), and compute the "
                "score from that same x"
            ) from None

    _check(
        "gradient x input",
        watched,
        answer,
        cases,
        [
            (
                _gives(gradient),
                "Your output is the gradient alone {where}: multiply it by the image, pixel by "
                "pixel",
            ),
            (
                _gives(lambda model, image, c: np.abs(answer(model, image, c))),
                "Your output has no negative values but it should {where}: keep the sign of the "
                "gradient (no abs); a negative value is a pixel that lowers the score",
            ),
            (
                _gives(lambda model, image, c: sum(answer(model, image, k) for k in range(3))),
                "Your output is the gradient of all the scores added up {where}: take the "
                "score of one class, scores[0, class_index], inside the tape",
            ),
            (
                other_class,
                "Your output is the map of another class {where}: take the score of "
                "class_index, scores[0, class_index]",
            ),
            (
                with_batch_axes,
                "Your output is {got} but should be {expected} {where}: drop the batch and "
                "channel axes, gradient[0, :, :, 0]",
            ),
        ],
        "the map has one value per pixel, (H, W)",
    )


# Notebook 09: perturbations and robustness. Notebooks 09 and 10 draw their cases from RNGs of
# their own, so that adding a check never changes the cases (and stored outputs) of another.
_RNG_09 = np.random.default_rng(8)
_RNG_10 = np.random.default_rng(9)


def check_flip_left_right(fn: Callable) -> None:
    """Check fn(images (N, H, W, C)) -> every image mirrored left to right."""
    cases = [
        ((_RNG_09.integers(0, 10, (2, 4, 5, 1)).astype(float),), "on 2 images of 4x5"),
        (
            (_RNG_09.integers(0, 10, (3, 6, 3, 2)).astype(float),),
            "on 3 images of 6x3 with 2 channels",
        ),
    ]
    _check(
        "flip_left_right",
        fn,
        lambda images: images[:, :, ::-1],
        cases,
        [
            (
                _gives(np.fliplr),
                "Your images are upside down {where}: np.fliplr flips axis 1, which is the "
                "height in (N, H, W, C); left-right is axis 2, images[:, :, ::-1]",
            ),
            (
                _gives(lambda images: images[:, ::-1]),
                "Your images are upside down {where}: axis 1 is the height; flip axis 2, the "
                "width, with images[:, :, ::-1]",
            ),
            (
                _gives(lambda images: images[::-1]),
                "You reversed the order of the images {where}: axis 0 is the batch; flip axis 2, "
                "the width",
            ),
        ],
        "a mirrored image keeps its shape",
    )


class _BrightestColumnModel:
    """A stand-in for a Keras model: predicts the class (column of the brightest pixel) % 10."""

    def predict(self, images, verbose=0, batch_size=None):
        images = np.asarray(images)
        column = images.sum(axis=-1).reshape(len(images), -1).argmax(axis=1) % images.shape[2]
        return np.eye(10, dtype=np.float32)[column % 10]


def _worst_case_accuracy(model, images, labels, shifts) -> np.float64:
    right = np.ones(len(images), dtype=bool)
    for dx, dy in shifts:
        right &= model.predict(shift(images, dx, dy), verbose=0).argmax(axis=1) == labels
    return np.float64(right.mean())


def _robustness_case(n, h, w, shifts):
    images = _RNG_09.random((n, h, w, 1)).astype(np.float32)
    labels = _BrightestColumnModel().predict(images).argmax(axis=1)
    labels[::3] = (labels[::3] + 1) % 10  # a third are wrong even unshifted
    where = f"on {n} images of {h}x{w} with shifts {shifts}"
    return (_BrightestColumnModel(), images, labels, shifts), where


_ROBUSTNESS_CASES = [
    _robustness_case(12, 5, 8, [(0, 0), (1, 0), (0, 1)]),
    _robustness_case(20, 6, 9, [(1, 1), (-2, 0)]),
]


def check_worst_case_accuracy(fn: Callable) -> None:
    """Check fn(model, images, labels, shifts) -> the share of images classified right under
    every shift (dx, dy) in `shifts`."""

    def per_shift(model, images, labels, shifts):
        return [
            np.mean(model.predict(shift(images, dx, dy)).argmax(axis=1) == labels)
            for dx, dy in shifts
        ]

    _check(
        "worst-case accuracy",
        fn,
        _worst_case_accuracy,
        _ROBUSTNESS_CASES,
        [
            (
                _gives(lambda *args: np.mean(per_shift(*args))),
                "Your function returned {got} but the answer is {expected} {where}: that is the "
                "average accuracy over the shifts; an image counts only if it is right under "
                "EVERY shift (keep a boolean per image and combine the shifts with &)",
            ),
            (
                _gives(lambda *args: np.min(per_shift(*args))),
                "Your function returned {got} but the answer is {expected} {where}: that is the "
                "lowest of the per-shift accuracies, but different images can fail under "
                "different shifts; keep a boolean per image and combine the shifts with &",
            ),
            (
                _gives(
                    lambda model, images, labels, shifts: np.mean(
                        model.predict(images).argmax(axis=1) == labels
                    )
                ),
                "Your function returned {got}, the accuracy on the unshifted images, {where}: "
                "shift the images, shift(images, dx, dy), for each (dx, dy) in shifts",
            ),
        ],
    )


# Notebook 10: a learning-rate schedule, and test-time augmentation.


def _keras_warmup_cosine(step, peak, warmup_steps, total_steps) -> np.float64:
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, total_steps - warmup_steps, warmup_target=peak, warmup_steps=warmup_steps
    )
    return np.float64(float(schedule(step)))


def check_warmup_cosine(fn: Callable) -> None:
    """Check fn(step, peak, warmup_steps, total_steps) -> the learning rate at `step`, against
    Keras's CosineDecay with a linear warm-up from 0."""

    def no_clamp(step, peak, warmup_steps, total_steps):
        if step < warmup_steps:
            return peak * step / warmup_steps
        t = (step - warmup_steps) / (total_steps - warmup_steps)
        return peak * (1 + np.cos(np.pi * t)) / 2

    cases = [
        ((step, 3e-3, 430, 4300), f"at step {step} of 4300 with 430 warm-up steps")
        for step in (0, 215, 430, 1000, 2365, 4000, 4300)
    ] + [((5000, 3e-3, 430, 4300), "at step 5000, after the end (4300)")]
    _check(
        "warmup_cosine",
        fn,
        _keras_warmup_cosine,
        cases,
        [
            (
                _gives(no_clamp),
                "Your function returned {got} but the answer is {expected} {where}: after "
                "total_steps the rate should stay at 0; clip t at 1 with min(1, t)",
            ),
            (
                _gives(lambda step, peak, w, total: no_clamp(max(step, w), peak, w, total)),
                "Your function returned {got} but the answer is {expected} {where}: during the "
                "warm-up the rate rises in a straight line, peak * step / warmup_steps",
            ),
            (
                _gives(
                    lambda step, peak, w, total: (
                        no_clamp(step, peak, w, total)
                        if step < w
                        else no_clamp(step * (total - w) / total + w, peak, w, total)
                    )
                ),
                "Your function returned {got} but the answer is {expected} {where}: t should "
                "run from 0 at warmup_steps to 1 at total_steps, "
                "(step - warmup_steps) / (total_steps - warmup_steps)",
            ),
        ],
    )


class _SoftColumnModel:
    """A stand-in for a Keras model whose probabilities change smoothly as an image moves."""

    def predict(self, images, verbose=0, batch_size=None):
        columns = np.asarray(images, dtype=np.float64).sum(axis=(1, 3))  # (N, W)
        weights = np.random.default_rng(columns.shape[1]).normal(size=(columns.shape[1], 10))
        return cnn.softmax(columns @ weights).astype(np.float32)


def _tta(model, images, shifts) -> np.ndarray:
    return np.mean([model.predict(shift(images, dx, dy)) for dx, dy in shifts], axis=0)


def check_test_time_augmentation(fn: Callable) -> None:
    """Check fn(model, images, shifts) -> the mean of model.predict over the shifted copies,
    `(N, 10)` probabilities."""
    cases = []
    for n, h, w, shifts in [(4, 5, 6, [(0, 0), (1, 0), (0, 1)]), (3, 6, 7, [(0, 0), (-1, 1)])]:
        images = _RNG_10.random((n, h, w, 1)).astype(np.float32)
        cases.append(((_SoftColumnModel(), images, shifts), f"on {n} images with shifts {shifts}"))
    _check(
        "test_time_augmentation",
        fn,
        _tta,
        cases,
        [
            (
                _gives(
                    lambda model, images, shifts: np.sum(
                        [model.predict(shift(images, dx, dy)) for dx, dy in shifts], axis=0
                    )
                ),
                "Your rows add up to the number of shifts {where}: that is the sum; divide by "
                "the number of shifts (np.mean(..., axis=0))",
            ),
            (
                _gives(lambda model, images, shifts: model.predict(images)),
                "Your output is the prediction for the unshifted images {where}: predict on "
                "shift(images, dx, dy) for each (dx, dy) in shifts",
            ),
            (
                _gives(
                    lambda model, images, shifts: np.mean(
                        [
                            np.eye(10)[model.predict(shift(images, dx, dy)).argmax(1)]
                            for dx, dy in shifts
                        ],
                        axis=0,
                    )
                ),
                "Your output counts votes {where}: average the probabilities themselves, not "
                "which class each copy picks",
            ),
            (
                _gives(lambda model, images, shifts: _tta(model, images, shifts).argmax(axis=1)),
                "Your output is {got} but should be {expected} {where}: return the averaged "
                "probabilities, one row of 10 per image, not the predicted classes",
            ),
        ],
        "one row of 10 probabilities per image: average over the shifts with axis=0",
    )
