"""The series' Keras models and how each is trained: built in one place, trained alike.

- `build_baseline()`: the model of the tutorial this series started from, kept as it was.
- `build_cnn()`: our classifier, two convolution blocks and a small dense head (notebook 07).
- `build_dense()`, `build_augmented_cnn()` and `build_augmented_dense()`: notebook 09's
  comparison, a network of the same size without convolutions, and build_cnn and build_dense
  trained behind random shifts, rotations, brightness and contrast changes.
- `build_vgg()`: notebook 10's deeper CNN, two convolutions before each pooling, trained in
  mixed precision where the hardware allows (`training_precision()`). `in_float32(model)`
  copies it into float32 layers for export.
- `build_ensemble(members)`: the average of several trained models; notebook 10's stronger
  model is two build_vgg from 2 random starts. `build_test_time_augmentation(model)`: the
  average of a model's predictions for each image and its copies shifted by `TTA_SHIFTS`.

The builders return models that are not compiled: how a model trains is its recipe (`MODELS`
pairs each builder with one), and whoever trains compiles from it. `compile_for(model, recipe,
train_size)` compiles as the recipe says, its learning-rate schedule counted in the real
number of steps, and `fit(model, recipe, ...)` compiles and trains. `helpers.model_cache`
trains each model of `MODELS` once and keeps it on disk.

To add a model, write its builder (a function of no arguments that returns a Keras model) and
its recipe (epochs, batch size, learning rate and, for a warm-up and a cosine decay,
`warmup_epochs`), and add one entry to `MODELS`.
"""

import math
from pathlib import Path

import keras
import tensorflow as tf
from keras import layers

from helpers.data import VALIDATION_SIZE

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
TRAIN_SIZE = 60_000 - VALIDATION_SIZE
SEED = 0

# How each model is trained (`compile_for`, `fit`): Adam with `learning_rate`, constant, or
# warming up from 0 over `warmup_epochs` and then following a cosine down to 0 at the end.
BASELINE_RECIPE = {"epochs": 10, "batch_size": 64, "learning_rate": 1e-3}
CNN_RECIPE = {"epochs": 10, "batch_size": 128, "learning_rate": 3e-3, "warmup_epochs": 1}
VGG_RECIPE = {**CNN_RECIPE, "epochs": 11}


