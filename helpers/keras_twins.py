"""Keras twins of the networks built by hand in NumPy: the same layers with the same weights, so
that a notebook, a test or a benchmark can check the NumPy version against Keras.

- `training_twin(params, learning_rate)`: `helpers.numpy_training`'s CNN as a compiled Keras
  model, with the weights `params` and Adam at `learning_rate` (a float or a schedule).
"""

import keras
from keras import layers

from helpers.numpy_training import IMAGE_SHAPE, NUM_CLASSES


def training_twin(params: dict, learning_rate=1e-3) -> keras.Model:
    """`helpers.numpy_training`'s CNN in Keras, with a copy of `params`' weights: images
    `(N, 28, 28, 1)` -> logits `(N, 10)`, compiled with Adam at `learning_rate` and
    `SparseCategoricalCrossentropy(from_logits=True)`."""
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
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
