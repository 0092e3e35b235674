"""Convolution, padding, pooling and friends written in NumPy, with Keras's semantics.

Images are channels-last, as in Keras: `(H, W)` for one grayscale image, `(H, W, C)` for one image
with C channels and `(N, H, W, C)` for a batch. Kernels are `(kh, kw)` for a 2-D image and
`(kh, kw, C, F)` otherwise (F filters). "Convolution" is cross-correlation, as in every
deep-learning library: the kernel is not flipped.

`padding` is "valid" (none), "same" (TensorFlow's rule: the output size is `ceil(n / stride)`,
and the odd padded pixel, if any, goes at the bottom or right) or, for convolutions, a
non-negative int (that many zeros on every side).

`conv2d_loops` is the readable version, two `for` loops; the other functions are vectorised: the
windows are a strided view of the (padded) input, and a convolution is a matrix product (made a
block at a time, a few images or a few rows of one image, so that its rows stay in the CPU's
cache, and shared out between its cores).
"""

import functools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import ThreadpoolController

_BLOCK_BYTES = 2**21  # the most im2col rows that conv2d makes and multiplies at a time
_BLAS = ThreadpoolController()  # sets how many threads NumPy's matrix product may use
_BLAS_LOCK = threading.Lock()  # held by the one conv2d call whose blocks are running


@functools.cache
def _cores() -> ThreadPoolExecutor:
    """A thread per core, started once: starting them at every call would cost more than a
    convolution of a few small images."""
    return ThreadPoolExecutor(os.cpu_count())


if hasattr(os, "register_at_fork"):  # Linux and macOS: a forked child has none of the threads
    os.register_at_fork(after_in_child=_cores.cache_clear)


def _constant(rows: list[list[int]]) -> np.ndarray:
    """A read-only int array, so that no notebook changes a shared example by accident."""
    array = np.array(rows)
    array.flags.writeable = False
    return array


