"""helpers.plotting: right shapes give the right figure; wrong ones a clear error."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers.data import FASHION_MNIST_CLASSES
from helpers.plotting import show_images, show_matrix


def visible_image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


@pytest.mark.parametrize("shape", [(7, 28, 28), (7, 28, 28, 1), (7, 10, 12, 3)])
def test_show_images_draws_one_panel_per_image(shape):
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    fig = show_images(images, labels=[0, 1, 2, 3, 4, 5, 9], ncols=4, suptitle="seven")
    assert isinstance(fig, Figure)
    axes = visible_image_axes(fig)
    assert len(axes) == 7
    expected = [FASHION_MNIST_CLASSES[i] for i in (0, 1, 2, 3, 4, 5, 9)]
    assert [ax.get_title() for ax in axes] == expected
    assert axes[0].images[0].get_clim() == (0, 255)
    assert fig._suptitle.get_text() == "seven"


def test_show_images_keeps_float_pixels_on_zero_to_one():
    dark = np.full((2, 5, 5), 0.1, dtype=np.float32)
    fig = show_images(dark, titles=["a", "b"])
    assert visible_image_axes(fig)[0].images[0].get_clim() == (0.0, 1.0)
    assert [ax.get_title() for ax in visible_image_axes(fig)] == ["a", "b"]


@pytest.mark.parametrize("shape", [(28, 28), (3, 28, 28, 2), (28,)])
def test_show_images_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        show_images(np.zeros(shape))


def test_show_images_wants_one_label_per_image():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        show_images(np.zeros((3, 4, 4)), labels=[1, 2])
    with pytest.raises(ValueError, match="3 images but 1 titles"):
        show_images(np.zeros((3, 4, 4)), titles=["x"])


def test_show_matrix_writes_every_number():
    matrix = np.array([[1, 2, 5, 2], [6, 4, 2, 4], [2, 1, 3, 7], [8, 5, 1, 6]])
    ax = show_matrix(matrix, title="4x4", box=(0, 0, 2, 2))
    assert [t.get_text() for t in ax.texts] == [str(v) for v in matrix.flat]
    assert ax.get_title() == "4x4"
    assert len(ax.patches) == 1
    floats = show_matrix(np.array([[0.25, -1.5]]), fmt=".2f")
    assert [t.get_text() for t in floats.texts] == ["0.25", "-1.50"]


@pytest.mark.parametrize("shape", [(6,), (2, 2, 2), (30, 30)])
def test_show_matrix_rejects_what_it_cannot_write_out(shape):
    with pytest.raises(ValueError, match="2-D|too big"):
        show_matrix(np.zeros(shape))


def test_show_matrix_writes_dark_on_light_and_light_on_dark():
    ax = show_matrix(np.array([[0, 255]]), cmap="gray", vmin=0, vmax=255)
    assert [t.get_color() for t in ax.texts] == ["white", "black"]
    assert ax.images[0].get_clim() == (0, 255)
    blues = show_matrix(np.array([[0, 255]]))
    assert [t.get_color() for t in blues.texts] == ["black", "white"]
