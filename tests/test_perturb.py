"""helpers.perturb against Keras's own augmentation layers, on random images of many shapes."""

import keras
import numpy as np
import pytest

from helpers.perturb import brighten, rotate, shift

RNG = np.random.default_rng(0)
SHAPES = [(1, 28, 28, 1), (3, 7, 5, 2), (2, 10, 13, 3), (4, 6, 6, 1)]


def images(shape):
    return RNG.random(shape, dtype=np.float32)


def keras_translation(x, dx, dy):
    """Keras's RandomTranslation, made deterministic by a range of a single value."""
    h, w = x.shape[1:3]
    layer = keras.layers.RandomTranslation(
        (dy / h, dy / h), (dx / w, dx / w), fill_mode="constant", interpolation="nearest"
    )
    return keras.ops.convert_to_numpy(layer(x, training=True))


def keras_rotation(x, degrees):
    layer = keras.layers.RandomRotation(
        (degrees / 360, degrees / 360), fill_mode="constant", interpolation="bilinear"
    )
    return keras.ops.convert_to_numpy(layer(x, training=True))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dx, dy", [(0, 0), (1, 0), (0, 2), (-3, 1), (2, -2), (-1, -4)])
def test_shift_matches_keras_random_translation(shape, dx, dy):
    x = images(shape)
    np.testing.assert_array_equal(shift(x, dx, dy), keras_translation(x, dx, dy))


def test_shift_moves_right_and_down():
    x = np.zeros((1, 4, 5, 1), np.float32)
    x[0, 1, 2, 0] = 1.0
    moved = shift(x, dx=2, dy=1)
    assert moved[0, 2, 4, 0] == 1.0 and moved.sum() == 1.0


@pytest.mark.parametrize("dx, dy", [(5, 0), (0, -4), (-7, 9)])
def test_shift_off_the_image_leaves_black(dx, dy):
    x = images((2, 4, 5, 1))
    assert not shift(x, dx, dy).any()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("degrees", [0, 5, -12, 20, 45, 137])
def test_rotate_matches_keras_random_rotation(shape, degrees):
    x = images(shape)
    np.testing.assert_allclose(rotate(x, degrees), keras_rotation(x, degrees), atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 6, 6, 1), (1, 5, 5, 3)])
def test_rotate_quarter_turns_are_exact(shape):
    x = images(shape)
    np.testing.assert_allclose(rotate(x, 90), np.rot90(x, 1, axes=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(rotate(x, -90), np.rot90(x, -1, axes=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(rotate(x, 0), x, atol=1e-6)


@pytest.mark.parametrize("scale, offset", [(1, 0), (0.3, 0), (2, 0), (1, 0.2), (0.5, -0.1)])
def test_brighten_scales_offsets_and_clips(scale, offset):
    x = images((3, 9, 8, 1))
    out = brighten(x, scale, offset)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, np.clip(scale * x + offset, 0, 1), atol=1e-7)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    "perturb", [lambda x: shift(x, 1, 1), lambda x: rotate(x, 10), lambda x: brighten(x, 2)]
)
def test_input_is_left_alone_and_output_is_float32(perturb):
    x = images((2, 8, 8, 1))
    before = x.copy()
    out = perturb(x)
    np.testing.assert_array_equal(x, before)
    assert out.dtype == np.float32 and out.shape == x.shape


def test_uint8_images_come_back_as_float32():
    x = RNG.integers(0, 2, (2, 6, 6, 1), dtype=np.uint8)
    assert shift(x, 1).dtype == np.float32


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: shift(np.zeros((28, 28)), 1), r"\(N, H, W, C\).*image\[np.newaxis\]"),
        (lambda: rotate(np.zeros((5, 28, 28)), 10), r"images\[\.\.\., np.newaxis\]"),
        (lambda: shift(np.zeros((1, 4, 4, 1)), 1.5), "whole pixels"),
        (lambda: brighten(np.zeros((1, 4, 4, 1)), -1), "scale must be at least 0"),
    ],
)
def test_bad_input_is_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_brighten_refuses_pixels_beyond_one():
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        brighten(np.full((1, 2, 2, 1), 255, dtype=np.uint8), scale=1.2)
    assert brighten(np.full((1, 2, 2, 1), 0.5, dtype=np.float32), scale=1.2).max() == np.float32(
        0.6
    )
