"""The explanatory figures in `images/`, drawn with the tutorial's own numbers.

Each `draw_*` function returns a matplotlib Figure (a notebook shows it, a test inspects it);
`python -m helpers.diagrams` (what `make images` runs) redraws them all into `images/`.
Colours come from the Okabe-Ito palette, which colour-blind readers can tell apart, and every
colour is backed by an outline, a line style or a label.
"""

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, Rectangle

from helpers.numpy_cnn import (
    EXAMPLE_IMAGE_6X6,
    EXAMPLE_POOL_4X4,
    SHARPEN_KERNEL,
    conv2d,
    conv_output_size,
    max_pool2d,
    pad2d,
)
from helpers.plotting import LABEL_SIZE, TITLE_SIZE, show_matrix

IMAGES = Path(__file__).resolve().parent.parent / "images"
SUPTITLE_SIZE = 17
CELL = 0.6  # inches per matrix cell
# Okabe-Ito: orange, sky blue, bluish green, reddish purple, and a light grey for zeros.
COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7"]
ZERO_GREY = "#d0d0d0"
# The small CNN of notebook 05, as `keras_twins.layer_shapes` describes it.
SMALL_CNN_LAYERS = [
    ("input", (28, 28, 1)),
    ("conv 3x3, 8 filters + ReLU", (26, 26, 8)),
    ("max-pool 2x2", (13, 13, 8)),
    ("conv 3x3, 16 filters + ReLU", (11, 11, 16)),
    ("max-pool 2x2", (5, 5, 16)),
    ("flatten", (400,)),
    ("dense + softmax", (10,)),
]
# (row, col) of the window the sliding-kernel figure follows.
WINDOW = (1, 1)


def _panel_row(items, title, note=None, labels=0.0):
    """A figure with panels in a row and one cell the same size in every panel.

    Each item is a string (a connector: its first line drawn large, the rest as a caption)
    or a dict: `matrix` (drawn by `show_matrix`; `title`, `box` and `fmt` passed on) or
    `grid` (an empty grid of that `(H, W)`; `title`). `note`: text under the panels;
    `labels`: inches kept free between the panels and the note, for x labels.
    Returns the figure and the Axes of the dict items, in order.
    """
    shapes = [i.get("grid") or np.shape(i["matrix"]) for i in items if isinstance(i, dict)]
    columns = iter(w for _, w in shapes)
    widths = [
        (2.3 if i.strip() else 1) if isinstance(i, str) else next(columns) + 0.3 for i in items
    ]
    top = 1.0  # inches for the titles
    bottom = labels + (0.6 + 0.3 * note.count("\n") if note else 0.0)
    height = CELL * (max(h for h, _ in shapes) + 0.3) + top + bottom
    fig = plt.figure(figsize=(CELL * sum(widths), height))
    grid = fig.add_gridspec(
        1,
        len(items),
        width_ratios=widths,
        left=0,
        right=1,
        wspace=0,
        bottom=bottom / height,
        top=1 - top / height,
    )
    axes = []
    for spec, item in zip(grid, items, strict=True):
        ax = fig.add_subplot(spec)
        if isinstance(item, str):
            ax.axis("off")
            symbol, _, caption = item.partition("\n")
            ax.text(0.5, 0.55, symbol, ha="center", va="bottom", fontsize=30)
            ax.text(0.5, 0.5, caption, ha="center", va="top", fontsize=LABEL_SIZE + 1)
        elif "matrix" in item:
            options = {k: item[k] for k in ("title", "box", "fmt") if k in item}
            axes.append(show_matrix(item["matrix"], ax=ax, **options))
        else:
            h, w = item["grid"]
            ax.set(xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5), xticks=[], yticks=[], aspect=1)
            ax.hlines(np.arange(h + 1) - 0.5, -0.5, w - 0.5, color="0.6", linewidth=1)
            ax.vlines(np.arange(w + 1) - 0.5, -0.5, h - 0.5, color="0.6", linewidth=1)
            ax.set_title(item.get("title", ""), fontsize=TITLE_SIZE)
            axes.append(ax)
    fig.suptitle(title, fontsize=SUPTITLE_SIZE, y=1 - 0.15 / height, va="top")
    if note:
        fig.text(0.5, 0.15 / height, note, ha="center", va="bottom", fontsize=LABEL_SIZE + 1)
    return fig, axes


def _cells(ax, row, col, height=1, width=1, fill=None, edge=None, inset=0.0, **style):
    """Fill and/or outline (`inset` inside the cell edges) a block of cells in a matrix Axes.

    Filled cells get black numbers, to stay readable on the fill colour.
    """
    if fill is not None:
        ax.add_patch(
            Rectangle(
                (col - 0.5, row - 0.5), width, height, facecolor=fill, edgecolor=fill, zorder=0.5
            )
        )
        for text in ax.texts:
            x, y = text.get_position()
            if col <= x < col + width and row <= y < row + height:
                text.set_color("black")
    if edge is not None:
        corner = (col - 0.5 + inset, row - 0.5 + inset)
        ax.add_patch(
            Rectangle(
                corner,
                width - 2 * inset,
                height - 2 * inset,
                fill=False,
                edgecolor=edge,
                zorder=2,
                **{"linewidth": 3, **style},
            )
        )


