"""helpers.numpy_cnn against TensorFlow and Keras, on hundreds of small random cases."""

import itertools
import os
import signal
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import numpy_cnn as cnn

TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}
IMAGE_SIZES = [(5, 7), (8, 8), (13, 6), (6, 5), (9, 9), (7, 12)]


class ConvCase(NamedTuple):
    seed: int
    batch: int
    size: tuple[int, int]
    channels: int
    filters: int
    kernel: tuple[int, int]
    stride: int | tuple[int, int]
    padding: str | int

    def __str__(self) -> str:
        (h, w), (kh, kw) = self.size, self.kernel
        return (
            f"x{self.batch}x{h}x{w}x{self.channels}-k{kh}x{kw}x{self.filters}"
            f"-s{self.stride}-p{self.padding}".replace(" ", "")
        )

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x (N, H, W, C), kernel (kh, kw, C, F) and bias (F,), float32."""
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.batch, *self.size, self.channels), dtype=np.float32)
        kernel = rng.standard_normal((*self.kernel, self.channels, self.filters), dtype=np.float32)
        return x, kernel, rng.standard_normal(self.filters, dtype=np.float32)


class PoolCase(NamedTuple):
    seed: int
    batch: int
    size: tuple[int, int]
    channels: int
    pool_size: int | tuple[int, int]
    stride: int | tuple[int, int] | None
    padding: str

    def __str__(self) -> str:
        h, w = self.size
        return (
            f"x{self.batch}x{h}x{w}x{self.channels}-pool{self.pool_size}-s{self.stride}"
            f"-{self.padding}".replace(" ", "")
        )

    def x(self) -> np.ndarray:
        shape = (self.batch, *self.size, self.channels)
        return np.random.default_rng(self.seed).standard_normal(shape, dtype=np.float32)


def conv_cases() -> list[ConvCase]:
    """Every kernel x stride x padding, twice, with a random batch, image size and channels."""
    rng = np.random.default_rng(0)
    kernels = [(1, 1), (2, 2), (3, 3), (2, 3), (5, 4)]
    strides = [1, 2, 3, (1, 2), (2, 1), (3, 2)]
    paddings = ["valid", "same", 0, 1, 2]
    combos = itertools.product(kernels, strides, paddings, range(2))
    return [
        ConvCase(
            seed=seed,
            batch=int(rng.integers(1, 4)),
            size=IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))],
            channels=int(rng.integers(1, 5)),
            filters=int(rng.integers(1, 5)),
            kernel=kernel,
            stride=stride,
            padding=padding,
        )
        for seed, (kernel, stride, padding, _) in enumerate(combos)
    ]


def pool_cases() -> list[PoolCase]:
    """Every pool size x stride x padding, twice, with a random batch, image size and channels."""
    rng = np.random.default_rng(1)
    pool_sizes = [1, 2, 3, (2, 3), (3, 1)]
    strides = [None, 1, 2, (1, 2), (3, 2)]
    combos = itertools.product(pool_sizes, strides, ["valid", "same"], range(2))
    return [
        PoolCase(
            seed=seed,
            batch=int(rng.integers(1, 4)),
            size=IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))],
            channels=int(rng.integers(1, 5)),
            pool_size=pool_size,
            stride=stride,
            padding=padding,
        )
        for seed, (pool_size, stride, padding, _) in enumerate(combos)
    ]


CONV_CASES = conv_cases()
POOL_CASES = pool_cases()


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else value


def tf_padding(padding: str | int) -> str | list[list[int]]:
    """tf.nn.conv2d's padding: 'VALID', 'SAME' or explicit [[0, 0], [p, p], [p, p], [0, 0]]."""
    if isinstance(padding, str):
        return padding.upper()
    return [[0, 0], [padding, padding], [padding, padding], [0, 0]]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_tf_nn_conv2d(case: ConvCase):
    x, kernel, bias = case.arrays()
    expected = tf.nn.conv2d(x, kernel, pair(case.stride), tf_padding(case.padding)) + bias
    got = cnn.conv2d(x, kernel, bias, stride=case.stride, padding=case.padding)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, **TOLERANCE)


