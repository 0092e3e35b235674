"""Keras twins of the networks built by hand in NumPy: the same layers with the same weights, so
that a notebook, a test or a benchmark can check the NumPy version against Keras.

- `keras_conv(x, kernel, **options)`: what a Keras `Conv2D` with the weights `kernel` gives for
  one image (notebooks 02 and 03).
- `layer_shapes(model)`: a Keras model's layers and the shape of each one's output, as notebook
  05 compares them with its figure.
- `training_twin(params, learning_rate, optimizer)`: `helpers.numpy_training`'s CNN as a
  compiled Keras model, with the weights `params` and Adam or SGD with momentum at
  `learning_rate` (a float or a schedule).
"""

import re

import keras
import numpy as np
from keras import layers

from helpers.numpy_training import IMAGE_SHAPE, NUM_CLASSES


def keras_conv(x, kernel, **options) -> np.ndarray:
    """The output of a `keras.layers.Conv2D` without bias whose weights are `kernel`, on one image.

    x `(H, W)` with kernel `(kh, kw)` -> `(H', W')`, or x `(H, W, C)` with kernel `(kh, kw, C, F)`
    -> `(H', W', F)`, float32; options (`padding`, `strides`) go to `Conv2D`.
    """
    x, kernel = np.asarray(x), np.asarray(kernel)
    if x.ndim == 2:  # one channel in, one filter out
        return keras_conv(x[:, :, None], kernel[:, :, None, None], **options)[:, :, 0]
    layer = layers.Conv2D(kernel.shape[3], kernel.shape[:2], use_bias=False, **options)
    layer.build(input_shape=(None, *x.shape))
    layer.set_weights([kernel.astype("float32")])
    return keras.ops.convert_to_numpy(layer(x[None].astype("float32")))[0]


def training_twin(params: dict, learning_rate=1e-3, optimizer: str = "adam") -> keras.Model:
    """`helpers.numpy_training`'s CNN in Keras, with a copy of `params`' weights: images
    `(N, 28, 28, 1)` -> logits `(N, 10)`, compiled with `SparseCategoricalCrossentropy(
    from_logits=True)` and `optimizer`, "adam" or "sgd_momentum" (momentum 0.9), at
    `learning_rate`."""
    optimizers = {
        "adam": lambda: keras.optimizers.Adam(learning_rate),
        "sgd_momentum": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9),
    }
    if optimizer not in optimizers:
        raise ValueError(f"optimizer must be one of {sorted(optimizers)}, got {optimizer!r}")
    f1, f2 = params["conv1_kernel"].shape[3], params["conv2_kernel"].shape[3]
    model = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            layers.Conv2D(f1, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2),
            layers.Conv2D(f2, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(NUM_CLASSES, name="dense"),
        ],
        name="training_twin",
    )
    for name in ("conv1", "conv2", "dense"):
        model.get_layer(name).set_weights([params[f"{name}_kernel"], params[f"{name}_bias"]])
    model.compile(
        optimizer=optimizers[optimizer](),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _describe(layer):
    """'conv 3x3, 8 filters + ReLU', 'max-pool 2x2', 'Dropout', ... for a Keras layer."""
    names = {
        "Conv2D": "conv",
        "MaxPooling2D": "max-pool",
        "AveragePooling2D": "avg-pool",
        "Dense": "dense",
        "Flatten": "flatten",
    }
    kind = type(layer).__name__
    config = layer.get_config()
    label = names.get(kind) or re.sub(r"(?<=[a-z])(?=[A-Z0-9])", " ", kind)
    size = config.get("kernel_size") or config.get("pool_size")
    if size:
        label += " " + "x".join(map(str, size))
    if config.get("filters"):
        label += f", {config['filters']} filters"
    activation = config.get("activation")
    if isinstance(activation, str) and activation != "linear":
        label += " + " + ("ReLU" if activation == "relu" else activation)
    return label


def layer_shapes(model):
    """`[(label, shape), ...]` for a built Keras model: its input, then each layer's output.

    Shapes leave out the batch axis, e.g. `("conv 3x3, 8 filters + ReLU", (26, 26, 8))`.
    """
    shapes = [("input", tuple(model.inputs[0].shape[1:]))]
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            shapes.append((_describe(layer), tuple(layer.output.shape[1:])))
    return shapes