def _product(k, x):
    """'k·x', negative numbers in brackets."""
    return "·".join(f"({v})" if v < 0 else str(v) for v in (int(k), int(x)))


def draw_sliding_kernel(row=WINDOW[0], col=WINDOW[1]):
    """The kernel over one 3x3 window of the example image, and the output cell it makes."""
    kernel = np.asarray(SHARPEN_KERNEL)
    kh, kw = kernel.shape
    output = conv2d(EXAMPLE_IMAGE_6X6, kernel).astype(int)
    window = EXAMPLE_IMAGE_6X6[row : row + kh, col : col + kw]
    terms = " + ".join(map(_product, kernel.ravel(), window.ravel()))
    value = int(np.sum(window * kernel))
    fig, _ = _panel_row(
        [
            {"matrix": EXAMPLE_IMAGE_6X6, "title": "image (6x6)", "box": (row, col, kh, kw)},
            "⊙\nmultiply\nand add",
            {"matrix": kernel, "title": "kernel (3x3)"},
            "→",
            {"matrix": output, "title": "output (4x4)", "box": (row, col, 1, 1)},
        ],
        "Convolution: slide the kernel, multiply and add",
        note=f"output[{row}, {col}] = {terms} = {value}",
    )
    return fig


def draw_zero_padding():
    """The example image, zero-padded by one pixel, and the same-size output it gives."""
    pad = 1
    padded = pad2d(EXAMPLE_IMAGE_6X6, pad).astype(int)
    same = conv2d(padded, SHARPEN_KERNEL).astype(int)
    size = len(SHARPEN_KERNEL)
    fig, (_, ax_padded, _) = _panel_row(
        [
            {"matrix": EXAMPLE_IMAGE_6X6, "title": "image (6x6)"},
            "→\npad with\nzeros",
            {"matrix": padded, "title": "padded (8x8)", "box": (0, 0, size, size)},
            "→\n⊙ the 3x3\nkernel",
            {"matrix": same, "title": "output (6x6)", "box": (0, 0, 1, 1)},
        ],
        f"Zero-padding keeps the output {same.shape[0]}x{same.shape[1]}",
        note="The red window, centred on the corner pixel, now fits: it reads zeros and "
        f"gives output[0, 0] = {same[0, 0]}",
    )
    n = padded.shape[0]
    for r, c in np.ndindex(padded.shape):
        if min(r, c) < pad or max(r, c) >= n - pad:
            _cells(ax_padded, r, c, fill=ZERO_GREY)
    _cells(ax_padded, pad, pad, n - 2 * pad, n - 2 * pad, edge="black", linestyle="--", linewidth=2)
    return fig


def draw_max_pooling():
    """2x2 max pooling of the 4x4 example: each window and its maximum in its own colour."""
    pooled = max_pool2d(EXAMPLE_POOL_4X4).astype(int)
    fig, (ax_in, ax_out) = _panel_row(
        [
            {"matrix": EXAMPLE_POOL_4X4, "title": "input (4x4)"},
            "→\nmax of each\n2x2 window",
            {"matrix": pooled, "title": "output (2x2)"},
        ],
        "2x2 max pooling",
    )
    for (r, c), colour in zip(np.ndindex(pooled.shape), COLOURS, strict=True):
        window = EXAMPLE_POOL_4X4[2 * r : 2 * r + 2, 2 * c : 2 * c + 2]
        _cells(ax_in, 2 * r, 2 * c, 2, 2, fill=colour, edge="black")
        _cells(ax_out, r, c, fill=colour, edge="black")
        wr, wc = np.unravel_index(np.argmax(window), window.shape)
        ax_in.add_patch(Circle((2 * c + wc, 2 * r + wr), 0.36, fill=False, linewidth=2.5, zorder=2))
        for text in ax_in.texts:
            if text.get_position() == (2 * c + wc, 2 * r + wr):
                text.set_fontweight("bold")
    for text in ax_out.texts:
        text.set_fontweight("bold")
    return fig


