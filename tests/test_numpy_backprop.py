"""The backward passes of helpers.numpy_backprop, each against TensorFlow's GradientTape on many
random inputs, and against central differences on small ones."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.numpy_backprop import (
    avg_pool2d_backward,
    conv2d_backward,
    dense,
    dense_backward,
    max_pool2d_backward,
    numerical_gradient,
    relu_backward,
    softmax_cross_entropy,
)
from helpers.numpy_cnn import conv2d

CASES = 100


def tape_gradients(forward, grad_out, *inputs):
    """TensorFlow's gradients of sum(forward(*inputs) * grad_out) for each input: what a layer's
    backward pass returns when the loss's gradient at its output is grad_out."""
    variables = [tf.Variable(a) for a in inputs]
    with tf.GradientTape() as tape:
        y = forward(*variables)
        loss = tf.reduce_sum(y * tf.constant(grad_out))
    return [g.numpy() for g in tape.gradient(loss, variables)]


def random_convolution(rng):
    """A random batch, kernel, stride and padding ("valid", "same" or an int) that fit."""
    kh, kw = (int(k) for k in rng.integers(1, 5, size=2))
    padding = rng.choice(["valid", "same", 0, 1, 2])
    padding = int(padding) if padding.isdigit() else str(padding)
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
    h, w = kh + int(rng.integers(0, 7)), kw + int(rng.integers(0, 7))
    x = rng.normal(size=(n, h, w, c)).astype(np.float32)
    kernel = rng.normal(size=(kh, kw, c, f)).astype(np.float32)
    return x, kernel, stride, padding


def tf_conv(x, kernel, bias, stride, padding):
    pads = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    tf_padding = pads if isinstance(padding, int) else padding.upper()
    return tf.nn.bias_add(tf.nn.conv2d(x, kernel, (1, *stride, 1), tf_padding), bias)


def test_conv2d_backward_is_tensorflows():
    rng = np.random.default_rng(5)
    for _ in range(3 * CASES):
        x, kernel, stride, padding = random_convolution(rng)
        bias = rng.normal(size=kernel.shape[3]).astype(np.float32)
        y = conv2d(x, kernel, bias, stride, padding)
        grad_out = rng.normal(size=y.shape).astype(np.float32)

        def forward(x_, k_, b_, stride=stride, padding=padding):
            return tf_conv(x_, k_, b_, stride, padding)

        expected = tape_gradients(forward, grad_out, x, kernel, bias)
        got = conv2d_backward(x, kernel, grad_out, stride, padding)
        for name, g, want in zip(["x", "kernel", "bias"], got, expected, strict=True):
            assert g.shape == want.shape and g.dtype == np.float32
            np.testing.assert_allclose(
                g,
                want,
                rtol=1e-4,
                atol=1e-4,
                err_msg=f"grad_{name}: {stride=} {padding=} x {x.shape} kernel {kernel.shape}",
            )
        skipped = conv2d_backward(x, kernel, grad_out, stride, padding, input_gradient=False)
        assert skipped[0] is None
        np.testing.assert_array_equal(skipped[1], got[1])
        np.testing.assert_array_equal(skipped[2], got[2])


def test_conv2d_backward_takes_one_image_as_conv2d_does():
    rng = np.random.default_rng(6)
    image, kernel = rng.normal(size=(7, 6)), rng.normal(size=(3, 2))
    grad_out = rng.normal(size=conv2d(image, kernel).shape)
    grad_x, grad_kernel, grad_bias = conv2d_backward(image, kernel, grad_out)
    batch = conv2d_backward(
        image[None, :, :, None], kernel[:, :, None, None], grad_out[None, :, :, None]
    )
    np.testing.assert_allclose(grad_x, batch[0][0, :, :, 0])
    np.testing.assert_allclose(grad_kernel, batch[1][:, :, 0, 0])
    assert grad_bias.shape == () and np.isclose(grad_bias, grad_out.sum())
    colour = rng.normal(size=(7, 6, 3))
    grad_x, _, _ = conv2d_backward(colour, rng.normal(size=(3, 3, 3, 4)), np.ones((5, 4, 4)))
    assert grad_x.shape == colour.shape


