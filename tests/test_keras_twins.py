"""helpers.keras_twins: keras_conv against TensorFlow's own convolution, on random inputs; and
layer_shapes on notebook 05's small CNN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.diagrams import SMALL_CNN_LAYERS
from helpers.keras_twins import keras_conv, layer_shapes


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_keras_conv_equals_tf_nn_conv2d(seed, padding):
    rng = np.random.default_rng(seed)
    h, w, c, f = rng.integers(5, 12), rng.integers(5, 12), rng.integers(1, 4), rng.integers(1, 4)
    kh, kw, stride = rng.integers(1, 4), rng.integers(1, 4), int(rng.integers(1, 3))
    x = rng.standard_normal((h, w, c)).astype(np.float32)
    kernel = rng.standard_normal((kh, kw, c, f)).astype(np.float32)
    expected = tf.nn.conv2d(x[None], kernel, stride, padding.upper()).numpy()[0]
    got = keras_conv(x, kernel, padding=padding, strides=stride)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # One channel and one filter: 2-D in, 2-D out.
    flat = keras_conv(x[:, :, 0], kernel[:, :, 0, 0], padding=padding, strides=stride)
    np.testing.assert_allclose(
        flat,
        tf.nn.conv2d(x[None, :, :, :1], kernel[:, :, :1, :1], stride, padding.upper()).numpy()[
            0, :, :, 0
        ],
        rtol=1e-5,
        atol=1e-5,
    )


def test_layer_shapes_describes_the_small_cnn():
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    assert layer_shapes(model) == SMALL_CNN_LAYERS