def block_sizes(monkeypatch) -> list[int]:
    """Spy on conv2d's matrix products: the list fills with the bytes of each block's rows."""
    sizes, matmul = [], np.matmul

    def recording_matmul(rows, *args, **kwargs):
        sizes.append(rows.nbytes)
        return matmul(rows, *args, **kwargs)

    monkeypatch.setattr(cnn.np, "matmul", recording_matmul)
    return sizes


@pytest.mark.parametrize("unit", ["image", "row", "pixel"])
@pytest.mark.parametrize("case", [c for c in CONV_CASES if c.batch > 1][::10], ids=str)
def test_conv2d_in_blocks_matches_tf(case: ConvCase, unit: str, monkeypatch):
    """conv2d multiplies a block at a time: here one image, one output row or one pixel a block."""
    x, kernel, bias = case.arrays()
    expected = tf.nn.conv2d(x, kernel, pair(case.stride), tf_padding(case.padding)) + bias
    out_h, out_w = expected.shape[1:3]
    window = kernel[..., 0].nbytes  # one window's row of the im2col matrix
    pixels = {"image": out_h * out_w, "row": out_w, "pixel": 1}[unit]
    monkeypatch.setattr(cnn, "_BLOCK_BYTES", pixels * window)
    sizes = block_sizes(monkeypatch)
    got = cnn.conv2d(x, kernel, bias, stride=case.stride, padding=case.padding)
    assert sizes == [pixels * window] * (case.batch * out_h * out_w // pixels)
    np.testing.assert_allclose(got, expected, **TOLERANCE)


def large_image() -> tuple[np.ndarray, np.ndarray]:
    """One 500x500 image with 16 channels and kernels (5, 5, 16, 16), float32: 15 MiB each way."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((500, 500, 16), dtype=np.float32)
    return x, rng.standard_normal((5, 5, 16, 16), dtype=np.float32)


def test_conv2d_cuts_a_large_image_into_blocks_and_matches_tf(monkeypatch):
    x, kernel = large_image()
    expected = tf.nn.conv2d(x[None], kernel, 1, "SAME")[0]
    sizes = block_sizes(monkeypatch)
    got = cnn.conv2d(x, kernel, padding="same")
    assert max(sizes) <= cnn._BLOCK_BYTES
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_conv2d_of_a_large_image_needs_little_memory():
    """The extra memory is the padded copy, the output and a block per core, not im2col's rows
    for the whole image (25 times the input for a 5x5 kernel)."""
    x, kernel = large_image()
    tracemalloc.start()  # NumPy reports its arrays' memory to tracemalloc
    try:
        out = cnn.conv2d(x, kernel, padding="same")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    bound = 2 * (x.nbytes + out.nbytes) + os.cpu_count() * cnn._BLOCK_BYTES + 2**20
    assert peak < bound, f"peak {peak / 2**20:.0f} MiB, bound {bound / 2**20:.0f} MiB"


def test_conv2d_on_a_batch_larger_than_a_block():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 28, 28, 32), dtype=np.float32)  # 4 blocks of 2 images or fewer
    kernel = rng.standard_normal((3, 3, 32, 4), dtype=np.float32)
    expected = tf.nn.conv2d(x, kernel, 1, "SAME")
    np.testing.assert_allclose(
        cnn.conv2d(x, kernel, padding="same"), expected, rtol=1e-4, atol=1e-4
    )


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in cnn._BLAS.info() if pool["user_api"] == "blas"]


def test_conv2d_gives_numpy_back_its_threads(monkeypatch):
    """The blocks run one BLAS thread each; afterwards, and after an error, NumPy has its own."""
    before = blas_threads()
    assert before, "NumPy's BLAS library was not found"
    monkeypatch.setattr(cnn, "_BLOCK_BYTES", 6 * 6 * 18 * 8)  # one image (float64): 4 blocks
    x = np.ones((4, 8, 8, 2), dtype=np.float32)
    during, matmul = [], np.matmul

    def counting_matmul(*args, **kwargs):
        during.append(blas_threads())
        return matmul(*args, **kwargs)

    monkeypatch.setattr(cnn.np, "matmul", counting_matmul)
    np.testing.assert_array_equal(cnn.conv2d(x, np.ones((3, 3, 2, 1))), 18)
    assert during == [[1] * len(before)] * 4  # 4 blocks, each on one BLAS thread
    assert blas_threads() == before

    def fail(*args, **kwargs):
        raise MemoryError("no room for the rows")

    monkeypatch.setattr(cnn.np, "matmul", fail)
    with pytest.raises(MemoryError, match="no room"):
        cnn.conv2d(x, np.ones((3, 3, 2, 1)))
    assert blas_threads() == before


def test_conv2d_from_several_threads_gives_numpy_back_its_threads():
    """8 threads call conv2d at once, 25 times each, 2 blocks a call: afterwards NumPy's BLAS has
    the threads it had before, and every result is the one a single thread gets."""
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((3, 28, 28, 32), dtype=np.float32) for _ in range(8)]
    kernel = rng.standard_normal((3, 3, 32, 4), dtype=np.float32)
    expected = [cnn.conv2d(x, kernel, padding="same") for x in inputs]
    before = blas_threads()
    start = threading.Barrier(len(inputs))

    def convolve(x: np.ndarray) -> list[np.ndarray]:
        start.wait()
        return [cnn.conv2d(x, kernel, padding="same") for _ in range(25)]

    with ThreadPoolExecutor(len(inputs)) as threads:
        results = list(threads.map(convolve, inputs))
    assert blas_threads() == before
    for outputs, want in zip(results, expected, strict=True):
        for got in outputs:
            np.testing.assert_array_equal(got, want)


def test_conv2d_starts_its_threads_once(monkeypatch):
    monkeypatch.setattr(cnn, "_BLOCK_BYTES", 6 * 6 * 18 * 4)  # one image (float32): 4 blocks
    x, kernel = np.ones((4, 8, 8, 2), dtype=np.float32), np.ones((3, 3, 2, 1), dtype=np.float32)
    cnn.conv2d(x, kernel)
    threads = threading.active_count()
    for _ in range(5):
        np.testing.assert_array_equal(cnn.conv2d(x, kernel), 18)
    assert threading.active_count() == threads


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on Linux and macOS only")
def test_conv2d_works_in_a_forked_child(monkeypatch):
    """A child forked after a convolution has none of its parent's threads: it starts its own."""
    monkeypatch.setattr(cnn, "_BLOCK_BYTES", 6 * 6 * 18 * 4)
    x, kernel = np.ones((4, 8, 8, 2), dtype=np.float32), np.ones((3, 3, 2, 1), dtype=np.float32)
    cnn.conv2d(x, kernel)
    child = os.fork()
    if child == 0:  # the child: exit 0 if it convolves right, 1 otherwise, and nothing else
        try:
            os._exit(0 if (cnn.conv2d(x, kernel) == 18).all() else 1)
        finally:
            os._exit(1)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:  # still running: waiting for threads that the fork did not copy
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("conv2d hung in a forked child")
    status = done[1]
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize(
    "case", [case for case in CONV_CASES if isinstance(case.padding, str)], ids=str
)
def test_conv2d_matches_keras_conv2d_layer(case: ConvCase):
    x, kernel, bias = case.arrays()
    layer = keras.layers.Conv2D(
        case.filters, case.kernel, strides=case.stride, padding=case.padding
    )
    layer.build(x.shape)
    layer.set_weights([kernel, bias])
    got = cnn.conv2d(x, kernel, bias, stride=case.stride, padding=case.padding)
    np.testing.assert_allclose(got, layer(x), **TOLERANCE)


POOLS = {
    "max": (cnn.max_pool2d, tf.nn.max_pool2d, keras.layers.MaxPooling2D),
    "avg": (cnn.avg_pool2d, tf.nn.avg_pool2d, keras.layers.AveragePooling2D),
}


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pooling_matches_tf_nn_and_keras(case: PoolCase, kind: str):
    ours, tf_pool, keras_layer = POOLS[kind]
    x = case.x()
    stride = case.pool_size if case.stride is None else case.stride
    got = ours(x, case.pool_size, case.stride, case.padding)
    assert got.dtype == np.float32
    expected = tf_pool(x, pair(case.pool_size), pair(stride), case.padding.upper())
    np.testing.assert_allclose(got, expected, **TOLERANCE)
    layer = keras_layer(case.pool_size, strides=case.stride, padding=case.padding)
    np.testing.assert_allclose(got, layer(x), **TOLERANCE)


IMAGE = np.random.default_rng(3).standard_normal((7, 6), dtype=np.float32)
COLOUR_IMAGE = np.random.default_rng(4).standard_normal((7, 6, 3), dtype=np.float32)


@pytest.mark.parametrize("padding", ["valid", "same", 1])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_of_one_image_is_a_batch_of_one(stride: int, padding: str | int):
    rng = np.random.default_rng(5)
    kernel = rng.standard_normal((3, 2), dtype=np.float32)
    batch = cnn.conv2d(IMAGE[None, :, :, None], kernel[:, :, None, None], [0.5], stride, padding)
    np.testing.assert_allclose(
        cnn.conv2d(IMAGE, kernel, 0.5, stride, padding), batch[0, :, :, 0], **TOLERANCE
    )
    kernels = rng.standard_normal((3, 2, 3, 4), dtype=np.float32)
    np.testing.assert_allclose(
        cnn.conv2d(COLOUR_IMAGE, kernels, stride=stride, padding=padding),
        cnn.conv2d(COLOUR_IMAGE[None], kernels, stride=stride, padding=padding)[0],
        **TOLERANCE,
    )


@pytest.mark.parametrize("pool", [cnn.max_pool2d, cnn.avg_pool2d])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_of_one_image_is_a_batch_of_one(pool, padding: str):
    np.testing.assert_array_equal(
        pool(IMAGE, 2, 1, padding), pool(IMAGE[None, :, :, None], 2, 1, padding)[0, :, :, 0]
    )
    np.testing.assert_array_equal(
        pool(COLOUR_IMAGE, 3, 2, padding), pool(COLOUR_IMAGE[None], 3, 2, padding)[0]
    )


# The tutorial's worked example, by hand. Top-left output pixel: the window is
# [[1, 2, 8], [7, 5, 6], [6, 9, 10]], so 5 * 5 - (2 + 7 + 6 + 9) = 1.
SHARPENED_VALID = [
    [1, -2, 26, -1],
    [19, 27, -17, -13],
    [-2, 6, -3, 28],
    [5, -1, 14, 28],
]
# With a border of zeros: the top-left pixel is 5 * 1 - (0 + 0 + 2 + 7) = -4.
SHARPENED_SAME = [
    [-4, -4, 26, 1, 48, -9],
    [23, 1, -2, 26, -1, -5],
    [8, 19, 27, -17, -13, 27],
    [12, -2, 6, -3, 28, 41],
    [15, 5, -1, 14, 28, -17],
    [24, 30, -14, 17, -5, 33],
]


def tf_conv_2d(image: np.ndarray, kernel: np.ndarray, padding: str) -> np.ndarray:
    """tf.nn.conv2d on one (H, W) image with one (kh, kw) kernel."""
    x = tf.constant(image[None, :, :, None], tf.float32)
    k = tf.constant(kernel[:, :, None, None], tf.float32)
    return tf.nn.conv2d(x, k, 1, padding)[0, :, :, 0].numpy()


@pytest.mark.parametrize(
    ("padding", "expected"), [("valid", SHARPENED_VALID), ("same", SHARPENED_SAME)]
)
def test_example_image_sharpened(padding: str, expected: list[list[int]]):
    image, kernel = cnn.EXAMPLE_IMAGE_6X6, cnn.SHARPEN_KERNEL
    got = cnn.conv2d(image, kernel, padding=padding)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(tf_conv_2d(image, kernel, padding.upper()), expected)
    if padding == "valid":
        np.testing.assert_array_equal(cnn.conv2d_loops(image, kernel), expected)
    else:
        np.testing.assert_array_equal(cnn.conv2d(image, kernel, padding=1), expected)


def test_example_pooling():
    np.testing.assert_array_equal(cnn.max_pool2d(cnn.EXAMPLE_POOL_4X4), [[6, 5], [8, 7]])
    np.testing.assert_array_equal(cnn.avg_pool2d(cnn.EXAMPLE_POOL_4X4), [[3.25, 3.25], [4.0, 4.25]])
    x = cnn.EXAMPLE_POOL_4X4[None, :, :, None].astype(np.float32)
    np.testing.assert_array_equal(tf.nn.max_pool2d(x, 2, 2, "VALID")[0, :, :, 0], [[6, 5], [8, 7]])


def test_example_arrays_are_read_only():
    for array in (cnn.EXAMPLE_IMAGE_6X6, cnn.SHARPEN_KERNEL, cnn.EXAMPLE_POOL_4X4):
        with pytest.raises(ValueError, match="read-only"):
            array[0, 0] = 1


def test_same_pooling_ignores_the_padding():
    """Padding never wins a max and is not counted in an average (TensorFlow's rule)."""
    negative = -np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_array_equal(cnn.max_pool2d(negative, 2, padding="same"), [[-1, -3], [-7, -9]])
    np.testing.assert_array_equal(
        cnn.avg_pool2d(np.ones((3, 3)), 2, padding="same"), np.ones((2, 2))
    )
    np.testing.assert_array_equal(
        cnn.avg_pool2d(negative, 2, padding="same"), [[-3.0, -4.5], [-7.5, -9.0]]
    )


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_output_size_matches_keras(padding: str):
    mismatches = []
    for n, k, stride in itertools.product(range(1, 12), range(1, 6), range(1, 4)):
        if padding == "valid" and k > n:
            continue
        layer = keras.layers.Conv2D(1, (k, 1), strides=(stride, 1), padding=padding)
        keras_size = layer.compute_output_shape((1, n, 1, 1))[1]
        if cnn.conv_output_size(n, k, stride, padding) != keras_size:
            mismatches.append((n, k, stride, keras_size))
    assert not mismatches, (
        f"(n, k, stride, Keras's size) where conv_output_size differs: {mismatches}"
    )


@pytest.mark.parametrize("case", CONV_CASES[::10], ids=str)
def test_conv_output_size_matches_conv2d(case: ConvCase):
    x, kernel, _ = case.arrays()
    out = cnn.conv2d(x, kernel, stride=case.stride, padding=case.padding)
    sizes = [
        cnn.conv_output_size(n, k, s, case.padding)
        for n, k, s in zip(case.size, case.kernel, pair(case.stride), strict=True)
    ]
    assert list(out.shape[1:3]) == sizes


def test_conv_output_size_examples():
    assert cnn.conv_output_size(28, 3) == 26
    assert cnn.conv_output_size(28, 3, padding="same") == 28
    assert cnn.conv_output_size(7, 3, 2, "same") == 4
    assert cnn.conv_output_size(7, 3, 2, 1) == 4
    assert cnn.conv_output_size(3, 5, 1, 1) == 1


@pytest.mark.parametrize("seed", range(20))
def test_conv2d_loops_equals_conv2d(seed: int):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(3, 10, size=2)
    kh, kw = rng.integers(1, min(h, w) + 1, size=2)
    image = rng.standard_normal((h, w), dtype=np.float32)
    kernel = rng.standard_normal((kh, kw), dtype=np.float32)
    got = cnn.conv2d_loops(image, kernel)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, cnn.conv2d(image, kernel), **TOLERANCE)