# The original tutorial's worked examples, verbatim: a 6x6 grayscale image, the sharpen kernel,
# and a 4x4 input for pooling (2x2 max pooling gives [[6, 5], [8, 7]]).
EXAMPLE_IMAGE_6X6 = _constant(
    [
        [1, 2, 8, 6, 12, 1],
        [7, 5, 6, 9, 5, 2],
        [6, 9, 10, 2, 3, 9],
        [6, 5, 6, 5, 12, 13],
        [7, 6, 4, 8, 11, 3],
        [8, 9, 1, 6, 4, 8],
    ]
)
SHARPEN_KERNEL = _constant([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
EXAMPLE_POOL_4X4 = _constant([[1, 2, 5, 2], [6, 4, 2, 4], [2, 1, 3, 7], [8, 5, 1, 6]])


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _positive_int(value: object, name: str, kind: str = "an int") -> int:
    if not _is_int(value):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def _pair(value: object, name: str) -> tuple[int, int]:
    """(a, b) from an int or a pair of ints, each at least 1 (a stride or a pool size)."""
    kind = "an int or a pair of ints"
    if isinstance(value, tuple | list) and len(value) == 2:
        return _positive_int(value[0], name, kind), _positive_int(value[1], name, kind)
    size = _positive_int(value, name, kind)
    return size, size


def _check_padding(padding: object, allow_int: bool = True) -> str | int:
    """'valid', 'same' (any case) or, if allowed, a non-negative int."""
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        return padding.lower()
    if allow_int and _is_int(padding):
        if padding < 0:
            raise ValueError(f"padding must not be negative, got {padding}")
        return int(padding)
    options = "'valid', 'same' or a non-negative int" if allow_int else "'valid' or 'same'"
    raise ValueError(f"padding must be {options}, got {padding!r}")


def _axis_padding(n: int, k: int, stride: int, padding: str | int) -> tuple[int, int]:
    """(before, after): the padding along one axis of size n for a window of size k."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = max((-(-n // stride) - 1) * stride + k - n, 0)  # -(-n // stride) = ceil(n / s)
        return total // 2, total - total // 2
    return padding, padding


def _dims(sizes: tuple[int, ...]) -> str:
    """'5x4' for a 2-D size, 'size-5' for a 1-D one (for error messages)."""
    return "x".join(map(str, sizes)) if len(sizes) > 1 else f"size-{sizes[0]}"


def _check_fits(window: tuple, size: tuple, padded: tuple, what: str) -> None:
    """Raise unless the window fits in the padded input along every axis."""
    if any(k > p for k, p in zip(window, padded, strict=True)):
        grown = f" padded to {_dims(padded)}" if padded != size else ""
        raise ValueError(
            f"the {_dims(window)} {what} is larger than the {_dims(size)} input{grown}; "
            f"use padding='same' or a smaller {what}"
        )


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The type to compute in: the floats' common type (float32 stays float32, even with an int
    kernel, as in Keras), or float64 when no array holds floats."""
    floats = [a.dtype for a in arrays if np.issubdtype(a.dtype, np.inexact)]
    return np.result_type(*floats) if floats else np.dtype(np.float64)


def _to_batch(x: np.ndarray) -> np.ndarray:
    """View x of shape (H, W), (H, W, C) or (N, H, W, C) as (N, H, W, C)."""
    if x.ndim == 2:
        return x[None, :, :, None]
    if x.ndim == 3:
        return x[None]
    if x.ndim == 4:
        return x
    raise ValueError(
        f"x must have 2, 3 or 4 dimensions (H, W), (H, W, C) or (N, H, W, C); got shape {x.shape}"
    )


def _from_batch(y: np.ndarray, ndim: int) -> np.ndarray:
    """Undo `_to_batch`: y (N, H, W, C) back to the layout of an input with `ndim` dimensions."""
    if ndim == 2:
        return y[0, :, :, 0]
    if ndim == 3:
        return y[0]
    return y


def _fits(value, dtype) -> bool:
    """Can `value` be stored in an array of the integer (or bool) `dtype` unchanged?"""
    try:
        return bool(np.array(value, dtype=dtype) == value)
    except (OverflowError, ValueError, TypeError):
        return False


def pad2d(x, pad, value=0.0) -> np.ndarray:
    """Pad the two spatial axes of x, (H, W), (H, W, C) or (N, H, W, C), with `value`.

    `pad` is an int p (p rows or columns on every side) or ((top, bottom), (left, right)).
    """
    x = np.asarray(x)
    try:
        (top, bottom), (left, right) = ((pad, pad), (pad, pad)) if _is_int(pad) else pad
    except (TypeError, ValueError):
        raise ValueError(
            f"pad must be an int or ((top, bottom), (left, right)), got {pad!r}"
        ) from None
    if not all(map(_is_int, (top, bottom, left, right))):
        raise ValueError(f"pad must hold ints, got {pad!r}")
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"pad must not be negative, got {pad!r}")
    if x.dtype.kind in "iub" and not _fits(value, x.dtype):
        raise ValueError(
            f"value {value!r} cannot be stored in the image's dtype {x.dtype}: "
            "convert the image first, e.g. x.astype('float32')"
        )
    widths = ((0, 0), (top, bottom), (left, right), (0, 0))
    padded = np.pad(_to_batch(x), widths, constant_values=value)
    return _from_batch(padded, x.ndim)


def _windows(x, window, stride, padding, pad_value, what) -> np.ndarray:
    """All the windows of x (N, H, W, C), as a strided view of shape (N, H', W', kh, kw, C).

    `window` and `stride` are pairs, `padding` is already checked; the input is padded with
    `pad_value`. `what` names the window in the error raised when it does not fit.
    """
    size = x.shape[1:3]
    if 0 in size:
        raise ValueError(f"x has no pixels: its height and width are {size[0]} and {size[1]}")
    (top, bottom), (left, right) = pads = tuple(
        _axis_padding(n, k, s, padding) for n, k, s in zip(size, window, stride, strict=True)
    )
    _check_fits(window, size, (size[0] + top + bottom, size[1] + left + right), what)
    if top or bottom or left or right:
        x = pad2d(x, pads, pad_value)
    views = sliding_window_view(x, window, axis=(1, 2))  # (N, H-kh+1, W-kw+1, C, kh, kw)
    return views[:, :: stride[0], :: stride[1]].transpose(0, 1, 2, 4, 5, 3)


def _kernel_4d(kernel: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """The kernel as (kh, kw, C, F), checked against the shape of x."""
    if len(x_shape) == 2:
        if kernel.ndim != 2:
            raise ValueError(
                f"x of shape {x_shape} is one single-channel image (H, W), so the kernel must be "
                f"2-D (kh, kw); got shape {kernel.shape}"
            )
        kernel = kernel[:, :, None, None]
    elif kernel.ndim != 4:
        raise ValueError(
            f"x of shape {x_shape} has channels, so the kernel must be 4-D (kh, kw, C, F); "
            f"got shape {kernel.shape}"
        )
    elif kernel.shape[2] != x_shape[-1]:
        raise ValueError(f"kernel expects {kernel.shape[2]} input channels but x has {x_shape[-1]}")
    if kernel.size == 0:
        raise ValueError(f"the kernel must not be empty, got shape {kernel.shape}")
    return kernel


def conv2d(x, kernel, bias=None, stride=1, padding="valid") -> np.ndarray:
    """2-D convolution (cross-correlation) of x with kernel, as `keras.layers.Conv2D`.

    x (H, W) with kernel (kh, kw) gives (H', W'); x (H, W, C) with kernel (kh, kw, C, F) gives
    (H', W', F); x (N, H, W, C) gives (N, H', W', F). bias is (F,), or a number for a 2-D kernel.
    stride is an int or (sh, sw); padding is 'valid', 'same' or an int.
    H' = conv_output_size(H, kh, sh, padding), and the same for W'.
    """
    x, kernel = np.asarray(x), np.asarray(kernel)
    batch = _to_batch(x)
    kernel = _kernel_4d(kernel, x.shape)
    filters = kernel.shape[3]
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (() if x.ndim == 2 else (filters,)):
            wanted = "a single number" if x.ndim == 2 else f"of shape ({filters},), one per filter"
            raise ValueError(f"bias must be {wanted}; got shape {bias.shape}")
    dtype = _float_dtype(x, kernel)
    windows = _windows(
        batch.astype(dtype, copy=False),
        kernel.shape[:2],
        _pair(stride, "stride"),
        _check_padding(padding),
        0,
        "kernel",
    )
    out = _multiply_windows(windows, kernel.astype(dtype, copy=False).reshape(-1, filters))
    if bias is not None:
        out += bias.astype(dtype, copy=False)
    return _from_batch(out, x.ndim)


def _blocks(shape: tuple[int, ...], size: int) -> list[tuple]:
    """Index tuples that cut positions `shape` (N, H', W') into contiguous blocks of at most
    `size` >= 1: a few whole images, else a few rows of one image, else part of one row."""
    inner = math.prod(shape[1:])
    if size >= inner:
        step = size // inner
        return [(slice(i, i + step),) for i in range(0, shape[0], step)]
    within = _blocks(shape[1:], size)
    return [(i, *block) for i in range(shape[0]) for block in within]


def _multiply_windows(windows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """im2col: windows (N, H', W', kh, kw, C) times matrix (kh*kw*C, F) gives (N, H', W', F).

    Each window, flattened, is one row of a matrix (a copy of the strided view), and the
    convolution is the product (N*H'*W', kh*kw*C) @ (kh*kw*C, F), made a block of rows at a time.
    """
    out = np.empty((*windows.shape[:3], matrix.shape[1]), matrix.dtype)

    def multiply(block: tuple) -> None:
        rows = windows[block].reshape(-1, matrix.shape[0])
        np.matmul(rows, matrix, out=out[block].reshape(-1, matrix.shape[1]))

    _in_blocks(out.shape[:3], matrix.shape[0] * windows.itemsize, multiply)
    return out


def _in_blocks(positions: tuple[int, ...], row_bytes: int, work: Callable) -> list:
    """`work(block)` for blocks of the positions (N, H', W') whose im2col rows, `row_bytes`
    each, take at most _BLOCK_BYTES; returns the results in order.

    Each block's rows are copied and multiplied while still in the cache of the core that made
    them. Several blocks are shared out between the cores, each copying and multiplying its own
    with a one-thread matrix product: about twice as fast as one product over the whole batch,
    and steadier than the product's own threads, which wait for each copy. The one-thread limit
    holds for the whole process, and only the thread that set it can lift it (threadpoolctl's
    rule for OpenBLAS), so calls from several threads take turns, each one on every core.
    """
    blocks = _blocks(positions, max(1, _BLOCK_BYTES // row_bytes))
    if len(blocks) == 1:
        return [work(blocks[0])]
    with _BLAS_LOCK, _BLAS.limit(limits=1, user_api="blas"):
        return list(_cores().map(work, blocks))  # raises the first error of any block


def _checked_2d(image, kernel) -> tuple[np.ndarray, np.ndarray]:
    """`image` and `kernel` as arrays, after checking that both are 2-D and the kernel fits."""
    image, kernel = np.asarray(image), np.asarray(kernel)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W); got shape {image.shape}")
    _kernel_4d(kernel, image.shape)  # raises unless the kernel is 2-D and not empty
    _check_fits(kernel.shape, image.shape, image.shape, "kernel")
    return image, kernel


def conv2d_loops(image, kernel) -> np.ndarray:
    """Slide `kernel` over `image` (both 2-D): each output is a window times the kernel, summed.

    `(H, W)`, `(kh, kw)` -> `(H - kh + 1, W - kw + 1)`: `conv2d(image, kernel)` written with two
    loops ('valid' padding, stride 1). Notebook 02 builds it.
    """
    image, kernel = _checked_2d(image, kernel)
    kh, kw = kernel.shape
    out_h = image.shape[0] - kh + 1
    out_w = image.shape[1] - kw + 1
    out = np.zeros((out_h, out_w), dtype=_float_dtype(image, kernel))  # float32 stays float32
    for i in range(out_h):  # the window's top row
        for j in range(out_w):  # the window's left column
            window = image[i : i + kh, j : j + kw]
            out[i, j] = np.sum(window * kernel)
    return out


def _pool_windows(x, pool_size, stride, padding, pad_value) -> np.ndarray:
    """Pooling windows of x (N, H, W, C) as (N, H', W', ph, pw, C); see `_windows`."""
    window = _pair(pool_size, "pool_size")
    stride = window if stride is None else _pair(stride, "stride")
    padding = _check_padding(padding, allow_int=False)
    return _windows(x, window, stride, padding, pad_value, "pool window")


def _window_positions(windows: np.ndarray) -> list[np.ndarray]:
    """The windows `(N, H', W', ph, pw, C)` one position at a time: ph * pw views `(N, H', W',
    C)`, in reading order. An element-wise np.maximum over them is several times faster than a
    max over the strided windows' middle axes."""
    ph, pw = windows.shape[3:5]
    return [windows[:, :, :, i, j] for i in range(ph) for j in range(pw)]


def max_pool2d(x, pool_size=2, stride=None, padding="valid") -> np.ndarray:
    """Max pooling, as `keras.layers.MaxPooling2D`: the largest value of each window.

    x is (H, W), (H, W, C) or (N, H, W, C), and the output has the same layout. pool_size and
    stride are ints or pairs; stride defaults to pool_size. With padding='same' the padded
    pixels never win (they are -inf). A NaN in a window makes that output NaN (NumPy's rule;
    TensorFlow's CPU kernel may skip it instead), so a NaN is never hidden.
    """
    x = np.asarray(x)
    if x.dtype == bool:
        lowest = False
    elif np.issubdtype(x.dtype, np.inexact):
        lowest = -np.inf
    elif np.issubdtype(x.dtype, np.integer):
        lowest = np.iinfo(x.dtype).min
    else:
        raise ValueError(f"x must hold numbers, got dtype {x.dtype}")
    windows = _pool_windows(_to_batch(x), pool_size, stride, padding, lowest)
    return _from_batch(functools.reduce(np.maximum, _window_positions(windows)), x.ndim)


def avg_pool2d(x, pool_size=2, stride=None, padding="valid") -> np.ndarray:
    """Average pooling, as `keras.layers.AveragePooling2D`: the mean of each window.

    Same arguments and shapes as `max_pool2d`. With padding='same' the padded pixels are left
    out of the average: a window is divided by the number of real pixels in it. A NaN in a
    window makes that output NaN, as in Keras.
    """
    x = np.asarray(x)
    batch = _to_batch(x).astype(_float_dtype(x), copy=False)
    sums = _pool_windows(batch, pool_size, stride, padding, 0).sum(axis=(3, 4))
    ones = np.ones((1, *batch.shape[1:3], 1), dtype=batch.dtype)
    counts = _pool_windows(ones, pool_size, stride, padding, 0).sum(axis=(3, 4))
    return _from_batch(sums / counts, x.ndim)


def conv_output_size(n: int, k: int, stride: int = 1, padding: str | int = "valid") -> int:
    """The output size along one axis of size n, for a window of size k.

    'valid': (n - k) // stride + 1 (k must fit in n); 'same': ceil(n / stride);
    an int p: (n + 2p - k) // stride + 1.
    """
    n, k = _positive_int(n, "n"), _positive_int(k, "k")
    stride = _positive_int(stride, "stride")
    before, after = _axis_padding(n, k, stride, _check_padding(padding))
    _check_fits((k,), (n,), (n + before + after,), "kernel")
    return (n + before + after - k) // stride + 1


def relu(x) -> np.ndarray:
    """max(x, 0), element-wise; same shape and dtype as x."""
    return np.maximum(x, 0)


def softmax(z, axis: int = -1) -> np.ndarray:
    """exp(z) / sum(exp(z)) along `axis` (default: each row); same shape as z.

    The maximum is subtracted first: that does not change the result, and exp never overflows.
    """
    z = np.asarray(z)
    if z.size == 0:
        raise ValueError(f"softmax needs at least one value along axis {axis}, got shape {z.shape}")
    z = z.astype(_float_dtype(z), copy=False)
    exp = np.exp(z - z.max(axis=axis, keepdims=True))
    return exp / exp.sum(axis=axis, keepdims=True)
