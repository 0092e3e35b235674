"""helpers.plotting: right shapes give the right figure; wrong ones a clear error."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers.data import FASHION_MNIST_CLASSES
from helpers.plotting import (
    DIVERGING_CMAP,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_history,
    plot_kernels,
    show_as_jpeg,
    show_images,
    show_matrix,
)


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


def test_show_matrix_centres_negative_values_on_white():
    """-2 is as strong as 2 and 0 is blank: a diverging map with symmetric limits."""
    ax = show_matrix(np.array([[-2, 0, 1]]))
    image = ax.images[0]
    assert image.cmap.name == DIVERGING_CMAP
    assert image.get_clim() == (-2, 2)
    low, zero, high = (np.array(image.cmap(image.norm(v))[:3]) for v in (-2, 0, 2))
    assert zero.min() > 0.9  # white, or nearly
    assert np.linalg.norm(low - zero) > 0.5 and np.linalg.norm(high - zero) > 0.5
    assert show_matrix(np.array([[0, 3]])).images[0].cmap.name == "Blues"
    chosen = show_matrix(np.array([[-1, 1]]), cmap="gray", vmin=-3, vmax=3).images[0]
    assert (chosen.cmap.name, chosen.get_clim()) == ("gray", (-3, 3))


def test_plot_history_draws_training_and_validation():
    history = {"loss": [1.0, 0.5, 0.4], "val_loss": [0.9, 0.6, 0.5], "accuracy": [0.6, 0.8, 0.9]}
    fig = plot_history(history)
    loss_ax, accuracy_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["training", "validation"]
    assert list(loss_ax.lines[1].get_ydata()) == [0.9, 0.6, 0.5]
    assert [line.get_label() for line in accuracy_ax.lines] == ["training"]
    assert loss_ax.get_xlabel() == "epoch"


def test_plot_history_puts_two_models_on_one_scale():
    ours = {"loss": [0.5, 0.3], "val_loss": [0.4, 0.3], "accuracy": [0.85, 0.93]}
    baseline = {"loss": [0.9, 0.6], "val_loss": [0.7, 0.65], "accuracy": [0.7, 0.8]}
    figs = [plot_history(h, same_scale_as=[ours, baseline]) for h in (ours, baseline)]
    for metric in (0, 1):
        (low, high), other = (fig.axes[metric].get_ylim() for fig in figs)
        assert (low, high) == other
        values = [0.3, 0.9] if metric == 0 else [0.7, 0.93]
        assert low < min(values) and high > max(values)
    alone = plot_history(ours).axes[0].get_ylim()
    assert alone[1] < 0.9  # without the other model, the scale fits its own curves


@pytest.mark.parametrize("history", [{}, {"accuracy": [0.5]}, [1.0, 0.5]])
def test_plot_history_wants_what_fit_returns(history):
    with pytest.raises(ValueError, match="model.fit"):
        plot_history(history)


def test_plot_confusion_matrix_shows_percentages_per_true_class():
    y_true = np.repeat(np.arange(10), 4)
    y_pred = y_true.copy()
    y_pred[0] = 6  # one T-shirt/top taken for a Shirt
    fig = plot_confusion_matrix(y_true, y_pred)
    ax = fig.axes[0]
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert ((0, 0), "75") in texts and ((6, 0), "25") in texts
    assert [t.get_text() for t in ax.get_yticklabels()] == list(FASHION_MNIST_CLASSES)
    counts = plot_confusion_matrix(y_true, y_pred, normalize=False).axes[0]
    assert "3" in {t.get_text() for t in counts.texts}


def test_plot_confusion_matrix_passes_on_what_is_wrong_with_the_labels():
    with pytest.raises(ValueError, match="0 to 9"):  # helpers.metrics says it
        plot_confusion_matrix([0, 10], [0, 1])


@pytest.mark.parametrize("shape", [(3, 3, 1, 12), (5, 5, 12)])
def test_plot_kernels_draws_one_panel_per_filter(shape):
    kernels = np.random.default_rng(0).standard_normal(shape)
    fig = plot_kernels(kernels, ncols=5)
    panels = visible_image_axes(fig)
    assert len(panels) == 12
    low, high = panels[0].images[0].get_clim()
    assert low == -high == -np.abs(kernels).max()


@pytest.mark.parametrize("shape", [(3, 3), (3, 3, 1, 2, 1)])
def test_plot_kernels_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=r"\(kh, kw, F\)"):
        plot_kernels(np.zeros(shape))
    with pytest.raises(ValueError, match="channel must be below 2"):
        plot_kernels(np.zeros((3, 3, 2, 4)), channel=2)


def test_plot_feature_maps_draws_at_most_max_maps():
    maps = np.random.default_rng(0).random((1, 13, 13, 40))
    fig = plot_feature_maps(maps, max_maps=16, title="conv1")
    assert len(visible_image_axes(fig)) == 16
    assert fig._suptitle.get_text() == "conv1 (first 16 of 40)"


@pytest.mark.parametrize("shape", [(13, 13), (2, 13, 13, 4)])
def test_plot_feature_maps_wants_one_image(shape):
    with pytest.raises(ValueError, match="one image"):
        plot_feature_maps(np.zeros(shape))


def test_show_as_jpeg_shows_a_jpeg_and_closes_the_figure(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(np.random.default_rng(0).random((100, 100)), cmap="gray")
    assert show_as_jpeg(fig) is None  # nothing for a notebook cell to print
    ((image,),) = [shown]
    jpeg = image.data
    assert jpeg[:3] == b"\xff\xd8\xff"  # a JPEG's first bytes
    assert not plt.fignum_exists(fig.number)
    png = io.BytesIO()
    fig.savefig(png, format="png")
    assert len(jpeg) < len(png.getvalue()) / 2