def test_dtypes():
    x32 = np.ones((4, 4), np.float32)
    assert cnn.conv2d(x32, x32[:3, :3]).dtype == np.float32
    assert cnn.conv2d(x32, x32[:3, :3], bias=np.float64(1.0)).dtype == np.float32
    assert cnn.conv2d(x32.astype(np.float64), x32[:3, :3]).dtype == np.float64
    assert cnn.conv2d(np.ones((4, 4), int), x32[:3, :3]).dtype == np.float32
    assert cnn.conv2d(x32, cnn.SHARPEN_KERNEL).dtype == np.float32  # an int kernel keeps float32
    assert cnn.conv2d(cnn.EXAMPLE_IMAGE_6X6, cnn.SHARPEN_KERNEL).dtype.kind == "f"
    assert cnn.max_pool2d(x32).dtype == np.float32
    assert cnn.avg_pool2d(x32).dtype == np.float32
    assert cnn.avg_pool2d(cnn.EXAMPLE_POOL_4X4).dtype.kind == "f"
    assert cnn.max_pool2d(cnn.EXAMPLE_POOL_4X4, padding="same").dtype == cnn.EXAMPLE_POOL_4X4.dtype
    assert cnn.relu(x32).dtype == np.float32
    assert cnn.softmax(x32).dtype == np.float32
    assert cnn.pad2d(x32, 1).dtype == np.float32


