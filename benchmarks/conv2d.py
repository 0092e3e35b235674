"""Time `helpers.numpy_cnn.conv2d` against TensorFlow, and the loops against the vectorised code.

    python benchmarks/conv2d.py

(a) Batches x (N, 28, 28, 32) of N = 8, 64 and 512 images and kernels (3, 3, 32, 32), padding
    'same', float32: `conv2d` against `tf.nn.conv2d`, called eagerly on tensors made beforehand
    and inside a `tf.function`; the faster of the two is the reference. The bar is numpy /
    tensorflow <= 2.5x at every batch size, the goal 1.5x.
(b) One 28x28 image and a 3x3 kernel: `conv2d_loops` against `conv2d`.
(c) The gradients of (a)'s convolution of 64 images, for the input and the kernel:
    `helpers.numpy_backprop.conv2d_backward` against TensorFlow's (a `GradientTape` in a
    `tf.function`, and `tf.raw_ops.Conv2DBackpropInput` / `Conv2DBackpropFilter` called
    eagerly); the bar is numpy / tensorflow <= 3x, the goal 2x.

The outputs are compared before anything is timed. Each time is the best of several rounds after
a warm-up, with the contenders taking turns round by round, so that a busy moment on a shared
machine slows them alike rather than only one of them.
"""

import math
import os
import time
import timeit
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from helpers.numpy_backprop import conv2d_backward
from helpers.numpy_cnn import conv2d, conv2d_loops

BAR, GOAL = 2.5, 1.5
BATCHES = (8, 64, 512)  # (a)'s ratio must hold as the work grows
BACKWARD_BAR, BACKWARD_GOAL = 3.0, 2.0
PAUSE = 0.1  # seconds between two measurements


def best_times(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """The best time of one call of each contender, in seconds, over rounds taken in turn."""
    # Warm up, and find how many calls take about 0.05 s: one measurement in a round.
    calls = {name: max(1, timeit.Timer(fn).autorange()[0] // 4) for name, fn in contenders.items()}
    best = dict.fromkeys(contenders, math.inf)
    for _ in range(rounds):
        for name, fn in contenders.items():
            # OpenBLAS's and TensorFlow's idle threads spin for a while after a call, taking a
            # core from whoever runs next: let them go to sleep first.
            time.sleep(PAUSE)
            best[name] = min(best[name], timeit.timeit(fn, number=calls[name]) / calls[name])
    for name, seconds in best.items():
        print(f"  {name:28s} {seconds * 1e3:9.3f} ms")
    return best


def report_ratio(numpy: float, tensorflow: float, bar: float, goal: float) -> float:
    """Print numpy / tensorflow (seconds) against the bar and the goal; return the ratio."""
    ratio = numpy / tensorflow
    bar_met = "met" if ratio <= bar else "NOT met"
    goal_met = "met" if ratio <= goal else "not met"
    print(
        f"  numpy / tensorflow's faster way = {ratio:.2f}x: bar {bar}x {bar_met}, "
        f"goal {goal}x {goal_met}"
    )
    return ratio


def against_tensorflow(rounds: int, batch: int) -> float:
    """(a): the ratio of NumPy's time to TensorFlow's best, for `batch` images."""
    print(f"(a) numpy conv2d vs TensorFlow: x ({batch}, 28, 28, 32), kernel (3, 3, 32, 32), 'same'")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 28, 28, 32), dtype=np.float32)
    kernel = rng.standard_normal((3, 3, 32, 32), dtype=np.float32)
    tf_x, tf_kernel = tf.constant(x), tf.constant(kernel)

    @tf.function
    def tf_graph(x, kernel):
        return tf.nn.conv2d(x, kernel, 1, "SAME")

    expected = tf.nn.conv2d(tf_x, tf_kernel, 1, "SAME").numpy()
    got = conv2d(x, kernel, padding="same")
    # Sums of 3 * 3 * 32 = 288 float32 products, added in different orders: agree to ~1e-5.
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tf_graph(tf_x, tf_kernel), expected, rtol=1e-4, atol=1e-4)
    assert got.dtype == np.float32
    print(f"  outputs agree (largest difference {np.abs(got - expected).max():.1e}), float32")

    eager, graph = "tf.nn.conv2d, eager", "tf.nn.conv2d, tf.function"
    times = best_times(
        {
            "numpy conv2d": lambda: conv2d(x, kernel, padding="same"),
            eager: lambda: tf.nn.conv2d(tf_x, tf_kernel, 1, "SAME"),
            graph: lambda: tf_graph(tf_x, tf_kernel),
        },
        rounds,
    )
    return report_ratio(times["numpy conv2d"], min(times[eager], times[graph]), BAR, GOAL)


