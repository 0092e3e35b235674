"""helpers.checks: right answers pass; typical mistakes fail with one sentence that names them."""

import math
import re
import signal
import threading
import time

import numpy as np
import pytest

from helpers import checks
from helpers import numpy_cnn as cnn
from helpers.checks import _runner, inside_the_cnn, robustness
from helpers.perturb import shift


def conv_loops(image, kernel, stride=1, short=0, allocate_short=0, flip=False):
    """A student's loops; the keyword arguments make the classic mistakes."""
    if flip:
        kernel = kernel[::-1, ::-1]
    kh, kw = kernel.shape
    out_h = (image.shape[0] - kh) // stride + 1
    out_w = (image.shape[1] - kw) // stride + 1
    out = np.zeros((out_h - allocate_short, out_w - allocate_short))
    for i in range(out_h - short):
        for j in range(out_w - short):
            out[i, j] = np.sum(
                image[i * stride : i * stride + kh, j * stride : j * stride + kw] * kernel
            )
    return out


def block_pool(x, size, reduce=np.max, axes=(1, 3)):
    """A student's reshape pooling."""
    rows, cols = x.shape[0] // size, x.shape[1] // size
    return reduce(x[: rows * size, : cols * size].reshape(rows, size, cols, size), axis=axes)


def output_size(n, k, stride, padding):
    return (n - k) // stride + 1 if padding == "valid" else math.ceil(n / stride)


def softmax(z, axis=-1, stable=True, keepdims=True):
    exp = np.exp(z - z.max(axis=axis, keepdims=True)) if stable else np.exp(z)
    return exp / exp.sum(axis=axis, keepdims=keepdims)


def shifted_down(image, pixels):
    out = np.zeros_like(image)
    out[pixels:] = image[:-pixels]
    return out


def relu_backward(x, grad_out, passes_at_zero=False):
    return grad_out * ((x >= 0) if passes_at_zero else (x > 0))


