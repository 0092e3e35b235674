"""The figures the notebooks draw, sized and lettered to be read on a projector.

Every function returns the matplotlib Figure (or Axes) it drew, so a notebook can save or
adjust it; Jupyter shows it by itself.
"""

import matplotlib.pyplot as plt
import numpy as np

from helpers.data import FASHION_MNIST_CLASSES

TITLE_SIZE = 15
LABEL_SIZE = 12


def _as_image_batch(images) -> np.ndarray:
    """`(N, H, W)`, `(N, H, W, 1)` or `(N, H, W, 3)` -> `(N, H, W)` or `(N, H, W, 3)`."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(
            "images must have shape (N, H, W), (N, H, W, 1) or (N, H, W, 3); "
            f"got {images.shape}. For a single image, pass image[None]."
        )
    return images


def _value_range(images: np.ndarray) -> tuple[float, float]:
    """Pixels keep their meaning: uint8 on 0..255, floats on 0..1 unless they leave it."""
    if images.dtype == np.uint8:
        return 0, 255
    low, high = float(images.min()), float(images.max())
    return (0.0, 1.0) if low >= 0.0 and high <= 1.0 else (low, high)


def show_images(
    images,
    labels=None,
    *,
    titles=None,
    class_names=FASHION_MNIST_CLASSES,
    ncols=10,
    suptitle=None,
    size=1.7,
):
    """A grid of images, each titled by its class name (`labels`) or by `titles`.

    images: `(N, H, W)`, `(N, H, W, 1)` or `(N, H, W, 3)`; labels: N class indices.
    0 is drawn black and the largest value (255, or 1.0 for floats) white.
    """
    images = _as_image_batch(images)
    n = len(images)
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"got {n} images but {len(labels)} labels")
        titles = [class_names[int(label)] for label in labels]
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, (size + 0.35) * nrows + (0.5 if suptitle else 0)),
        squeeze=False,
        layout="constrained",
    )
    vmin, vmax = _value_range(images)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=LABEL_SIZE)
    if suptitle:
        fig.suptitle(suptitle, fontsize=TITLE_SIZE)
    return fig


def show_matrix(
    matrix, *, title=None, ax=None, fmt=None, box=None, cmap="Blues", vmin=None, vmax=None
):
    """A small matrix drawn as coloured cells with its numbers written in them.

    matrix: `(H, W)`. fmt: a format spec such as ".2f" (default: integers as integers,
    other numbers to 2 significant digits). box: `(row, col, height, width)` to outline,
    for example the window a kernel is looking at. vmin, vmax: the values drawn with the
    colour map's ends (default: the matrix's own range). Returns the Axes.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D (H, W); got shape {matrix.shape}")
    if matrix.size > 400:
        raise ValueError(f"a {matrix.shape} matrix is too big to write out; use plt.imshow")
    if ax is None:
        h, w = matrix.shape
        _, ax = plt.subplots(figsize=(0.6 * w + 0.8, 0.6 * h + 0.8))
    if fmt is None:
        integral = np.all(np.mod(matrix, 1) == 0)
        fmt = ".0f" if integral else ".2g"
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
    for (r, c), value in np.ndenumerate(matrix):
        red, green, blue, _ = image.cmap(image.norm(value))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(
            c,
            r,
            format(value, fmt),
            ha="center",
            va="center",
            fontsize=LABEL_SIZE,
            color="white" if dark else "black",
        )
    ax.set_xticks([])
    ax.set_yticks([])
    if box is not None:
        row, col, height, width = box
        ax.add_patch(
            plt.Rectangle(
                (col - 0.5, row - 0.5), width, height, fill=False, edgecolor="red", linewidth=3
            )
        )
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    return ax