def loops_against_vectorised(rounds: int) -> float:
    """(b): the ratio of the loops' time to the vectorised conv2d's."""
    print("(b) conv2d_loops vs conv2d: one 28x28 image, 3x3 kernel")
    rng = np.random.default_rng(1)
    image = rng.standard_normal((28, 28), dtype=np.float32)
    kernel = rng.standard_normal((3, 3), dtype=np.float32)
    np.testing.assert_allclose(
        conv2d_loops(image, kernel), conv2d(image, kernel), rtol=1e-5, atol=1e-5
    )
    print("  outputs agree")
    times = best_times(
        {
            "conv2d_loops": lambda: conv2d_loops(image, kernel),
            "conv2d": lambda: conv2d(image, kernel),
        },
        rounds,
    )
    ratio = times["conv2d_loops"] / times["conv2d"]
    print(f"  loops / vectorised = {ratio:.0f}x")
    return ratio


def backward_against_tensorflow(rounds: int) -> float:
    """(c): the ratio of conv2d_backward's time to TensorFlow's best for the same gradients."""
    print("(c) numpy conv2d_backward vs TensorFlow's gradients, the shapes of (a) for 64 images")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 28, 28, 32), dtype=np.float32)
    kernel = rng.standard_normal((3, 3, 32, 32), dtype=np.float32)
    grad_out = rng.standard_normal((64, 28, 28, 32), dtype=np.float32)
    tf_x, tf_kernel, tf_grad = tf.constant(x), tf.constant(kernel), tf.constant(grad_out)

    @tf.function
    def tf_tape(x, kernel, grad_out):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = tf.nn.conv2d(x, kernel, 1, "SAME")
        return tape.gradient(y, [x, kernel], output_gradients=grad_out)

    def tf_raw():
        grad_x = tf.raw_ops.Conv2DBackpropInput(
            input_sizes=x.shape, filter=tf_kernel, out_backprop=tf_grad, strides=[1, 1, 1, 1],
            padding="SAME",
        )  # fmt: skip
        grad_kernel = tf.raw_ops.Conv2DBackpropFilter(
            input=tf_x, filter_sizes=kernel.shape, out_backprop=tf_grad, strides=[1, 1, 1, 1],
            padding="SAME",
        )  # fmt: skip
        return grad_x, grad_kernel

    expected = [g.numpy() for g in tf_tape(tf_x, tf_kernel, tf_grad)]
    got = conv2d_backward(x, kernel, grad_out, padding="same")[:2]
    for g, want in zip(got, expected, strict=True):
        # The kernel's gradient sums 64 * 28 * 28 = 50,176 products: agree relatively to ~1e-5.
        np.testing.assert_allclose(g, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    print("  gradients agree (input and kernel), float32")
    tape, raw = "GradientTape, tf.function", "Conv2DBackprop*, eager"
    times = best_times(
        {
            "numpy conv2d_backward": lambda: conv2d_backward(x, kernel, grad_out, padding="same"),
            tape: lambda: tf_tape(tf_x, tf_kernel, tf_grad),
            raw: tf_raw,
        },
        rounds,
    )
    numpy, tensorflow = times["numpy conv2d_backward"], min(times[tape], times[raw])
    return report_ratio(numpy, tensorflow, BACKWARD_BAR, BACKWARD_GOAL)


def main() -> None:
    blas = os.environ.get("OPENBLAS_CORETYPE")
    print(
        f"numpy {np.__version__}, tensorflow {tf.__version__}, {os.cpu_count()} CPUs, "
        f"OPENBLAS_CORETYPE {'=' + blas if blas else 'unset'}"
    )
    for batch in BATCHES:
        against_tensorflow(rounds=15, batch=batch)
    loops_against_vectorised(rounds=7)
    backward_against_tensorflow(rounds=7)


if __name__ == "__main__":
    main()