def max_pool_backward(x, grad_out, to_every_tie=False):
    """A student's loops over the 2x2 windows."""
    out = np.zeros_like(x)
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            window = x[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
            mask = window == window.max()
            if not to_every_tie:
                mask = np.zeros_like(mask)
                mask[np.unravel_index(np.argmax(window), window.shape)] = True
            out[2 * i : 2 * i + 2, 2 * j : 2 * j + 2] = mask * grad_out[i, j]
    return out


def numerical_gradient(f, x, eps, one_sided=False, dtype=np.float64):
    x = np.array(x, dtype=dtype)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = dtype(f(x))
        x[i] = saved if one_sided else saved - eps
        down = dtype(f(x))
        x[i] = saved
        grad[i] = (up - down) / (eps if one_sided else 2 * eps)
    return grad


def conv_input_gradient(kernel, grad_out, turn=True):
    kh, kw = kernel.shape
    spread = np.pad(grad_out, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    return cnn.conv2d(spread, kernel[::-1, ::-1] if turn else kernel)


def bad_index(*args):
    return [][0]


RIGHT = [
    (checks.check_conv2d, conv_loops),
    (checks.check_conv2d, cnn.conv2d_loops),
    (checks.check_conv2d_stride, conv_loops),
    (checks.check_output_size, output_size),
    (checks.check_output_size, cnn.conv_output_size),
    (checks.check_pad, np.pad),
    (checks.check_max_pool, block_pool),
    (checks.check_max_pool, cnn.max_pool2d),
    (checks.check_avg_pool, lambda x, size: block_pool(x, size, np.mean)),
    (checks.check_relu, lambda x: np.maximum(x, 0)),
    (checks.check_softmax, softmax),
    (checks.check_softmax, cnn.softmax),
    (checks.check_to_model_input, lambda x: (x / np.float32(255))[..., None]),
    (checks.check_shift_down, shifted_down),
    (checks.check_relu_backward, relu_backward),
    (checks.check_max_pool_backward, max_pool_backward),
    (checks.check_numerical_gradient, numerical_gradient),
    (checks.check_conv2d_backward, conv_input_gradient),
]

WRONG = {
    "relu backward at 0": (
        checks.check_relu_backward,
        lambda x, g: relu_backward(x, g, passes_at_zero=True),
        "where x == 0 too",
    ),
    "relu backward on the gradient": (
        checks.check_relu_backward,
        lambda x, g: np.maximum(g, 0),
        "applied ReLU to the gradient",
    ),
    "relu backward mask only": (checks.check_relu_backward, lambda x, g: x > 0, "0 or 1"),
    "relu backward times relu": (
        checks.check_relu_backward,
        lambda x, g: np.maximum(x, 0) * g,
        r"mask \(x > 0\)",
    ),
    "relu backward unchanged": (checks.check_relu_backward, lambda x, g: g, "unchanged"),
    "max pool backward everywhere": (
        checks.check_max_pool_backward,
        lambda x, g: np.kron(g, np.ones((2, 2))),
        "every position",
    ),
    "max pool backward averaged": (
        checks.check_max_pool_backward,
        lambda x, g: np.kron(g, np.ones((2, 2))) / 4,
        "shared each gradient out evenly",
    ),
    "max pool backward ones": (
        checks.check_max_pool_backward,
        lambda x, g: max_pool_backward(x, np.ones_like(g)),
        r"grad_out\[i, j\], not 1",
    ),
    "max pool backward ties": (
        checks.check_max_pool_backward,
        lambda x, g: max_pool_backward(x, g, to_every_tie=True),
        "with ties in its windows and you gave the gradient to each",
    ),
    "max pool backward no leftover": (
        checks.check_max_pool_backward,
        lambda x, g: max_pool_backward(x[: 2 * g.shape[0], : 2 * g.shape[1]], g),
        "should be 5x7 .* in no window gets 0",
    ),
    "numerical gradient without the 2": (
        checks.check_numerical_gradient,
        lambda f, x, eps: 2 * numerical_gradient(f, x, eps),
        "twice the right one",
    ),
    "numerical gradient one-sided": (
        checks.check_numerical_gradient,
        lambda f, x, eps: numerical_gradient(f, x, eps, one_sided=True),
        "one-sided difference",
    ),
    "numerical gradient in float32": (
        checks.check_numerical_gradient,
        lambda f, x, eps: numerical_gradient(f, x, eps, dtype=np.float32),
        "float32",
    ),
    "conv backward kernel not turned": (
        checks.check_conv2d_backward,
        lambda k, g: conv_input_gradient(k, g, turn=False),
        r"turned by 180 degrees .* kernel\[::-1, ::-1\]",
    ),
    "conv backward kernel transposed": (
        checks.check_conv2d_backward,
        lambda k, g: conv_input_gradient(k.T, g, turn=False),
        "transposed the kernel",
    ),
    "conv backward not padded": (
        checks.check_conv2d_backward,
        lambda k, g: cnn.conv2d(g, k[::-1, ::-1]),
        "should be 3x3 .* pad grad_out with kh - 1 rows",
    ),
    "input not scaled": (
        checks.check_to_model_input,
        lambda x: x[..., None].astype("float32"),
        "divide by 255",
    ),
    "input without channel": (
        checks.check_to_model_input,
        lambda x: x.astype("float32") / 255,
        r"images\[\.\.\., None\]",
    ),
    "input float64": (checks.check_to_model_input, lambda x: (x / 255)[..., None], "float32"),
    "shift rolls": (checks.check_shift_down, lambda im, p: np.roll(im, p, axis=0), "np.roll"),
    "shift up": (
        checks.check_shift_down,
        lambda im, p: shifted_down(im[::-1], p)[::-1],
        "moved the image up",
    ),
    "shift sideways": (
        checks.check_shift_down,
        lambda im, p: shifted_down(im.T, p).T,
        "sideways",
    ),
    "conv off by one": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel, short=1, allocate_short=1),
        "off by one",
    ),
    "conv loops stop early": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel, short=1),
        "last row or column is 0",
    ),
    "conv flipped": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel, flip=True),
        "looks flipped .*: that is true convolution; deep-learning layers compute cross-corr",
    ),
    "conv transposed": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel).T,
        "transposed",
    ),
    "conv values": (
        checks.check_conv2d,
        lambda image, kernel: conv_loops(image, kernel) + 1,
        r"the shape is right but the values differ \(largest difference 1",
    ),
    "conv no return": (checks.check_conv2d, lambda image, kernel: None, "returned None"),
    "conv raises": (checks.check_conv2d, bad_index, "raised IndexError on a 6x6 image"),
    "conv wrong signature": (checks.check_conv2d, lambda image: image, "raised TypeError"),
    "conv returns text": (checks.check_conv2d, lambda image, kernel: "4x4", "not an array"),
    "conv ragged": (checks.check_conv2d, lambda image, kernel: [[1, 2], [3]], "not an array"),
    "stride ignored": (
        checks.check_conv2d_stride,
        lambda image, kernel, stride: conv_loops(image, kernel),
        "did you use the stride",
    ),
    "stride windows": (
        checks.check_conv2d_stride,
        lambda image, kernel, stride: conv_loops(image, kernel)[
            : (image.shape[0] - kernel.shape[0]) // stride + 1,
            : (image.shape[1] - kernel.shape[1]) // stride + 1,
        ],
        r"starts at row i \* stride",
    ),
    "stride flipped": (
        checks.check_conv2d_stride,
        lambda image, kernel, stride: conv_loops(image, kernel, stride, flip=True),
        "flipped",
    ),
    "stride off by one": (
        checks.check_conv2d_stride,
        lambda image, kernel, stride: conv_loops(image, kernel, stride, 1, 1),
        "off by one",
    ),
    "size off by one": (
        checks.check_output_size,
        lambda n, k, s, p: output_size(n, k, s, p) - (p == "valid"),
        "returned 25 but the answer is 26 .* off by one",
    ),
    "size without stride": (
        checks.check_output_size,
        lambda n, k, s, p: n - k + 1 if p == "valid" else output_size(n, k, s, p),
        "forget the stride",
    ),
    "same is n": (
        checks.check_output_size,
        lambda n, k, s, p: n if p == "same" else output_size(n, k, s, p),
        "'same' keeps the size n only with stride 1",
    ),
    "same rounds down": (
        checks.check_output_size,
        lambda n, k, s, p: n // s if p == "same" else output_size(n, k, s, p),
        "round up",
    ),
    "size is a float": (
        checks.check_output_size,
        lambda n, k, s, p: (n - k) / s + 1 if p == "valid" else output_size(n, k, s, p),
        "not an int",
    ),
    "pad missing": (
        checks.check_pad,
        lambda image, p: image,
        "3x3 but should be 5x5 .* did you pad",
    ),
    "pad one side": (
        checks.check_pad,
        lambda image, p: np.pad(image, ((p, 0), (p, 0))),
        "pad both sides",
    ),
    "pad twice": (checks.check_pad, lambda image, p: np.pad(image, 2 * p), "2p on each side"),
    "pad edge": (checks.check_pad, lambda image, p: np.pad(image, p, "edge"), "not zeros"),
    "max is avg": (
        checks.check_max_pool,
        lambda x, size: block_pool(x, size, np.mean),
        "average of each window",
    ),
    "max is min": (
        checks.check_max_pool,
        lambda x, size: block_pool(x, size, np.min),
        "smallest value",
    ),
    "max wrong axes": (
        checks.check_max_pool,
        lambda x, size: block_pool(x, size, axes=(0, 2)),
        "wrong axes",
    ),
    "max overlapping": (
        checks.check_max_pool,
        lambda x, size: cnn.max_pool2d(x, size, stride=1),
        "must not overlap",
    ),
    "max drops a row": (
        checks.check_max_pool,
        lambda x, size: block_pool(x, size)[:-1],
        "should be 2x2 .* H // size rows",
    ),
    "avg is max": (checks.check_avg_pool, block_pool, "largest value of each window"),
    "avg is sum": (
        checks.check_avg_pool,
        lambda x, size: block_pool(x, size, np.sum),
        "sum of each window",
    ),
    "avg wrong axes": (
        checks.check_avg_pool,
        lambda x, size: block_pool(x, size, np.mean, (0, 2)),
        "wrong axes",
    ),
    "relu abs": (checks.check_relu, np.abs, "absolute value"),
    "relu np.max": (checks.check_relu, lambda x: np.max(x, 0), r"np\.maximum\(x, 0\)"),
    "relu mask": (checks.check_relu, lambda x: x > 0, "True/False"),
    "softmax unstable": (
        checks.check_softmax,
        lambda z: softmax(z, stable=False),
        r"nan or inf on \[1000.0, 0.0\]: .*subtract the maximum first",
    ),
    "softmax global max": (
        checks.check_softmax,
        lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(axis=-1, keepdims=True),
        "maximum of each row",
    ),
    "softmax columns": (
        checks.check_softmax,
        lambda z: softmax(z, axis=0),
        "normalised each column",
    ),
    "softmax whole array": (
        checks.check_softmax,
        lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(),
        "sum of the whole array",
    ),
    "softmax keepdims": (
        checks.check_softmax,
        lambda z: softmax(z, keepdims=False),
        "rows don't sum to 1",
    ),
    "softmax without exp": (
        checks.check_softmax,
        lambda z: z / z.sum(axis=-1, keepdims=True),
        "exponential",
    ),
}