def seed_everything(seed: int = SEED) -> None:
    """Make training repeatable: seed Python, NumPy and TensorFlow, and use deterministic ops.

    With deterministic ops on, Keras declines `jit_compile` (XLA).
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_baseline() -> keras.Model:
    """The tutorial's original model: `(N, 28, 28, 1)` in [0, 1] -> `(N, 10)` probabilities.

    Kept as it was, quirks included: a ReLU on the input (a no-op on pixels, which are never
    negative) and a pooling before the only convolution, which halves the image first; and a
    Dense(64) without an activation, so the head is linear.
    """
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.Activation("relu", name="relu_in")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)  # (14, 14, 1)
    x = layers.Conv2D(64, 3, name="conv")(x)  # (12, 12, 64)
    x = layers.ReLU(name="relu")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)  # (6, 6, 64)
    x = layers.Flatten(name="flatten")(x)  # (2304,)
    x = layers.Dense(64, name="dense")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="baseline")


def _conv_block(x, filters: int, i: int):
    """Conv 3x3 ('same') -> MaxPool 2 -> BatchNorm -> ReLU: halves the height and width.

    Pooling before normalising means normalising a quarter as many values, which trains faster
    and scored no worse than the other order. The pooled maxima are what the next layer sees, so
    they are what BatchNorm should scale. The convolution has no bias: BatchNorm's own shift
    replaces it.
    """
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
    x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.BatchNormalization(name=f"bn{i}")(x)
    return layers.ReLU(name=f"relu{i}")(x)


def learning_rate(recipe: dict, steps_per_epoch: int):
    """Adam's learning rate as `recipe` says: `recipe["learning_rate"]`, constant; or, if the
    recipe has `warmup_epochs`, a schedule of optimizer steps (batches) that warms up from 0 to
    it over those epochs, then follows a cosine down to 0 at the end of `recipe["epochs"]`."""
    if "warmup_epochs" not in recipe:
        return recipe["learning_rate"]
    warmup_steps = round(recipe["warmup_epochs"] * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=recipe["epochs"] * steps_per_epoch - warmup_steps,
        warmup_target=recipe["learning_rate"],
        warmup_steps=warmup_steps,
    )


def compile_for(model: keras.Model, recipe: dict, train_size: int = TRAIN_SIZE) -> keras.Model:
    """Compile `model` (and return it) to be trained as `recipe` says on `train_size` images:
    Adam with `learning_rate(recipe, steps per epoch)`, the loss
    "sparse_categorical_crossentropy", the metric "accuracy". Any optimizer state is reset."""
    steps_per_epoch = math.ceil(train_size / recipe["batch_size"])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(recipe, steps_per_epoch)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def compile_settings(model: keras.Model) -> dict:
    """`model`'s optimizer (with its learning rate or schedule), loss and metrics, to compare two
    models' settings; the optimizer's name, counted per session ("adam", "adam_1"), left out."""
    settings = model.get_compile_config() or {}
    optimizer = settings.get("optimizer")
    if isinstance(optimizer, dict):
        optimizer.get("config", {}).pop("name", None)
    return settings


def build_cnn() -> keras.Model:
    """Our classifier: `(N, 28, 28, 1)` in [0, 1] -> `(N, 10)` probabilities.

    Two convolution blocks (32 then 64 filters; 28x28 -> 14x14 -> 7x7), then Dropout, Dense(128)
    with ReLU, Dropout, and the 10-way softmax. Trained with `CNN_RECIPE`.
    """
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    return keras.Model(inputs, _cnn_layers(inputs), name="cnn")


def _cnn_layers(x, block=_conv_block):
    """build_cnn's layers, applied to `x` `(N, 28, 28, 1)`: returns the `(N, 10)` probabilities.

    `block(x, filters, i)` makes each of the two convolution blocks (build_vgg passes its own).
    """
    x = block(x, 32, 1)  # (14, 14, 32)
    x = block(x, 64, 2)  # (7, 7, 64)
    x = layers.Flatten(name="flatten")(x)  # (3136,)
    x = layers.Dropout(0.3, name="dropout1")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    x = layers.Dropout(0.3, name="dropout2")(x)
    # float32 even in a mixed-precision model (build_vgg), as Keras advises: near 1, bfloat16's
    # steps are 0.004 apart, too coarse for the probabilities the loss is computed from.
    return layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="probs")(x)


def training_precision() -> str:
    """The Keras dtype policy that trains fastest on this machine, as build_vgg uses it:
    "mixed_bfloat16" where the hardware multiplies bfloat16 numbers natively (a GPU of compute
    capability 8.0 or more, or a CPU with AVX512-BF16 or AMX instructions, as Linux reports
    them), "float32" anywhere else, where bfloat16 would be emulated, and slower."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        major, _ = details.get("compute_capability", (0, 0))
        return "mixed_bfloat16" if major >= 8 else "float32"
    try:
        cpu_flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux
        return "float32"
    return "mixed_bfloat16" if {"avx512_bf16", "amx_bf16"} & set(cpu_flags) else "float32"


def _vgg_block(x, filters: int, i: int):
    """Conv 3x3 -> BatchNorm -> ReLU, then `_conv_block`: two convolutions before each pooling,
    as in the VGG networks (Simonyan and Zisserman, 2014). Halves the height and width."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}a")(x)
    x = layers.BatchNormalization(name=f"bn{i}a")(x)
    x = layers.ReLU(name=f"relu{i}a")(x)
    return _conv_block(x, filters, i)


def build_vgg(precision: str | None = None) -> keras.Model:
    """Notebook 10's stronger model: `(N, 28, 28, 1)` in [0, 1] -> `(N, 10)` probabilities.

    build_cnn with one more convolution (and BatchNorm, ReLU) at the start of each block: 32, 32,
    then 64, 64 filters, the head unchanged (468,394 parameters). Its first block works at full
    resolution, which costs several times build_cnn's time per epoch; it trains in `precision`
    (a Keras dtype policy, by default `training_precision()`): in "mixed_bfloat16" the layers
    compute in bfloat16 and keep their weights in float32, faster on hardware with bfloat16
    units (notebook 10 measures it). Trained with `VGG_RECIPE`, CNN_RECIPE for 11 epochs.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision or training_precision())
    try:  # the policy in force when a layer is made is the layer's policy
        inputs = keras.Input(IMAGE_SHAPE, name="image")
        outputs = _cnn_layers(inputs, block=_vgg_block)
    finally:
        keras.config.set_dtype_policy(previous)
    return keras.Model(inputs, outputs, name="vgg")