def test_conv2d_backward_matches_central_differences_in_float64():
    rng = np.random.default_rng(7)
    x, kernel = rng.normal(size=(2, 5, 6, 2)), rng.normal(size=(3, 2, 2, 3))
    grad_out = rng.normal(size=conv2d(x, kernel, stride=2, padding="same").shape)
    grad_x, grad_kernel, _ = conv2d_backward(x, kernel, grad_out, 2, "same")
    for got, numerical in [
        (
            grad_x,
            numerical_gradient(
                lambda v: (conv2d(v, kernel, stride=2, padding="same") * grad_out).sum(), x
            ),
        ),
        (
            grad_kernel,
            numerical_gradient(
                lambda k: (conv2d(x, k, stride=2, padding="same") * grad_out).sum(), kernel
            ),
        ),
    ]:
        assert np.abs(got - numerical).max() / np.abs(numerical).max() < 1e-8


def random_pooling(rng):
    """A random batch (with ties: small integers), window, stride and padding that fit."""
    pool = tuple(int(k) for k in rng.integers(1, 4, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    padding = str(rng.choice(["valid", "same"]))
    n, c = rng.integers(1, 4), rng.integers(1, 4)
    h, w = (int(k + rng.integers(0, 6)) for k in pool)
    x = rng.integers(-3, 4, size=(n, h, w, c)).astype(np.float32)
    return x, pool, stride, padding


@pytest.mark.parametrize(
    "ours, theirs",
    [(max_pool2d_backward, tf.nn.max_pool2d), (avg_pool2d_backward, tf.nn.avg_pool2d)],
)
def test_pool_backward_is_tensorflows(ours, theirs):
    rng = np.random.default_rng(4)
    for _ in range(3 * CASES):
        x, pool, stride, padding = random_pooling(rng)
        y = theirs(x, pool, stride, padding.upper())
        grad_out = rng.normal(size=y.shape).astype(np.float32)

        def forward(x_, pool=pool, stride=stride, padding=padding):
            return theirs(x_, pool, stride, padding.upper())

        (expected,) = tape_gradients(forward, grad_out, x)
        got = ours(x, grad_out, pool, stride, padding)
        assert got.shape == x.shape
        np.testing.assert_allclose(
            got,
            expected,
            rtol=1e-6,
            atol=1e-6,
            err_msg=f"{pool=} {stride=} {padding=} x shape {x.shape}",
        )


def test_max_pool_backward_sends_a_tie_to_the_first_maximum_only():
    x = np.array([[5.0, 5.0], [5.0, 1.0]])
    np.testing.assert_array_equal(max_pool2d_backward(x, np.array([[2.0]])), [[2, 0], [0, 0]])
    image = np.array([[1.0, 9.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])  # windows overlap
    grad = max_pool2d_backward(image, np.ones((2, 2)), pool_size=2, stride=1)
    np.testing.assert_array_equal(grad, [[0, 2, 0], [0, 0, 0], [0, 1, 1]])  # 9 wins twice


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward_is_tensorflows(dtype):
    rng = np.random.default_rng(0)
    for _ in range(CASES):
        shape = tuple(rng.integers(1, 6, size=rng.integers(1, 5)))
        x = rng.normal(size=shape).astype(dtype)
        x[rng.random(shape) < 0.2] = 0  # TensorFlow's gradient at exactly 0 is 0
        grad_out = rng.normal(size=shape).astype(dtype)
        (expected,) = tape_gradients(tf.nn.relu, grad_out, x)
        got = relu_backward(x, grad_out)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_dense_and_its_backward_are_keras_dense(dtype, tol):
    rng = np.random.default_rng(1)
    for _ in range(CASES):
        n, d, u = rng.integers(1, 9, size=3)
        x = rng.normal(size=(n, d)).astype(dtype)
        w = rng.normal(size=(d, u)).astype(dtype)
        b = rng.normal(size=u).astype(dtype)
        grad_out = rng.normal(size=(n, u)).astype(dtype)
        layer = keras.layers.Dense(int(u), dtype=np.dtype(dtype).name)
        layer.build((None, d))
        layer.set_weights([w, b])
        np.testing.assert_allclose(dense(x, w, b), layer(x).numpy(), rtol=tol, atol=tol)

        def forward(x_, w_, b_):
            return tf.matmul(x_, w_) + b_

        expected = tape_gradients(forward, grad_out, x, w, b)
        for got, want in zip(dense_backward(x, w, grad_out), expected, strict=True):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_softmax_cross_entropy_is_keras_loss_and_its_gradient(dtype, tol):
    rng = np.random.default_rng(2)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, dtype=np.dtype(dtype).name
    )
    for _ in range(CASES):
        n, k = rng.integers(1, 9), rng.integers(2, 12)
        logits = (rng.normal(size=(n, k)) * rng.choice([1, 10, 100])).astype(dtype)
        labels = rng.integers(0, k, size=n)
        z = tf.Variable(logits)
        with tf.GradientTape() as tape:
            expected_loss = keras_loss(labels, z)
        expected_grad = tape.gradient(expected_loss, z).numpy()
        loss, grad = softmax_cross_entropy(logits, labels)
        np.testing.assert_allclose(loss, expected_loss.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(grad, expected_grad, rtol=tol, atol=tol)


def test_softmax_cross_entropy_is_finite_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=np.float32)
    loss, grad = softmax_cross_entropy(logits, np.array([0, 0]))
    assert np.isfinite(loss) and np.isfinite(grad).all()
    # row 1: log(e^1e4 + 1 + e^-1e4) - 1e4, about 0; row 2: log(1 + 2 e^1e4) - 0, 1e4 + log 2
    np.testing.assert_allclose(loss, (1e4 + np.log(2)) / 2, rtol=1e-6)
    np.testing.assert_allclose(grad, [[0, 0, 0], [-0.5, 0.25, 0.25]], atol=1e-7)


def test_gradient_of_the_whole_head_matches_central_differences():
    rng = np.random.default_rng(3)
    for _ in range(10):
        n, d, u, k = rng.integers(1, 5, size=4) + [0, 0, 0, 1]
        x = rng.normal(size=(n, d))
        w1, b1 = rng.normal(size=(d, u)), rng.normal(size=u)
        w2, b2 = rng.normal(size=(u, k)), rng.normal(size=k)
        labels = rng.integers(0, k, size=n)

        def loss_of(w1_, x=x, b1=b1, w2=w2, b2=b2, labels=labels):
            hidden = dense(x, w1_, b1)
            return softmax_cross_entropy(dense(np.maximum(hidden, 0), w2, b2), labels)[0]

        hidden = dense(x, w1, b1)
        _, grad_logits = softmax_cross_entropy(dense(np.maximum(hidden, 0), w2, b2), labels)
        grad_relu, _, _ = dense_backward(np.maximum(hidden, 0), w2, grad_logits)
        _, grad_w1, _ = dense_backward(x, w1, relu_backward(hidden, grad_relu))
        numerical = numerical_gradient(loss_of, w1)
        error = np.abs(grad_w1 - numerical).max() / max(np.abs(numerical).max(), 1e-12)
        assert error < 1e-7


def test_numerical_gradient_leaves_x_alone_and_works_in_float64():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    grad = numerical_gradient(lambda v: (v**2).sum(), x)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-9)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="eps must be positive"):
        numerical_gradient(lambda v: v.sum(), x, eps=0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: relu_backward(np.ones((2, 3)), np.ones((3, 2))), r"\(2, 3\); got \(3, 2\)"),
        (lambda: dense(np.ones((2, 3)), np.ones((4, 5))), "x has 3 features per row but w"),
        (lambda: dense(np.ones(3), np.ones((3, 5))), r"x of shape \(N, D\)"),
        (lambda: dense(np.ones((2, 3)), np.ones((3, 5)), np.ones(4)), r"b must have shape \(5,\)"),
        (
            lambda: dense_backward(np.ones((2, 3)), np.ones((3, 5)), np.ones((2, 4))),
            r"\(2, 5\); got \(2, 4\)",
        ),
        (lambda: softmax_cross_entropy(np.ones((2, 3)), np.array([0, 3])), "0 .. 2"),
        (lambda: softmax_cross_entropy(np.ones((2, 3)), np.array([0.0, 1.0])), "integer"),
        (lambda: softmax_cross_entropy(np.ones((2, 3)), np.array([0])), r"shape \(2,\)"),
        (lambda: softmax_cross_entropy(np.ones(3), np.array([0])), r"shape \(N, K\)"),
        (lambda: relu_backward(np.array(["a"]), np.array(["b"])), "real numbers"),
        (
            lambda: conv2d_backward(np.ones((5, 5, 2)), np.ones((3, 3, 2, 4)), np.ones((3, 3))),
            r"\(3, 3, 4\); got \(3, 3\)",
        ),
        (
            lambda: conv2d_backward(np.ones((5, 5, 2)), np.ones((3, 3, 1, 4)), np.ones((3, 3, 4))),
            "kernel expects 1 input channels but x has 2",
        ),
        (lambda: max_pool2d_backward(np.ones((4, 4)), np.ones((3, 3))), r"\(2, 2\); got \(3, 3\)"),
        (lambda: avg_pool2d_backward(np.ones((4, 4, 2)), np.ones((2, 2))), r"\(2, 2, 2\); got"),
    ],
)
def test_bad_input_says_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()