def test_a_student_cannot_change_the_cases(capsys):
    def relu_in_place(x):
        x[x < 0] = 0
        x[...] = 7
        return None

    checks.check_relu(relu_in_place)
    checks.check_relu(lambda x: np.maximum(x, 0))
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("❌ ") and second.startswith("✅ ")


def test_a_function_that_changes_its_input_fails_even_when_its_output_is_right(capsys):
    def relu_in_place(x):
        x[x < 0] = 0
        return x

    checks.check_relu(relu_in_place)
    out = capsys.readouterr().out
    assert out.startswith("❌ ") and "changed its input" in out


def test_complex_output_fails_even_with_a_zero_imaginary_part(capsys):
    checks.check_relu(lambda x: np.maximum(x, 0) + 0j)
    out = capsys.readouterr().out
    assert out.startswith("❌ ") and "complex" in out


def test_no_warning_for_an_overflowing_softmax(recwarn):
    checks.check_softmax(lambda z: softmax(z, stable=False))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# Notebook 07: most_confused, per_class_accuracy, check_model_shapes.


def confusion_counts(y_true, y_pred):
    cm = np.zeros((10, 10), dtype=int)
    np.add.at(cm, (y_true.astype(int), y_pred.astype(int)), 1)
    return cm


def most_confused(y_true, y_pred, diagonal=False, both_ways=False, flat=False, names=False):
    """A student's answer; the keyword arguments make the classic mistakes."""
    cm = confusion_counts(y_true, y_pred)
    if not diagonal:
        np.fill_diagonal(cm, 0)
    if both_ways:
        cm = cm + cm.T
    index = np.argmax(cm)
    if flat:
        return index
    true, predicted = np.unravel_index(index, cm.shape)
    if names:
        return str(true), str(predicted)
    return true, predicted


def most_confused_by_counting(y_true, y_pred):
    from collections import Counter

    mistakes = Counter((int(t), int(p)) for t, p in zip(y_true, y_pred, strict=True) if t != p)
    return mistakes.most_common(1)[0][0]


def per_class_loop(cm):
    return [cm[i, i] / cm[i].sum() for i in range(len(cm))]


RIGHT_06 = [
    (checks.check_most_confused, most_confused),
    (checks.check_most_confused, most_confused_by_counting),
    (checks.check_most_confused, lambda t, p: list(most_confused(t, p))),
    (checks.check_per_class_accuracy, lambda cm: np.diag(cm) / cm.sum(axis=1)),
    (checks.check_per_class_accuracy, per_class_loop),
]

