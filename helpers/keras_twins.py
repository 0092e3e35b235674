"""Keras twins of the networks built by hand in NumPy: the same layers with the same weights, so
that a notebook, a test or a benchmark can check the NumPy version against Keras.

- `training_twin(params, learning_rate, optimizer)`: `helpers.numpy_training`'s CNN as a
  compiled Keras model, with the weights `params` and Adam or SGD with momentum at
  `learning_rate` (a float or a schedule).
"""

import keras
from keras import layers

from helpers.numpy_training import IMAGE_SHAPE, NUM_CLASSES


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