def in_float32(model: keras.Model) -> keras.Model:
    """A copy of `model` whose layers compute in float32, with the same weights (not shared):
    e.g. a mixed-precision model made ready for export. Not compiled: for predicting."""

    def float32_layer(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    return copy


# What build_augmented_cnn's augmentation layers draw from, for each training image.
AUGMENTATION = {
    "shift_pixels": 3,  # up to 3 pixels in each direction
    "rotation_degrees": 15,  # up to 15 degrees either way
    "brightness_offset": 0.1,  # add up to +-0.1 to every pixel
    "contrast_factor": 0.3,  # scale the differences from the mean by 0.7x to 1.3x
}


def augmentation_layers(x):
    """Random changes to each training image, `(N, 28, 28, 1)` -> same shape, as `AUGMENTATION`
    says: a shift, a rotation, a brightness offset and a contrast change, each clipped to [0, 1].

    Keras's preprocessing layers act only while training: `predict` and `evaluate` see the images
    unchanged. A bare call, `model(x)`, needs `training=False` for that (see notebook 10's export).
    """
    shift = AUGMENTATION["shift_pixels"] / IMAGE_SHAPE[0]  # as a fraction of the height and width
    x = layers.RandomTranslation(shift, shift, fill_mode="constant", name="random_shift")(x)
    x = layers.RandomRotation(
        AUGMENTATION["rotation_degrees"] / 360, fill_mode="constant", name="random_rotation"
    )(x)
    x = layers.RandomBrightness(
        AUGMENTATION["brightness_offset"], value_range=(0, 1), name="random_brightness"
    )(x)
    # A tuple (c, c) draws the factor from [1 - c, 1 + c]; a single number c would draw it from
    # [1, 1 + c] in Keras 3, only ever raising the contrast (its documentation says otherwise).
    contrast = AUGMENTATION["contrast_factor"]
    return layers.RandomContrast((contrast, contrast), value_range=(0, 1), name="random_contrast")(
        x
    )


def build_augmented_cnn() -> keras.Model:
    """build_cnn's network with `augmentation_layers` in front."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    return keras.Model(inputs, _cnn_layers(augmentation_layers(inputs)), name="cnn_augmented")


def _dense_layers(x):
    """Flatten -> Dense(512, ReLU) -> Dropout -> softmax: `(N, 28, 28, 1)` -> `(N, 10)`."""
    x = layers.Flatten(name="flatten")(x)  # (784,)
    x = layers.Dense(512, activation="relu", name="dense")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    return layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)


def build_dense() -> keras.Model:
    """A network without convolutions, about the size of build_cnn's (407,050 parameters against
    421,930), trained alike: Flatten -> Dense(512, ReLU) -> Dropout -> softmax."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    return keras.Model(inputs, _dense_layers(inputs), name="dense")


def build_augmented_dense() -> keras.Model:
    """build_dense's network with `augmentation_layers` in front."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    outputs = _dense_layers(augmentation_layers(inputs))
    return keras.Model(inputs, outputs, name="dense_augmented")


def build_ensemble(members) -> keras.Model:
    """One model that averages the probabilities of `members`: `(N, 28, 28, 1)` -> `(N, 10)`.

    members: trained models of the same input and output shapes, e.g. `trained_model("cnn",
    seed=s)` for several seeds. Their layers, and so their weights, are shared, not copied; their
    optimizers are left behind, so the ensemble is for predicting (compile it to train it).
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    outputs = [
        keras.Model(member.input, member.output, name=f"member{i}")(inputs)
        for i, member in enumerate(members)
    ]
    return keras.Model(inputs, layers.Average(name="average")(outputs), name="ensemble")


