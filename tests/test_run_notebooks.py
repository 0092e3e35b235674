"""benchmarks/run_notebooks.py's figure compaction, and the weight of the stored notebooks."""

import base64
import importlib.util
import io
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
from PIL import Image

REPOSITORY = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPOSITORY / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location(
    "run_notebooks", REPOSITORY / "benchmarks" / "run_notebooks.py"
)
run_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_notebooks)


def figure_png() -> bytes:
    """A typical figure: a grayscale image, a colour map, a curve and text, as PNG."""
    rng = np.random.default_rng(0)
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(9, 3))
    left.imshow(rng.random((28, 28)), cmap="gray")
    middle.imshow(rng.standard_normal((8, 8)), cmap="RdBu_r")
    right.plot(np.linspace(0, 1, 50) ** 2, label="loss")
    right.legend()
    fig.suptitle("a figure with text")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def test_palette_png_is_smaller_and_looks_the_same():
    png = figure_png()
    small = run_notebooks.palette_png(png)
    assert Image.open(io.BytesIO(small)).mode == "P"
    assert len(small) < len(png) / 2
    difference = np.abs(pixels(small) - pixels(png))
    assert difference.shape[:2] == Image.open(io.BytesIO(png)).size[::-1]
    assert np.mean(difference) < 1  # out of 255
    assert np.percentile(difference, 99.9) <= 32


def test_palette_png_leaves_a_palette_png_alone():
    small = run_notebooks.palette_png(figure_png())
    assert run_notebooks.palette_png(small) == small


def test_palette_png_keeps_transparency():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[:5, :, :] = (200, 30, 30, 255)  # the top half red and opaque, the rest transparent
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="png")
    small = run_notebooks.palette_png(buffer.getvalue())
    back = np.asarray(Image.open(io.BytesIO(small)).convert("RGBA"))
    assert (back[:5, :, 3] == 255).all() and (back[5:, :, 3] == 0).all()
    assert (back[:5, :, :3] == (200, 30, 30)).all()


def test_compact_figures_changes_only_png_figures():
    png = base64.b64encode(figure_png()).decode("ascii")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", {"image/png": png, "text/plain": "<Figure>"}),
        nbformat.v4.new_output("display_data", {"image/jpeg": "/9j/AAAA"}),
        nbformat.v4.new_output("stream", name="stdout", text="hello\n"),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), cell]
    run_notebooks.compact_figures(nb)
    figure, jpeg, stream = nb.cells[1].outputs
    assert len(figure.data["image/png"]) < len(png) / 2
    assert figure.data["text/plain"] == "<Figure>"
    assert jpeg.data["image/jpeg"] == "/9j/AAAA" and stream.text == "hello\n"


def test_the_stored_notebooks_are_light():
    """Issue 14: under 3 MB together, convolution_by_hand under 400 kB (make notebooks stores
    the figures with a palette; photos are JPEGs)."""
    sizes = {path.name: path.stat().st_size for path in NOTEBOOKS}
    assert sum(sizes.values()) < 3_000_000, sizes
    assert sizes["02_convolution_by_hand.ipynb"] < 400_000, sizes


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_stored_png_figure_is_compacted(path):
    """Outputs come from make notebooks, which stores each PNG figure as palette_png makes it."""
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png is not None:
                png = base64.b64decode(png)
                assert run_notebooks.palette_png(png) == png, f"cell {cell.id}: run make notebooks"
