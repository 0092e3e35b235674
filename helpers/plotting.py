"""The figures the notebooks draw, sized and lettered to be read on a projector.

Every function returns the matplotlib Figure (or Axes) it drew, so a notebook can save or
adjust it; Jupyter shows it by itself.
"""

import io

import matplotlib.pyplot as plt
import numpy as np

from helpers.data import FASHION_MNIST_CLASSES
from helpers.metrics import confusion_matrix

TITLE_SIZE = 15
LABEL_SIZE = 12
# Matrices with negative values (kernels, convolution outputs): brown below 0, white at 0, teal
# above, so that the red outline of `show_matrix`'s box stands out on both sides.
DIVERGING_CMAP = "BrBG"


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


def show_as_jpeg(fig, quality=50, dpi=72):
    """Show `fig` in the notebook as a JPEG and close it, instead of `plt.show()`.

    For figures of photos (and noise), where a lossless PNG is several times larger and makes the
    stored notebook heavy; keep PNG for figures of text and lines. `quality` (JPEG, 1 to 95) and
    `dpi` (pixels per inch of the figure's size): the defaults keep a figure 12 inches wide at
    864 pixels, legible on a projector, in a few tens of kB.
    """
    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(
        buffer, format="jpeg", dpi=dpi, bbox_inches="tight", pil_kwargs={"quality": quality}
    )
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="jpeg"))