# Test-time augmentation's copies of each image: itself, and one pixel right, left, down and up.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def build_test_time_augmentation(model: keras.Model, shifts=TTA_SHIFTS) -> keras.Model:
    """One model that averages `model`'s probabilities over shifted copies of each image (test-time
    augmentation): `(N, 28, 28, 1)` -> `(N, 10)`.

    shifts: `(dx, dy)` pairs in whole pixels, as `perturb.shift` takes them (right and down
    positive, zeros coming in at the edge), made by padding and cropping layers, so the model
    saves and exports like any other. `model`'s weights are shared, not copied; its optimizer is
    left behind, so the result is for predicting.
    """
    height, width = IMAGE_SHAPE[:2]
    pairs = [tuple(pair) for pair in shifts]
    if not pairs or not all(
        len(p) == 2 and all(int(d) == d for d in p) and abs(p[0]) < width and abs(p[1]) < height
        for p in pairs
    ):
        raise ValueError(
            f"shifts must be (dx, dy) pairs of whole pixels, each smaller than the image "
            f"({width} x {height}), at least one pair; got {shifts}"
        )
    model = keras.Model(model.input, model.output, name=model.name)  # its optimizer left behind
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    outputs = []
    for i, (dx, dy) in enumerate((int(dx), int(dy)) for dx, dy in pairs):
        x = inputs
        if (dx, dy) != (0, 0):  # pad the side the image moves towards, crop the opposite side
            pad = ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)))
            x = layers.ZeroPadding2D(pad, name=f"shift{i}_pad")(x)
            x = layers.Cropping2D((pad[0][::-1], pad[1][::-1]), name=f"shift{i}_crop")(x)
        outputs.append(model(x))
    if len(outputs) == 1:
        return keras.Model(inputs, outputs[0], name="test_time_augmentation")
    average = layers.Average(name="average_over_shifts")(outputs)
    return keras.Model(inputs, average, name="test_time_augmentation")


# name -> (builder, recipe). A builder takes no arguments and returns a model, not compiled,
# that `fit(model, recipe, ...)` trains.
MODELS = {
    "baseline": (build_baseline, BASELINE_RECIPE),
    "cnn": (build_cnn, CNN_RECIPE),
    "dense": (build_dense, CNN_RECIPE),
    "cnn_augmented": (build_augmented_cnn, CNN_RECIPE),
    "dense_augmented": (build_augmented_dense, CNN_RECIPE),
    "vgg": (build_vgg, VGG_RECIPE),
}


def fit(
    model, recipe, x_tr, y_tr, x_val, y_val, verbose="auto", callbacks=()
) -> keras.callbacks.History:
    """Compile `model` for `recipe` and `len(x_tr)` images (`compile_for`), then train it as the
    recipe says, from the optimizer's first step, checking the validation set after each epoch.
    A model trained before is refused: it would train on, not as the recipe says.

    `x_tr` `(N, 28, 28, 1)` float32, `y_tr` `(N,)` integer labels; likewise the validation set.
    `verbose`: as in `keras.Model.fit` (0 quiet, 1 progress bar, 2 one line per epoch);
    `callbacks`: Keras callbacks to add (a timer, say).
    Returns the `History`: `.history` holds `loss`, `accuracy`, `val_loss`, `val_accuracy`.
    """
    if getattr(model, "history", None) is not None and model.history.epoch:
        raise ValueError(
            f"this model has been trained already, and fit trains a model from the start, as its "
            f"recipe says: build it again (e.g. models.build_{model.name}() again) and fit that"
        )
    compile_for(model, recipe, len(x_tr))
    return model.fit(
        x_tr,
        y_tr,
        batch_size=recipe["batch_size"],
        epochs=recipe["epochs"],
        validation_data=(x_val, y_val),
        verbose=verbose,
        callbacks=list(callbacks),
    )
