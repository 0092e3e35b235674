"""Self-checks for notebook 08: a trained CNN's filters, feature maps and gradients. Keras is
imported inside the checks that need it."""

from collections.abc import Callable

import numpy as np

from helpers import numpy_cnn as cnn
from helpers.checks._runner import _call, _check, _gives, _same

_RNG = np.random.default_rng(710)


def _ints(shape: tuple[int, ...], low: int, high: int) -> np.ndarray:
    return _RNG.integers(low, high, shape).astype(float)


def _cosines(kernels: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The cosine similarity of each filter of `kernels` (kh, kw, F) with `target` (kh, kw)."""
    flat = kernels.reshape(-1, kernels.shape[-1])
    return target.ravel() @ flat / (np.linalg.norm(target) * np.linalg.norm(flat, axis=0))


def _filter_case(n_filters: int, with_opposite: bool):
    """(args, where) for check_most_similar_filter: filters where every shortcut picks another.

    A faint copy of the target (the most similar by direction, but small), a large filter (the
    largest dot product) and, with `with_opposite`, the target turned negative (cosine -1).
    """
    target = _RNG.normal(size=(3, 3))
    kernels = _RNG.normal(size=(3, 3, n_filters)) * 0.5
    kernels[:, :, n_filters - 2] = 0.1 * target + 0.02 * _RNG.normal(size=(3, 3))
    kernels[:, :, 1] = 3 * target + 3 * _RNG.normal(size=(3, 3))
    if with_opposite:
        kernels[:, :, 0] = -2 * target
    where = f"for {n_filters} filters of 3x3" + (
        " (one of them is -target)" if with_opposite else ""
    )
    return (kernels, target), where


_FILTER_CASES = [_filter_case(6, False), _filter_case(8, True), _filter_case(5, False)]


def check_most_similar_filter(fn: Callable) -> None:
    """Check fn(kernels (kh, kw, F), target (kh, kw)) -> the index of the most similar filter.

    Most similar: the largest cosine similarity, sum(a * b) / (norm(a) * norm(b)).
    """

    def not_an_index(got, expected, args):
        return got.ndim == 0 and got != np.round(got)

    def pick(score: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        return _gives(lambda kernels, target: np.int64(np.argmax(score(kernels, target))))

    def first_axis(kernels, target):
        flat = kernels.reshape(kernels.shape[-1], -1)
        return target.ravel() @ flat.T / np.linalg.norm(flat, axis=1)

    _check(
        "most similar filter",
        fn,
        lambda kernels, target: np.int64(np.argmax(_cosines(kernels, target))),
        _FILTER_CASES,
        [
            (
                lambda got, expected, args: got.ndim != 0,
                "Your function returned an array {where}: return one number, the index of the "
                "best filter (np.argmax of the similarities)",
            ),
            (
                not_an_index,
                "Your function returned {got} {where}: return the index of the most similar "
                "filter (a whole number from 0 to F - 1), not its similarity",
            ),
            (
                pick(lambda kernels, target: np.abs(_cosines(kernels, target))),
                "Your function returned {got} but the answer is {expected} {where}: don't take "
                "the absolute value; a filter equal to -target has cosine -1, it finds the "
                "opposite pattern",
            ),
            (
                pick(lambda kernels, target: -_cosines(kernels, target)),
                "Your function returned {got}, the LEAST similar filter, {where}: the most similar "
                "has the largest cosine (np.argmax)",
            ),
            (
                pick(
                    lambda kernels, target: target.ravel() @ kernels.reshape(-1, kernels.shape[-1])
                ),
                "Your function returned {got} but the answer is {expected} {where}: that filter "
                "has the largest dot product only because it is large; divide by the two norms",
            ),
            (
                pick(first_axis),
                "Your function returned {got} but the answer is {expected} {where}: the filters "
                "are the LAST axis of kernels, so take kernels[:, :, f] (or "
                "kernels.reshape(-1, F)), not kernels.reshape(F, -1)",
            ),
        ],
    )


# Whole-number weights and pixels, so that Keras's float32 and NumPy agree exactly.
_SMALL_CNN_WEIGHTS = (
    _ints((3, 3, 1, 2), -2, 3),
    _ints((18, 3), -2, 3),
    _ints((3,), -2, 3),
)
_SMALL_CNN_IMAGES = (_ints((2, 6, 6, 1), 0, 5).astype("float32"), _ints((3, 6, 6, 1), 0, 5))


def _small_cnn():
    """A tiny Keras CNN with the weights above: image (6, 6, 1) -> conv -> relu -> pool -> 3."""
    import keras

    zeros = "zeros"  # no random initial weights: building the model draws no random numbers
    inputs = keras.Input((6, 6, 1), name="image")
    x = keras.layers.Conv2D(
        2, 3, padding="same", use_bias=False, kernel_initializer=zeros, name="conv"
    )(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(3, kernel_initializer=zeros, name="scores")(x)
    model = keras.Model(inputs, outputs, name="small_cnn")
    kernel, dense, bias = _SMALL_CNN_WEIGHTS
    model.get_layer("conv").set_weights([kernel.astype("float32")])
    model.get_layer("scores").set_weights([dense.astype("float32"), bias.astype("float32")])
    return model


def _small_cnn_layers(images) -> dict[str, np.ndarray]:
    """The output of every layer of `_small_cnn`, computed with helpers.numpy_cnn."""
    kernel, dense, bias = _SMALL_CNN_WEIGHTS
    out = {"conv": cnn.conv2d(images, kernel, padding="same")}
    out["relu"] = cnn.relu(out["conv"])
    out["pool"] = cnn.max_pool2d(out["relu"], 2)
    out["scores"] = out["pool"].reshape(len(images), -1) @ dense + bias
    return {name: value.astype(float) for name, value in out.items()}


def check_feature_extractor(fn: Callable) -> None:
    """Check fn(model, layer_name, images (N, H, W, C)) -> that layer's output, one per image."""
    import keras

    model = _small_cnn()
    images = _SMALL_CNN_IMAGES
    cases = [
        ((model, name, x), f"for layer {name!r} of a small CNN, on {len(x)} images of 6x6")
        for name, x in [("conv", images[0]), ("pool", images[0]), ("relu", images[1])]
    ]
    first, failure = _call(fn, (model, "conv", images[0].copy()), cases[0][1])
    if failure is not None:
        print(failure)
        return
    if isinstance(first, keras.Model):
        print(
            "❌ Your function returned a model, not the feature maps: call it on the images, "
            "extractor(images), and return what it gives."
        )
        return
    if type(first).__name__ == "KerasTensor":
        print(
            "❌ Your function returned model.get_layer(layer_name).output, a placeholder that "
            "holds no numbers: make it the output of a keras.Model(inputs=model.input, "
            "outputs=...) and call that model on the images."
        )
        return
    _check(
        "feature extractor",
        fn,
        lambda model, name, images: _small_cnn_layers(images)[name],
        cases,
        [
            (
                _gives(lambda model, name, images: _small_cnn_layers(images)["scores"]),
                "Your output is the model's final output {where}: return the output of the layer "
                "named layer_name, model.get_layer(layer_name).output",
            ),
            (
                lambda got, expected, args: _same(got, expected[0]),
                "Your output is the feature maps of the first image only {where}: keep the batch "
                "axis, one set of maps per image",
            ),
        ],
        "a layer's output has one set of feature maps per image, (N, height, width, channels)",
    )


# A linear model's weights (16, 3) and biases; a two-layer model's (16, 5), (5,) and (5, 3). The
# hidden biases end in .125, so that no unit is ever exactly 0 before the ReLU (its kink).
_DENSE_WEIGHTS = (
    _ints((16, 3), -3, 4),
    _ints((3,), -2, 3),
    _ints((16, 5), -2, 3),
    _ints((5,), -2, 3) + 0.125,
    _ints((5, 3), -2, 3),
)
_GRADIENT_IMAGES = tuple(_ints((4, 4, 1), 0, 5).astype("float32") / 4 for _ in range(3))


def _small_dense_models():
    """Two tiny Keras models of a (4, 4, 1) image with known weights, and their gradients.

    Returns [(model, gradient)], where gradient(image, c) is d score_c / d pixels, (4, 4),
    worked out by hand: a linear model's is its weights; with a ReLU layer in between, only the
    units that are on (positive) pass the gradient on.
    """
    import keras

    zeros = "zeros"
    models = []
    for hidden in (None, 5):
        inputs = keras.Input((4, 4, 1), name="image")
        x = keras.layers.Flatten(name="flatten")(inputs)
        if hidden:
            x = keras.layers.Dense(hidden, "relu", kernel_initializer=zeros, name="hidden")(x)
        outputs = keras.layers.Dense(3, kernel_initializer=zeros, name="scores")(x)
        models.append(keras.Model(inputs, outputs))
    linear, deep = models
    w, b, w1, b1, w2 = _DENSE_WEIGHTS
    linear.get_layer("scores").set_weights([w.astype("float32"), b.astype("float32")])
    deep.get_layer("hidden").set_weights([w1.astype("float32"), b1.astype("float32")])
    deep.get_layer("scores").set_weights([w2.astype("float32"), np.zeros(3, "float32")])

    def deep_gradient(image, c):
        on = image.reshape(-1) @ w1 + b1 > 0
        return (w1[:, on] @ w2[on, c]).reshape(4, 4)

    return [(linear, lambda image, c: w[:, c].reshape(4, 4)), (deep, deep_gradient)]


def check_gradient_times_input(fn: Callable) -> None:
    """Check fn(model, image (H, W, 1), class_index) -> (H, W): d score / d pixel * pixel."""
    (linear, linear_gradient), (deep, deep_gradient) = _small_dense_models()
    gradients = {id(linear): linear_gradient, id(deep): deep_gradient}

    def gradient(model, image, c):
        return gradients[id(model)](image, c)

    def answer(model, image, c):
        return gradient(model, image, c) * image[:, :, 0]

    images = _GRADIENT_IMAGES
    cases = [
        ((model, image, c), f"with class_index {c}, for a {kind} model of a 4x4 image")
        for model, kind, image, c in [
            (linear, "linear", images[0], 1),
            (linear, "linear", images[1], 2),
            (deep, "two-layer", images[2], 0),
            (deep, "two-layer", images[2], 2),
        ]
    ]

    def other_class(got, expected, args):
        model, image, c = args
        return any(_same(got, answer(model, image, k)) for k in range(3) if k != c)

    def with_batch_axes(got, expected, args):
        return (
            got.shape != expected.shape
            and got.size == expected.size
            and _same(got.reshape(expected.shape), expected)
        )

    def watched(model, image, c):
        try:
            return fn(model, image, c)
        except (TypeError, AttributeError) as exc:
            if "NoneType" not in str(exc):
                raise
            raise type(exc)(
                f"{exc}; the gradient is None: inside the tape, call tape.watch(x) on the "
                "image as a tensor, x = tf.convert_to_tensor(image[None]), and compute the "
                "score from that same x"
            ) from None

    _check(
        "gradient x input",
        watched,
        answer,
        cases,
        [
            (
                _gives(gradient),
                "Your output is the gradient alone {where}: multiply it by the image, pixel by "
                "pixel",
            ),
            (
                _gives(lambda model, image, c: np.abs(answer(model, image, c))),
                "Your output has no negative values but it should {where}: keep the sign of the "
                "gradient (no abs); a negative value is a pixel that lowers the score",
            ),
            (
                _gives(lambda model, image, c: sum(answer(model, image, k) for k in range(3))),
                "Your output is the gradient of all the scores added up {where}: take the "
                "score of one class, scores[0, class_index], inside the tape",
            ),
            (
                other_class,
                "Your output is the map of another class {where}: take the score of "
                "class_index, scores[0, class_index]",
            ),
            (
                with_batch_axes,
                "Your output is {got} but should be {expected} {where}: drop the batch and "
                "channel axes, gradient[0, :, :, 0]",
            ),
        ],
        "the map has one value per pixel, (H, W)",
    )