WRONG_06 = {
    "confused counts the diagonal": (
        checks.check_most_confused,
        lambda t, p: most_confused(t, p, diagonal=True),
        r"returned \(3, 3\) .*diagonal.*np\.fill_diagonal",
    ),
    "confused swapped": (
        checks.check_most_confused,
        lambda t, p: most_confused(t, p)[::-1],
        r"wrong way round .*returned \(0, 6\) but the answer is \(6, 0\)",
    ),
    "confused both ways": (
        checks.check_most_confused,
        lambda t, p: most_confused(t, p, both_ways=True),
        r"both directions together.*true class 6 predicted as 0, 7 times",
    ),
    "confused flat index": (
        checks.check_most_confused,
        lambda t, p: most_confused(t, p, flat=True),
        r"one number, 60, .*np\.unravel_index",
    ),
    "confused names": (
        checks.check_most_confused,
        lambda t, p: most_confused(t, p, names=True),
        "not their names",
    ),
    "confused one class": (
        checks.check_most_confused,
        lambda t, p: most_confused(t, p)[0],
        "one number",
    ),
    "confused triple": (
        checks.check_most_confused,
        lambda t, p: (*most_confused(t, p), 5),
        "a pair of class numbers",
    ),
    "confused other pair": (
        checks.check_most_confused,
        lambda t, p: (9, 7),
        r"returned \(9, 7\) on \d+ made-up labels, a mistake made 2 times; .* \(6, 0\), made 7",
    ),
    "confused never made": (
        checks.check_most_confused,
        lambda t, p: (1, 8),
        r"a mistake never made; the most frequent one is \(6, 0\)",
    ),
    "confused none": (checks.check_most_confused, lambda t, p: None, "returned None"),
    "confused raises": (checks.check_most_confused, bad_index, "raised IndexError"),
    "per class precision": (
        checks.check_per_class_accuracy,
        lambda cm: np.diag(cm) / cm.sum(axis=0),
        "column sums .*precision",
    ),
    "per class total": (
        checks.check_per_class_accuracy,
        lambda cm: np.diag(cm) / cm.sum(),
        "total number of images",
    ),
    "per class counts": (checks.check_per_class_accuracy, np.diag, "number of right answers"),
    "per class percent": (
        checks.check_per_class_accuracy,
        lambda cm: 100 * np.diag(cm) / cm.sum(axis=1),
        "100 times too large",
    ),
    "per class floor": (
        checks.check_per_class_accuracy,
        lambda cm: np.diag(cm) // cm.sum(axis=1),
        "floor division",
    ),
    "per class error rate": (
        checks.check_per_class_accuracy,
        lambda cm: 1 - np.diag(cm) / cm.sum(axis=1),
        "error rate",
    ),
    "per class row max": (
        checks.check_per_class_accuracy,
        lambda cm: cm.max(axis=1) / cm.sum(axis=1),
        "largest count of each row",
    ),
    "per class whole matrix": (
        checks.check_per_class_accuracy,
        lambda cm: cm / cm.sum(axis=1, keepdims=True),
        r"3x3 but should be of shape \(3,\) .*np\.diag\(cm\)",
    ),
    "per class none": (checks.check_per_class_accuracy, lambda cm: None, "returned None"),
}


def small_cnn(
    blocks=3, softmax=True, input_shape=(28, 28, 1), flatten=True, compiled=False, nested=False
):
    """A student's model for check_model_shapes; the keyword arguments make the mistakes."""
    import keras

    inputs = keras.Input(input_shape)
    x = inputs
    for _ in range(blocks):
        x = keras.layers.Conv2D(2, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    if flatten:
        x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax" if softmax else None)(x)
    model = keras.Model(inputs, outputs)
    if nested:
        model = keras.Sequential([keras.Input(input_shape), model])
    if compiled:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [
        ({}, r"^✅ Well done: .*has 3 Conv2D layers \(\d+ parameters\)\.$"),
        ({"nested": True}, r"^✅ Well done: .*has 3 Conv2D layers"),
        ({"blocks": 4}, r"^✅ .*has 4 Conv2D layers"),
        ({"blocks": 2}, r"^❌ Your model has 2 Conv2D layers; .*at least 3"),
        ({"softmax": False}, r"^❌ .*not probabilities.*activation='softmax'"),
        (
            {"input_shape": (32, 32, 1)},
            r"^❌ .*\(None, 32, 32, 1\) .*keras\.Input\(\(28, 28, 1\)\)",
        ),
        ({"flatten": False}, r"^❌ .*\(None, 3, 3, 10\) .*forget Flatten"),
        ({"compiled": True}, r"^✅ Well done: .*has 3 Conv2D layers"),  # compiled or not
    ],
)
def test_check_model_shapes(kwargs, phrase, capsys):
    checks.check_model_shapes(small_cnn(**kwargs))
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert re.search(phrase, out.strip()), out


def test_check_model_shapes_names_what_was_passed(capsys):
    def build_deeper_cnn():
        return None

    checks.check_model_shapes(None)
    checks.check_model_shapes(build_deeper_cnn)
    checks.check_model_shapes("a model")
    none, function, text = capsys.readouterr().out.splitlines()
    assert none.startswith("❌ You passed None")
    assert "check_model_shapes(build_deeper_cnn())" in function
    assert text.startswith("❌ You passed a str, not a Keras model")


