"""helpers.diagrams: every figure draws, and the numbers it writes are the tutorial's."""

import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers import diagrams
from helpers.numpy_cnn import EXAMPLE_IMAGE_6X6, SHARPEN_KERNEL, conv2d


def panel(fig, title):
    """The Axes titled `title`."""
    (ax,) = [ax for ax in fig.axes if ax.get_title() == title]
    return ax


def written_matrix(ax):
    """The numbers written in a matrix panel, put back in their cells."""
    cells = {tuple(map(round, t.get_position()[::-1])): int(t.get_text()) for t in ax.texts}
    shape = tuple(max(index) + 1 for index in zip(*cells, strict=True))
    matrix = np.zeros(shape, dtype=int)
    for index, value in cells.items():
        matrix[index] = value
    return matrix


def red_boxes(ax):
    """(row, col, height, width) of each red outline in a matrix panel."""
    return [
        (round(p.get_y() + 0.5), round(p.get_x() + 0.5), p.get_height(), p.get_width())
        for p in ax.patches
        if isinstance(p, Rectangle) and p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)
    ]


@pytest.mark.parametrize(
    "draw",
    [
        diagrams.draw_sliding_kernel,
        diagrams.draw_zero_padding,
        diagrams.draw_max_pooling,
        diagrams.draw_stride,
        lambda: diagrams.draw_architecture(diagrams.SMALL_CNN_LAYERS),
    ],
)
def test_every_figure_is_returned_with_a_title(draw):
    fig = draw()
    assert isinstance(fig, Figure)
    titles = [fig._suptitle] if fig._suptitle else [ax.title for ax in fig.axes]
    assert any(t.get_text() for t in titles)


def test_sliding_kernel_writes_the_convolution_and_the_arithmetic_of_its_cell():
    fig = diagrams.draw_sliding_kernel()
    output = panel(fig, "output (4x4)")
    expected = conv2d(EXAMPLE_IMAGE_6X6, SHARPEN_KERNEL)
    np.testing.assert_array_equal(written_matrix(output), expected)

    ((row, col, _, _),) = red_boxes(output)
    assert red_boxes(panel(fig, "image (6x6)")) == [(row, col, 3, 3)]
    (sum_text,) = [t.get_text() for t in fig.texts if " = " in t.get_text()]
    terms, total = sum_text.split(" = ")[1:]
    products = re.findall(r"\(?(-?\d+)\)?·(\d+)", terms)
    assert len(products) == 9
    assert sum(int(k) * int(x) for k, x in products) == int(total) == expected[row, col]


def test_zero_padding_shows_the_same_size_output():
    fig = diagrams.draw_zero_padding()
    assert written_matrix(panel(fig, "padded (8x8)")).shape == (8, 8)
    same = conv2d(EXAMPLE_IMAGE_6X6, SHARPEN_KERNEL, padding="same")
    np.testing.assert_array_equal(written_matrix(panel(fig, "output (6x6)")), same)


def test_max_pooling_result_is_6_5_8_7():
    fig = diagrams.draw_max_pooling()
    np.testing.assert_array_equal(written_matrix(panel(fig, "output (2x2)")), [[6, 5], [8, 7]])


def test_draw_architecture_writes_every_label_and_shape():
    fig = diagrams.draw_architecture([("input", (8, 8, 3)), ("dense", (5,))])
    written = {t.get_text().replace("\n", " ") for t in fig.axes[0].texts}
    assert {"input", "dense", "8 × 8 × 3", "5"} <= written


def test_draw_architecture_rejects_no_layers():
    with pytest.raises(ValueError, match="non-empty"):
        diagrams.draw_architecture([])


@pytest.mark.slow
def test_main_writes_every_png_into_the_folder(tmp_path, capsys):
    paths = diagrams.main(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(diagrams.FIGURES) == sorted(p.name for p in paths)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    assert str(tmp_path) in capsys.readouterr().out