def draw_stride(n=7, k=3):
    """Where a kxk window lands on an nxn image with stride 1 and with stride 2."""
    strides = (1, 2)
    shown = min(3, conv_output_size(n, k, max(strides)))  # windows outlined per panel
    grids = [{"grid": (n, n), "title": f"stride {stride}"} for stride in strides]
    fig, axes = _panel_row(
        [grids[0], "", grids[1]],
        f"A {k}x{k} window on a {n}x{n} image",
        note=f"Outlines: the first {shown} windows along the top row.   "
        "●: the centre of each window, one output value each.\n"
        "Output size = (image size − window size) // stride + 1",
        labels=0.7,
    )
    for ax, stride in zip(axes, strides, strict=True):
        out = conv_output_size(n, k, stride)
        centres = np.arange(out) * stride + k // 2
        xs, ys = np.meshgrid(centres, centres)
        ax.plot(xs.ravel(), ys.ravel(), "o", color="black", markersize=6)
        for i in range(shown):
            style = ["-", "--", ":"][i]
            _cells(ax, 0, i * stride, k, k, edge=COLOURS[i], inset=0.08 + 0.1 * i, linestyle=style)
        ax.set_xlabel(
            f"({n} − {k}) // {stride} + 1 = {out}\n→ {out}x{out} output",
            fontsize=LABEL_SIZE + 2,
            labelpad=8,
        )
    return fig


def _layer_colour(label):
    """A fill colour for a layer from the words in its label (grey if none match)."""
    for word, colour in (("conv", COLOURS[1]), ("pool", COLOURS[0]), ("dense", COLOURS[2])):
        if word in label.lower():
            return colour
    return "#dddddd"


def draw_architecture(layers, title="A small CNN: the shape of each layer's output"):
    """Layers left to right: `(H, W, C)` outputs as stacks of C maps (drawn at most 16 deep,
    sized by H and W), flat outputs as bars sized by their length; names below, shapes above.
    """
    if not layers:
        raise ValueError("layers must be a non-empty list of (label, shape) pairs")
    sides = [max(shape[:2]) for _, shape in layers if len(shape) == 3] or [1]
    lengths = [int(np.prod(shape)) for _, shape in layers if len(shape) != 3] or [2]
    step, gap, slot = 0.06, 0.9, 1.4
    boxes = []  # (width, height, cards) per layer
    for _, shape in layers:
        if len(shape) == 3:
            h, w = (0.5 + 1.7 * side / max(sides) for side in shape[:2])
            boxes.append((w, h, min(shape[2], 16)))
        else:
            n = int(np.prod(shape))
            boxes.append((0.35, 0.6 + 1.6 * np.log(n) / np.log(max(max(lengths), 2)), 1))
    tallest = max(h + (c - 1) * step for _, h, c in boxes)
    fig, ax = plt.subplots()
    x = 0.0
    for i, ((label, shape), (w, h, cards)) in enumerate(zip(layers, boxes, strict=True)):
        full_w, full_h = w + (cards - 1) * step, h + (cards - 1) * step
        width = max(full_w, slot)
        left, bottom = x + (width - full_w) / 2, -full_h / 2
        for j in reversed(range(cards)):
            ax.add_patch(
                Rectangle(
                    (left + j * step, bottom + j * step),
                    w,
                    h,
                    facecolor=_layer_colour(label),
                    edgecolor="black",
                    linewidth=1,
                )
            )
        centre = x + width / 2
        ax.text(
            centre,
            tallest / 2 + 0.15,
            " × ".join(map(str, shape)),
            ha="center",
            va="bottom",
            fontsize=LABEL_SIZE + 1,
            fontweight="bold",
        )
        lines = label.replace(", ", ",\n").replace(" + ", "\n+ ").splitlines()
        name = "\n".join(textwrap.fill(line, 12, break_long_words=False) for line in lines)
        ax.text(
            centre,
            -tallest / 2 - 0.15,
            name,
            ha="center",
            va="top",
            fontsize=LABEL_SIZE,
            linespacing=1.2,
        )
        if i:
            ax.annotate(
                "",
                xy=(left - 0.1, 0),
                xytext=(x - gap + 0.1, 0),
                arrowprops={
                    "arrowstyle": "-|>",
                    "linewidth": 2,
                    "color": "black",
                    "mutation_scale": 20,
                },
            )
        x += width + gap
    ax.set(xlim=(-0.1, x - gap + 0.1), ylim=(-tallest / 2 - 1.2, tallest / 2 + 0.6), aspect=1)
    ax.axis("off")
    fig.set_size_inches(0.75 * (x - gap + 0.2), 0.75 * (tallest + 1.8) + 0.6)
    ax.set_title(title, fontsize=SUPTITLE_SIZE, pad=12)
    return fig


FIGURES = {
    "sliding_kernel.png": draw_sliding_kernel,
    "zero_padding.png": draw_zero_padding,
    "max_pooling.png": draw_max_pooling,
    "stride.png": draw_stride,
    "architecture.png": lambda: draw_architecture(SMALL_CNN_LAYERS),
}


def main(folder=IMAGES):
    """Draw every figure into `folder` (default: the repository's images/); return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in FIGURES.items():
        fig = draw()
        path = folder / name
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        print(f"wrote {path}")
        paths.append(path)
    return paths


if __name__ == "__main__":
    main()