def test_check_model_shapes_without_an_input_shape(capsys):
    import keras

    checks.check_model_shapes(keras.Sequential([keras.layers.Dense(10, activation="softmax")]))
    assert capsys.readouterr().out.startswith("❌ Your model has no input shape yet")


# Notebook 08's checks: a trained CNN's filters, feature maps and gradients.


def most_similar(kernels, target, mistake=None):
    """A student's most_similar_filter; `mistake` picks a classic one."""
    flat = kernels.reshape(-1, kernels.shape[-1])
    if mistake == "first axis":
        flat = kernels.reshape(kernels.shape[-1], -1).T
    dots = target.ravel() @ flat
    cosines = dots / (np.linalg.norm(target) * np.linalg.norm(flat, axis=0))
    scores = {"dot": dots, "abs": np.abs(cosines), "least": -cosines}
    chosen = scores.get(mistake, cosines)
    return cosines.max() if mistake == "value" else int(np.argmax(chosen))


def layer_output(model, layer_name, images, mistake=None):
    """A student's feature extractor; `mistake` picks a classic one."""
    import keras

    if mistake == "symbolic":
        return model.get_layer(layer_name).output
    extractor = keras.Model(model.input, model.get_layer(layer_name).output)
    if mistake == "model":
        return extractor
    if mistake == "final":
        return model.predict(images, verbose=0)
    maps = extractor(images)
    return maps[0] if mistake == "first image" else keras.ops.convert_to_numpy(maps)


def gradient_times_input(model, image, class_index, mistake=None):
    """A student's gradient x input; `mistake` picks a classic one."""
    import tensorflow as tf

    x = tf.convert_to_tensor(image[None])
    with tf.GradientTape() as tape:
        if mistake != "no watch":
            tape.watch(x)
        scores = model(x)
        score = (
            scores
            if mistake == "all scores"
            else scores[0, (class_index + 1) % 3 if mistake == "class" else class_index]
        )
    gradient = tape.gradient(score, x)
    if mistake == "batch axes":
        return gradient.numpy() * image[None]
    gradient = gradient.numpy()[0, :, :, 0]
    if mistake == "gradient":
        return gradient
    if mistake == "abs":
        return np.abs(gradient) * image[:, :, 0]
    return gradient * image[:, :, 0]


RIGHT_07 = [
    (checks.check_most_similar_filter, most_similar),
    (checks.check_feature_extractor, layer_output),
    (checks.check_gradient_times_input, gradient_times_input),
]


def named_mistakes(label, check, student, phrases):
    """{"<label> <mistake>": (check, the student making that mistake, phrase)} for each mistake."""
    return {
        f"{label} {mistake}": (
            check,
            lambda *args, mistake=mistake: student(*args, mistake=mistake),
            phrase,
        )
        for mistake, phrase in phrases.items()
    }


WRONG_07 = (
    named_mistakes(
        "similarity",
        checks.check_most_similar_filter,
        most_similar,
        {
            "value": "not its similarity",
            "abs": "absolute value",
            "least": "LEAST similar",
            "dot": "divide by the two norms",
            "first axis": "LAST axis",
        },
    )
    | named_mistakes(
        "extractor",
        checks.check_feature_extractor,
        layer_output,
        {
            "symbolic": "placeholder",
            "model": "returned a model",
            "final": "final output",
            "first image": "first image only",
        },
    )
    | named_mistakes(
        "gradient",
        checks.check_gradient_times_input,
        gradient_times_input,
        {
            "gradient": "gradient alone",
            "abs": "keep the sign",
            "all scores": "all the scores added up",
            "class": "another class",
            "batch axes": r"gradient\[0, :, :, 0\]",
            "no watch": "tape.watch",
        },
    )
    | {
        "similarity array": (
            checks.check_most_similar_filter,
            lambda k, t: np.zeros(3),
            "returned an array",
        ),
        "extractor none": (checks.check_feature_extractor, lambda m, n, x: None, "returned None"),
    }
)


def test_each_filter_shortcut_gives_its_own_wrong_answer():
    """check_most_similar_filter's first case tells every mistake apart from the right answer."""
    (kernels, target), _ = inside_the_cnn._FILTER_CASES[0]
    answers = [most_similar(kernels, target, m) for m in (None, "dot", "least", "first axis")]
    assert len(set(answers)) == len(answers)
    (kernels, target), _ = inside_the_cnn._FILTER_CASES[
        1
    ]  # the case with -target among the filters
    assert most_similar(kernels, target, "abs") != most_similar(kernels, target)


def worst_case(model, images, labels, shifts, mistake=None):
    """A student's worst-case accuracy under shifts; `mistake` makes the classic ones."""
    right = [
        model.predict(shift(images, dx, dy), verbose=0).argmax(axis=1) == labels
        for dx, dy in shifts
    ]
    if mistake == "average":
        return float(np.mean(right))
    if mistake == "lowest":
        return min(float(np.mean(r)) for r in right)
    if mistake == "unshifted":
        return float(np.mean(model.predict(images).argmax(axis=1) == labels))
    return float(np.mean(np.logical_and.reduce(right)))