def show_matrix(
    matrix, *, title=None, ax=None, fmt=None, box=None, cmap=None, vmin=None, vmax=None
):
    """A small matrix drawn as coloured cells with its numbers written in them.

    matrix: `(H, W)`. fmt: a format spec such as ".2f" (default: integers as integers,
    other numbers to 2 significant digits). box: `(row, col, height, width)` to outline,
    for example the window a kernel is looking at. cmap: default "Blues", or, for a matrix
    with negative values, the diverging `DIVERGING_CMAP` centred on 0 (white), so that -2 and 2
    are equally strong and 0 is blank. vmin, vmax: the values drawn with the colour map's ends
    (default: the matrix's own range, symmetric around 0 for the diverging map). Returns the Axes.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D (H, W); got shape {matrix.shape}")
    if matrix.size > 400:
        raise ValueError(f"a {matrix.shape} matrix is too big to write out; use plt.imshow")
    if cmap is None and matrix.min() < 0:
        cmap = DIVERGING_CMAP
        limit = np.abs(matrix).max()
        vmin, vmax = (-limit if vmin is None else vmin), (limit if vmax is None else vmax)
    cmap = cmap or "Blues"
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


def _curves(history) -> dict:
    curves = getattr(history, "history", history)
    if not isinstance(curves, dict) or not curves.get("loss"):
        raise ValueError("history must be what model.fit returns, with a 'loss' entry per epoch")
    return curves


def plot_history(history, *, title="Learning curves", same_scale_as=None):
    """Loss and accuracy per epoch, on the training and the validation data.

    history: a Keras `History` (what `model.fit` returns) or its `.history` dict, with "loss"
    and optionally "accuracy", "val_loss", "val_accuracy". same_scale_as: other histories (a
    list) whose curves the y-axes must fit too, so that two plots drawn with the same list
    compare at a glance. Returns the Figure.
    """
    curves = _curves(history)
    together = [curves, *map(_curves, same_scale_as or [])]
    metrics = [m for m in ("loss", "accuracy") if m in curves]
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(6 * len(metrics), 4.2), squeeze=False, layout="constrained"
    )
    for ax, metric in zip(axes.flat, metrics, strict=True):
        epochs = np.arange(1, len(curves[metric]) + 1)
        ax.plot(epochs, curves[metric], "o-", lw=2.5, label="training")
        if f"val_{metric}" in curves:
            ax.plot(epochs, curves[f"val_{metric}"], "s--", lw=2.5, label="validation")
        ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
        ax.set_ylabel(metric, fontsize=LABEL_SIZE)
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=LABEL_SIZE)
        values = [v for c in together for key in (metric, f"val_{metric}") for v in c.get(key, [])]
        low, high = min(values), max(values)
        margin = 0.05 * (high - low) or 0.05
        ax.set_ylim(low - margin, high + margin)
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def plot_confusion_matrix(y_true, y_pred, *, class_names=FASHION_MNIST_CLASSES, normalize=True):
    """Which class is mistaken for which: rows are the true classes, columns the predictions.

    y_true, y_pred: `(N,)` class indices, counted by `metrics.confusion_matrix`. normalize: show
    each row as percentages (how the images of one class were classified), else counts.
    Returns the Figure.
    """
    counts = confusion_matrix(y_true, y_pred, len(class_names))
    totals = counts.sum(axis=1, keepdims=True)
    shown = 100 * counts / np.maximum(totals, 1) if normalize else counts
    fig, ax = plt.subplots(figsize=(9, 8), layout="constrained")
    image = ax.imshow(shown, cmap="Blues")
    for (r, c), value in np.ndenumerate(shown):
        if counts[r, c]:
            dark = image.norm(value) > 0.5
            text = f"{value:.0f}" if normalize else f"{value:d}"
            ax.text(
                c,
                r,
                text,
                ha="center",
                va="center",
                fontsize=11,
                color="white" if dark else "black",
            )
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right", fontsize=LABEL_SIZE)
    ax.set_yticks(ticks, class_names, fontsize=LABEL_SIZE)
    ax.set_xlabel("predicted class", fontsize=LABEL_SIZE)
    ax.set_ylabel("true class", fontsize=LABEL_SIZE)
    unit = "% of each true class" if normalize else "number of images"
    ax.set_title(f"Confusion matrix ({unit})", fontsize=TITLE_SIZE)
    return fig


def plot_kernels(kernels, *, channel=0, ncols=8, title="Kernels"):
    """Each filter's weights as a small image: red positive, blue negative, white zero.

    kernels: `(kh, kw, F)` or a Conv2D layer's `(kh, kw, C, F)`, of which input channel
    `channel` is drawn. Returns the Figure.
    """
    kernels = np.asarray(kernels)
    if kernels.ndim == 4:
        if not 0 <= channel < kernels.shape[2]:
            raise ValueError(f"channel must be below {kernels.shape[2]}, got {channel}")
        kernels = kernels[:, :, channel, :]
    if kernels.ndim != 3:
        raise ValueError(
            f"kernels must have shape (kh, kw, F) or (kh, kw, C, F); got {kernels.shape}"
        )
    n = kernels.shape[2]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(1.3 * ncols + 1, 1.45 * nrows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    limit = float(np.abs(kernels).max()) or 1.0
    for f, ax in enumerate(axes.flat):
        ax.axis("off")
        if f < n:
            image = ax.imshow(kernels[:, :, f], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"{f}", fontsize=LABEL_SIZE)
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def plot_feature_maps(maps, *, ncols=8, max_maps=32, title="Feature maps"):
    """The output channels of one layer for one image, each on its own colour scale.

    maps: `(H, W, F)` or a batch of one `(1, H, W, F)`; at most `max_maps` are drawn.
    Returns the Figure.
    """
    maps = np.asarray(maps)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(
            f"maps must have shape (H, W, F) or (1, H, W, F) for one image; got {maps.shape}"
        )
    n = min(maps.shape[2], max_maps)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(1.6 * ncols, 1.75 * nrows + 0.5),
        squeeze=False,
        layout="constrained",
    )
    for f, ax in enumerate(axes.flat):
        ax.axis("off")
        if f < n:
            ax.imshow(maps[:, :, f], cmap="viridis")
            ax.set_title(f"{f}", fontsize=LABEL_SIZE)
    shown = f" (first {n} of {maps.shape[2]})" if n < maps.shape[2] else ""
    fig.suptitle(f"{title}{shown}", fontsize=TITLE_SIZE)
    return fig