def test_pad2d():
    x = np.arange(24.0).reshape(2, 3, 4, 1)
    np.testing.assert_array_equal(cnn.pad2d(x, 1), np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    image = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(
        cnn.pad2d(image, ((1, 0), (2, 3)), value=-1),
        np.pad(image, ((1, 0), (2, 3)), constant_values=-1),
    )
    assert cnn.pad2d(np.ones((2, 3, 5)), 2).shape == (6, 7, 5)


def test_relu():
    x = np.random.default_rng(4).standard_normal((3, 5, 5, 2), dtype=np.float32)
    np.testing.assert_array_equal(cnn.relu(x), tf.nn.relu(x))
    np.testing.assert_array_equal(cnn.relu(x), keras.activations.relu(x))
    np.testing.assert_array_equal(cnn.relu([-2, 0, 3]), [0, 0, 3])


def test_softmax():
    z = np.random.default_rng(5).standard_normal((4, 6), dtype=np.float32) * 5
    got = cnn.softmax(z)
    np.testing.assert_allclose(got.sum(axis=-1), 1, **TOLERANCE)
    np.testing.assert_allclose(got, tf.nn.softmax(z), **TOLERANCE)
    np.testing.assert_allclose(got, keras.activations.softmax(z), **TOLERANCE)
    np.testing.assert_allclose(cnn.softmax(z, axis=0), tf.nn.softmax(z, axis=0), **TOLERANCE)


@pytest.mark.parametrize(
    ("z", "expected"),
    [([1000.0, 0.0], [1.0, 0.0]), ([-1000.0, 0.0], [0.0, 1.0]), ([1000.0, 1000.0], [0.5, 0.5])],
)
def test_softmax_is_stable_for_large_logits(z: list[float], expected: list[float]):
    with np.errstate(over="raise", invalid="raise"):  # exp(-1000) may underflow to 0
        np.testing.assert_allclose(cnn.softmax(z), expected, **TOLERANCE)
    np.testing.assert_allclose(cnn.softmax(np.float32(z)), tf.nn.softmax(np.float32(z)))


ZEROS_3X3 = np.zeros((3, 3))
BAD_INPUTS = {
    "x 1-D": (
        lambda: cnn.conv2d(np.zeros(5), ZEROS_3X3),
        r"x must have 2, 3 or 4 dimensions \(H, W\), \(H, W, C\) or \(N, H, W, C\); got shape "
        r"\(5,\)",
    ),
    "x 5-D pooled": (lambda: cnn.max_pool2d(np.zeros((1, 2, 4, 4, 1))), "x must have 2, 3 or 4"),
    "channels": (
        lambda: cnn.conv2d(np.zeros((5, 5, 1)), np.zeros((3, 3, 3, 2))),
        "kernel expects 3 input channels but x has 1",
    ),
    "kernel too large": (
        lambda: cnn.conv2d(ZEROS_3X3, np.zeros((5, 5))),
        r"the 5x5 kernel is larger than the 3x3 input; use padding='same' or a smaller kernel",
    ),
    "kernel too large padded": (
        lambda: cnn.conv2d(ZEROS_3X3, np.zeros((6, 6)), padding=1),
        "the 6x6 kernel is larger than the 3x3 input padded to 5x5",
    ),
    "loops kernel too large": (
        lambda: cnn.conv2d_loops(ZEROS_3X3, np.zeros((4, 2))),
        "the 4x2 kernel is larger than the 3x3 input",
    ),
    "pool too large": (
        lambda: cnn.avg_pool2d(ZEROS_3X3, 4),
        "the 4x4 pool window is larger than the 3x3 input",
    ),
    "stride 0": (
        lambda: cnn.conv2d(ZEROS_3X3, ZEROS_3X3, stride=0),
        "stride must be at least 1, got 0",
    ),
    "stride pair": (
        lambda: cnn.conv2d(ZEROS_3X3, ZEROS_3X3, stride=(1, 2, 3)),
        "stride must be an int or a pair of ints",
    ),
    "stride float": (lambda: cnn.max_pool2d(ZEROS_3X3, 2, 1.5), "stride must be an int"),
    "pool_size 0": (lambda: cnn.max_pool2d(ZEROS_3X3, 0), "pool_size must be at least 1"),
    "pool_size pair 0": (lambda: cnn.avg_pool2d(ZEROS_3X3, (2, 0)), "pool_size must be at least 1"),
    "padding full": (
        lambda: cnn.conv2d(ZEROS_3X3, ZEROS_3X3, padding="full"),
        "padding must be 'valid', 'same' or a non-negative int, got 'full'",
    ),
    "padding negative": (
        lambda: cnn.conv2d(ZEROS_3X3, ZEROS_3X3, padding=-1),
        "padding must not be negative, got -1",
    ),
    "pool padding int": (
        lambda: cnn.max_pool2d(ZEROS_3X3, padding=1),
        "padding must be 'valid' or 'same', got 1",
    ),
    "2-D kernel, 3-D x": (
        lambda: cnn.conv2d(np.zeros((5, 5, 1)), ZEROS_3X3),
        r"the kernel must be 4-D \(kh, kw, C, F\); got shape \(3, 3\)",
    ),
    "2-D kernel, 4-D x": (
        lambda: cnn.conv2d(np.zeros((2, 5, 5, 1)), ZEROS_3X3),
        r"the kernel must be 4-D \(kh, kw, C, F\)",
    ),
    "4-D kernel, 2-D x": (
        lambda: cnn.conv2d(np.zeros((5, 5)), np.zeros((3, 3, 1, 1))),
        r"the kernel must be 2-D \(kh, kw\); got shape \(3, 3, 1, 1\)",
    ),
    "empty kernel": (lambda: cnn.conv2d(ZEROS_3X3, np.zeros((0, 2))), "must not be empty"),
    "empty image": (lambda: cnn.conv2d(np.zeros((0, 4)), ZEROS_3X3[:1, :1]), "x has no pixels"),
    "bias shape": (
        lambda: cnn.conv2d(np.zeros((5, 5, 2)), np.zeros((3, 3, 2, 4)), bias=np.zeros(3)),
        r"bias must be of shape \(4,\), one per filter; got shape \(3,\)",
    ),
    "bias 2-D": (
        lambda: cnn.conv2d(ZEROS_3X3, ZEROS_3X3, bias=np.zeros(2)),
        "bias must be a single number",
    ),
    "loops 3-D image": (
        lambda: cnn.conv2d_loops(np.zeros((5, 5, 1)), ZEROS_3X3),
        "image must be 2-D",
    ),
    "pad negative": (lambda: cnn.pad2d(ZEROS_3X3, -1), "pad must not be negative"),
    "pad shape": (lambda: cnn.pad2d(ZEROS_3X3, (1, 2, 3)), r"pad must be an int or \(\(top"),
    "output size k > n": (
        lambda: cnn.conv_output_size(3, 5),
        "the size-5 kernel is larger than the size-3 input",
    ),
    "output size stride 0": (lambda: cnn.conv_output_size(5, 3, 0), "stride must be at least 1"),
    "output size padding": (
        lambda: cnn.conv_output_size(5, 3, 1, "full"),
        "padding must be 'valid', 'same' or a non-negative int",
    ),
}


@pytest.mark.parametrize(("call", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_raises_a_clear_value_error(call, message: str):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("value", [300, -1, 0.5])
def test_pad2d_refuses_a_value_the_dtype_cannot_hold(value):
    with pytest.raises(ValueError, match="cannot be stored.*uint8"):
        cnn.pad2d(np.zeros((2, 2), dtype=np.uint8), 1, value)


def test_pad2d_keeps_a_value_that_fits():
    assert cnn.pad2d(np.zeros((2, 2), dtype=np.uint8), 1, 255)[0, 0] == 255
    assert cnn.pad2d(np.zeros((2, 2), dtype=np.float32), 1, 0.5)[0, 0] == 0.5


def test_pooling_bool_maps():
    mask = np.array([[True, False, False, False], [False, False, False, False]])
    np.testing.assert_array_equal(cnn.max_pool2d(mask), [[True, False]])
    np.testing.assert_array_equal(
        cnn.max_pool2d(mask, padding="same", stride=1)[:, :2], [[1, 0], [0, 0]]
    )
    np.testing.assert_array_equal(cnn.avg_pool2d(mask), [[0.25, 0.0]])


def test_nan_and_inf_propagate():
    """A NaN in a window gives NaN (never hidden); inf is a value like any other."""
    x = np.array([[np.nan, 1.0, 4.0, 5.0], [2.0, 3.0, np.inf, 6.0]])
    for pool in (cnn.max_pool2d, cnn.avg_pool2d):
        out = pool(x)
        assert np.isnan(out[0, 0]) and out[0, 1] == np.inf
    conv = cnn.conv2d(x, np.ones((2, 2)))
    assert np.isnan(conv[0, 0]) and conv[0, 1:].tolist() == [np.inf, np.inf]
    # Keras agrees where the answer is defined: inf in a window, and NaN in an average.
    keras_x = x[None, :, :, None].astype(np.float32)
    keras_avg = tf.nn.avg_pool2d(keras_x, 2, 2, "VALID")[0, :, :, 0].numpy()
    assert np.isnan(keras_avg[0, 0]) and keras_avg[0, 1] == np.inf
    assert tf.nn.max_pool2d(keras_x, 2, 2, "VALID")[0, 0, 1, 0].numpy() == np.inf


@pytest.mark.parametrize("shape", [(3, 0), (0,)])
def test_softmax_of_nothing_is_an_error(shape):
    with pytest.raises(ValueError, match="at least one value"):
        cnn.softmax(np.zeros(shape))