RIGHT_08 = [
    (checks.check_flip_left_right, lambda x: x[:, :, ::-1]),
    (checks.check_flip_left_right, lambda x: np.flip(x, axis=2)),
    (checks.check_worst_case_accuracy, worst_case),
]

WRONG_08 = {
    "flip fliplr": (checks.check_flip_left_right, np.fliplr, "np.fliplr flips axis 1"),
    "flip up-down": (checks.check_flip_left_right, lambda x: x[:, ::-1], "upside down"),
    "flip batch": (checks.check_flip_left_right, lambda x: x[::-1], "order of the images"),
    "flip none": (checks.check_flip_left_right, lambda x: None, "returned None"),
    "worst average": (
        checks.check_worst_case_accuracy,
        lambda *args: worst_case(*args, mistake="average"),
        "average accuracy over the shifts",
    ),
    "worst lowest": (
        checks.check_worst_case_accuracy,
        lambda *args: worst_case(*args, mistake="lowest"),
        "lowest of the per-shift accuracies",
    ),
    "worst unshifted": (
        checks.check_worst_case_accuracy,
        lambda *args: worst_case(*args, mistake="unshifted"),
        "unshifted images",
    ),
}


def test_each_robustness_shortcut_gives_its_own_wrong_answer():
    """On every case of check_worst_case_accuracy, each mistake differs from the right answer."""
    for args, _ in robustness._ROBUSTNESS_CASES:
        answers = [worst_case(*args, mistake=m) for m in (None, "average", "lowest", "unshifted")]
        assert len(set(answers)) == len(answers), answers


def warmup_cosine(step, peak, warmup_steps, total_steps, mistake=None):
    """A student's learning-rate schedule; `mistake` makes the classic ones."""
    if step < warmup_steps and mistake != "no warm-up":
        return peak * step / warmup_steps
    if mistake == "t over the whole run":
        t = min(1.0, step / total_steps)
    else:
        t = (step - warmup_steps) / (total_steps - warmup_steps)
        t = max(t, 0.0) if mistake == "no clamp" else min(1.0, max(t, 0.0))
    return peak * (1 + math.cos(math.pi * t)) / 2


def tta(model, images, shifts, mistake=None):
    """A student's test-time augmentation; `mistake` makes the classic ones."""
    probs = [model.predict(shift(images, dx, dy), verbose=0) for dx, dy in shifts]
    if mistake == "sum":
        return np.sum(probs, axis=0)
    if mistake == "votes":
        return np.mean([np.eye(10)[p.argmax(axis=1)] for p in probs], axis=0)
    if mistake == "classes":
        return np.mean(probs, axis=0).argmax(axis=1)
    if mistake == "unshifted":
        return model.predict(images)
    return np.mean(probs, axis=0)


RIGHT_09 = [
    (checks.check_warmup_cosine, warmup_cosine),
    (checks.check_test_time_augmentation, tta),
]


WRONG_09 = named_mistakes(
    "schedule",
    checks.check_warmup_cosine,
    warmup_cosine,
    {
        "no warm-up": "straight line",
        "t over the whole run": "from 0 at warmup_steps to 1 at total_steps",
        "no clamp": "stay at 0",
    },
) | named_mistakes(
    "tta",
    checks.check_test_time_augmentation,
    tta,
    {
        "sum": "that is the sum",
        "votes": "counts votes",
        "classes": "not the predicted classes",
        "unshifted": "unshifted images",
    },
)


@pytest.mark.parametrize(("check", "fn"), RIGHT + RIGHT_06 + RIGHT_07 + RIGHT_08 + RIGHT_09)
def test_a_right_answer_passes(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("✅ Well done: your ") and out.count("\n") == 1


ALL_WRONG = {**WRONG, **WRONG_06, **WRONG_07, **WRONG_08, **WRONG_09}


@pytest.mark.parametrize(("check", "fn", "phrase"), ALL_WRONG.values(), ids=ALL_WRONG.keys())
def test_a_mistake_fails_with_a_sentence_that_names_it(check, fn, phrase, capsys):
    check(fn)
    sentence, *arrays = capsys.readouterr().out.splitlines()
    assert sentence.startswith("❌ ") and sentence.endswith(".")
    assert re.search(phrase, sentence, flags=re.IGNORECASE), sentence
    assert not arrays or "yours:" in arrays, arrays  # a small case's arrays, shown below it


# Item 9: an output that cannot be turned into an array, a long error, a function that never
# returns.


class NoArray:
    """An output whose conversion to a NumPy array raises."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("this object cannot become an array")


class NoFloat:
    """A number whose conversion to float raises (its int is 6)."""

    def __int__(self):
        return 6

    def __float__(self):
        raise RuntimeError("no float for you")


class NoLength(tuple):
    """A pair whose length raises."""

    def __len__(self):
        raise RuntimeError("no length for you")


@pytest.mark.parametrize(
    ("check", "fn", "kind"),
    [
        (checks.check_relu, lambda x: NoArray(), "NoArray"),
        (checks.check_warmup_cosine, lambda *args: NoFloat(), "NoFloat"),
        (checks.check_most_confused, lambda t, p: (NoFloat(), 0), "tuple"),
        (checks.check_most_confused, lambda t, p: NoLength((6, 0)), "NoLength"),
    ],
    ids=["__array__", "__float__", "__float__ in a pair", "__len__ of a pair"],
)
def test_an_output_that_cannot_become_an_array_fails_with_one_line(check, fn, kind, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith(f"❌ Your function returned a {kind} ") and out.count("\n") == 1
    assert "could not be turned into an array of numbers: converting it raised RuntimeError" in out


def test_most_confused_names_an_output_that_cannot_become_an_array(capsys):
    checks.check_most_confused(lambda t, p: NoArray())
    out = capsys.readouterr().out
    assert out.startswith("❌ Your function returned <") and out.count("\n") == 1
    assert "NoArray object" in out and "return a pair of class numbers" in out


KERAS_ERROR = (
    "Exception encountered when calling Sequential.call().\n\n"
    "\x1b[1mInput 0 of layer 'dense' is incompatible with the layer: expected axis -1 of input "
    "shape to have value 4, but received input with shape (2, 5)\x1b[0m\n\n"
    "Arguments received by Sequential.call():\n"
    "  \u2022 inputs=tf.Tensor(shape=(2, 5), dtype=float32)\n"
    "  \u2022 training=None"
)


def raise_keras_error(*args):
    raise ValueError(KERAS_ERROR)


@pytest.mark.parametrize(
    "check",
    [
        checks.check_relu,
        checks.check_most_confused,
        checks.check_feature_extractor,
        checks.check_gradient_times_input,
    ],
)
def test_a_multi_line_error_is_reported_in_one_line(check, capsys):
    check(raise_keras_error)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out, out
    assert re.fullmatch(
        r"❌ Your function raised ValueError .*: Input 0 of layer 'dense' is incompatible with "
        r"the layer: .* received input with shape \(2, 5\)\.\n",
        out,
    ), out


def test_a_real_keras_error_is_reported_in_one_line(capsys):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    checks.check_relu(lambda x: model(np.zeros((2, 5), "float32")))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out, out
    assert re.match(r"❌ Your function raised ValueError .*: Input 0 .* is incompatible", out), out


def test_a_long_error_message_is_shortened(capsys):
    def long_error(x):
        raise RuntimeError("a very long message " * 50)

    checks.check_relu(long_error)
    out = capsys.readouterr().out
    assert out.startswith("❌ Your function raised RuntimeError on ") and out.count("\n") == 1
    assert "message…" in out and len(out) < 400, out


def test_a_model_that_raises_a_multi_line_error_is_reported_in_one_line(capsys):
    import keras

    class Broken(keras.layers.Layer):
        def compute_output_spec(self, x):
            return keras.KerasTensor(x.shape, x.dtype)

        def call(self, x):
            raise ValueError("\x1b[31mthe real problem\x1b[0m\nand more details")

    inputs = keras.Input((28, 28, 1))
    x = Broken()(inputs)
    for _ in range(3):
        x = keras.layers.Conv2D(2, 3, padding="same")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    checks.check_model_shapes(model)
    out = capsys.readouterr().out
    assert out == "❌ Your model raised ValueError on a batch of 4 images: the real problem.\n"


def endless_loop(*args):
    while True:
        pass


def sleep_long(*args):
    time.sleep(1000)


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (checks.check_relu, endless_loop),
        (checks.check_most_confused, sleep_long),
        (checks.check_feature_extractor, endless_loop),
    ],
)
def test_a_function_that_never_returns_is_stopped(check, fn, monkeypatch, capsys):
    monkeypatch.setattr(_runner, "TIME_LIMIT_S", 0.2)
    check(fn)
    checks.check_relu(lambda x: np.maximum(x, 0))  # the kernel is still usable
    stopped, passed = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        r"❌ Your function did not return within 0\.2 seconds .*, so it was stopped: look for a "
        r"loop that never ends .*\.",
        stopped,
    ), stopped
    assert passed.startswith("✅ ")


def test_the_time_limit_restores_the_signal_handler_and_timer(monkeypatch, capsys):
    def handler(signum, frame):
        pass

    monkeypatch.setattr(_runner, "TIME_LIMIT_S", 0.2)
    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        checks.check_relu(endless_loop)
        checks.check_relu(lambda x: np.maximum(x, 0))
        assert signal.getsignal(signal.SIGALRM) is handler
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    stopped, passed = capsys.readouterr().out.splitlines()
    assert stopped.startswith("❌ Your function did not return") and passed.startswith("✅ ")


def test_outside_the_main_thread_a_check_runs_without_a_time_limit(capsys):
    thread = threading.Thread(target=checks.check_relu, args=(lambda x: np.maximum(x, 0),))
    thread.start()
    thread.join()
    assert capsys.readouterr().out.startswith("✅ Well done: your relu")


def test_a_numpy_notebooks_checks_load_neither_keras_nor_tensorflow(frameworks_imported_by):
    statement = "from helpers.checks import check_conv2d, check_relu_backward, check_shift_down"
    assert frameworks_imported_by(statement) == []


def test_every_check_is_found_where_the_package_says():
    assert sorted(dir(checks)) == sorted(checks.__all__)
    for name in checks.__all__:
        assert callable(getattr(checks, name)), name
    with pytest.raises(AttributeError, match="has no attribute 'check_conv3d'"):
        checks.check_conv3d  # noqa: B018


@pytest.mark.parametrize(
    ("check", "template", "phrase"),
    [
        (checks.check_shift_down, lambda image, pixels: image, "one of its inputs unchanged"),
        (checks.check_relu, lambda x: x, "one of its inputs unchanged"),
        (checks.check_conv2d, lambda image, kernel: np.zeros((4, 4)), "only zeros"),
        (checks.check_max_pool_backward, lambda x, g: np.zeros_like(x), "only zeros"),
        (checks.check_per_class_accuracy, lambda cm: None, "None"),
    ],
)
def test_an_exercise_not_filled_in_yet_is_named_so(check, template, phrase, capsys):
    check(template)
    out = capsys.readouterr().out
    assert re.fullmatch(
        f"❌ Your function returned {phrase}.*: is the exercise filled in yet\\? Write your code "
        "where it says `# Your code here`.*\\.\n",
        out,
    ), out


def test_a_small_case_with_wrong_values_shows_the_inputs_by_name_and_both_outputs(capsys):
    def conv2d_off_by_one(image, kernel):
        return conv_loops(image, kernel) + (np.arange(4) == 2)

    checks.check_conv2d(conv2d_off_by_one)
    sentence, *arrays = capsys.readouterr().out.splitlines()
    image, kernel = cnn.EXAMPLE_IMAGE_6X6, cnn.SHARPEN_KERNEL  # the original tutorial's, first
    assert sentence == (
        "❌ The shape is right but the values differ (largest difference 1, at out[0, 2]) on a "
        "6x6 image with a 3x3 kernel."
    )
    right = cnn.conv2d(image.astype(float), kernel.astype(float))
    shown = {"image:": image, "kernel:": kernel, "the right answer:": right}
    shown["yours:"] = right + (np.arange(4) == 2)
    assert arrays == [
        line
        for name, a in shown.items()
        for line in [name, *np.array2string(a.astype(float), precision=4).splitlines()]
    ]


def test_a_large_case_with_wrong_values_is_one_sentence(capsys):
    checks.check_relu(lambda x: np.maximum(x, 0) + (x.ndim == 4))  # wrong on the 4-D case only
    out = capsys.readouterr().out
    assert out.startswith("❌ The shape is right but the values differ") and out.count("\n") == 1


@pytest.mark.parametrize(
    ("kernel", "phrase"),
    [
        ([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "✅ Well done"),
        ([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], "✅ Well done"),
        (np.zeros((3, 3)), "❌ Your kernel is all zeros: is the exercise filled in yet"),
        (np.ones((2, 2)), r"❌ Your kernel has shape \(2, 2\): make it 3x3"),
        (np.ones((3, 3)), "❌ Your kernel responds to a flat image"),
        ([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], "❌ Your kernel gives nothing positive"),
        ([[-1, 0, 0], [0, 0, 0], [0, 0, 1]], "❌ Your kernel also responds to a vertical edge"),
    ],
)
def test_check_horizontal_edges(kernel, phrase, capsys):
    checks.check_horizontal_edges(np.array(kernel))
    out = capsys.readouterr().out
    assert re.match(phrase, out) and out.count("\n") == 1, out


def test_the_parameter_counts_are_kerass():
    keras = pytest.importorskip("keras")
    for kh, kw, c_in, c_out in [(3, 3, 1, 8), (3, 3, 8, 16), (5, 3, 4, 2)]:
        layer = keras.layers.Conv2D(c_out, (kh, kw))
        layer.build((None, 10, 10, c_in))
        assert layer.count_params() == kh * kw * c_in * c_out + c_out
    for n_in, n_out in [(400, 10), (7, 3)]:
        layer = keras.layers.Dense(n_out)
        layer.build((None, n_in))
        assert layer.count_params() == n_in * n_out + n_out


@pytest.mark.parametrize(
    ("conv", "dense", "phrase"),
    [
        (lambda kh, kw, c, f: kh * kw * c * f + f, lambda n, m: n * m + m, "✅ Well done"),
        (
            lambda kh, kw, c, f: 0,
            lambda n, m: 0,
            r"❌ conv_params\(3, 3, 1, 8\) returned 0 .*filled",
        ),
        (
            lambda kh, kw, c, f: kh * kw * c * f,
            lambda n, m: n * m + m,
            r"❌ conv_params\(3, 3, 1, 8\) returned 72 .*: right for the weights; add the biases",
        ),
        (
            lambda kh, kw, c, f: kh * kw * f + f,
            lambda n, m: n * m + m,
            r"❌ conv_params\(3, 3, 8, 16\) returned 160 but notebook 05's conv2 has 1,168 numbers",
        ),
        (
            lambda kh, kw, c, f: kh * kw * c * f + f,
            lambda n, m: n * m,
            r"❌ dense_params\(400, 10\) returned 4000 .*add the biases",
        ),
        (
            lambda kh, kw, c, f: kh * kw * c * f + f,
            lambda n: n,
            r"❌ Your function raised TypeError",
        ),
    ],
)
def test_check_param_counts(conv, dense, phrase, capsys):
    conv.__name__, dense.__name__ = "conv_params", "dense_params"
    checks.check_param_counts(conv, dense)
    out = capsys.readouterr().out
    assert re.match(phrase, out) and out.count("\n") == 1, out
