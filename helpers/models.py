"""The series' Keras models: built in one place, trained once, cached on disk.

- `build_seed_model()`: the model of the tutorial this series started from, kept as the baseline.
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
- `prepare(x)`, `split_validation(x, y)`, `fit(model, recipe, ...)`: the one way every notebook
  turns Fashion-MNIST into training data and trains a model, so that they all train alike.
- `trained_model(name)`: a trained model by name, loaded from `models_dir()` when it was trained
  before, otherwise trained (with seeds set), stored and returned; so any notebook can run alone
  in a fresh kernel. `store_trained(model, name)` is the only way a model enters that cache,
  `training_record(name)` says how a stored model was trained, and `python -m helpers.models
  clean` (`make clean-models`) empties the cache.

The notebooks measure each model's accuracy and training time.

To add a model, write its builder (a function of no arguments that returns a compiled model) and
its recipe (epochs and batch size), and add one entry to `MODELS`.

The saved file's name carries a fingerprint of the architecture, the optimizer, the recipe and
the Keras version: change any of them and the model is trained again instead of a stale one
being loaded. Beside each file, a record (`.json`) written only once training has finished
says how it was trained and holds the file's SHA-256: a file without a matching record, an
untrained or half-trained model put there by hand, say, is trained again rather than trusted.
"""

import contextlib
import hashlib
import json
import math
import os
import secrets
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import platformdirs
import tensorflow as tf
from keras import layers

from helpers.data import load_fashion_mnist

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# The last 5,000 of the 60,000 training images are held out to watch for overfitting while
# training; the model learns from the first 55,000. The test set is used once, at the end.
VALIDATION_SIZE = 5_000
TRAIN_SIZE = 60_000 - VALIDATION_SIZE
SEED = 0

# How each model is trained. `fit` and `trained_model` read these, and so do the notebooks.
SEED_RECIPE = {"epochs": 10, "batch_size": 64}
CNN_RECIPE = {"epochs": 10, "batch_size": 128, "learning_rate": 3e-3, "warmup_epochs": 1}
VGG_RECIPE = {**CNN_RECIPE, "epochs": 11}


def prepare(x: np.ndarray) -> np.ndarray:
    """uint8 images `(N, 28, 28)` in 0..255 -> float32 `(N, 28, 28, 1)` in [0, 1]."""
    return (np.asarray(x, dtype=np.float32) / 255.0)[..., np.newaxis]


def split_validation(x_train: np.ndarray, y_train: np.ndarray):
    """Hold out the last `VALIDATION_SIZE` training images.

    `x_train` `(60000, ...)`, `y_train` `(60000,)` -> `(x_tr, y_tr), (x_val, y_val)`, the first
    55,000 and the last 5,000, in order. Fashion-MNIST's training set comes shuffled: its last
    5,000 images hold between 450 and 527 of each class.
    """
    n = len(x_train) - VALIDATION_SIZE
    return (x_train[:n], y_train[:n]), (x_train[n:], y_train[n:])


def seed_everything(seed: int = SEED) -> None:
    """Make training repeatable: seed Python, NumPy and TensorFlow, and use deterministic ops.

    With deterministic ops on, Keras declines `jit_compile` (XLA).
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_seed_model() -> keras.Model:
    """The tutorial's original model, compiled: `(N, 28, 28, 1)` in [0, 1] -> `(N, 10)`.

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
    model = keras.Model(inputs, outputs, name="seed")
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


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


def _compiled(model: keras.Model, recipe: dict) -> keras.Model:
    """`model` compiled for 10-way classification with Adam, whose learning rate warms up from 0
    to `recipe["learning_rate"]` over `recipe["warmup_epochs"]`, then follows a cosine down to 0
    at the end of `recipe["epochs"]`; the schedule counts optimizer steps (batches)."""
    steps_per_epoch = math.ceil(TRAIN_SIZE / recipe["batch_size"])
    warmup_steps = round(recipe["warmup_epochs"] * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=recipe["epochs"] * steps_per_epoch - warmup_steps,
        warmup_target=recipe["learning_rate"],
        warmup_steps=warmup_steps,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def build_cnn() -> keras.Model:
    """Our classifier, compiled: `(N, 28, 28, 1)` in [0, 1] -> `(N, 10)` probabilities.

    Two convolution blocks (32 then 64 filters; 28x28 -> 14x14 -> 7x7), then Dropout, Dense(128)
    with ReLU, Dropout, and the 10-way softmax. Adam, with a learning rate that warms up from 0 to
    3e-3 in the first epoch and then follows a cosine down to 0 at the end of the 10th
    (`CNN_RECIPE`).
    """
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    return _compiled(keras.Model(inputs, _cnn_layers(inputs), name="cnn"), CNN_RECIPE)


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


def build_vgg(precision: str | None = None, recipe: dict = VGG_RECIPE) -> keras.Model:
    """Notebook 10's stronger model, compiled: `(N, 28, 28, 1)` in [0, 1] -> `(N, 10)`.

    build_cnn with one more convolution (and BatchNorm, ReLU) at the start of each block: 32, 32,
    then 64, 64 filters, the head unchanged (468,394 parameters). Its first block works at full
    resolution, which costs several times build_cnn's time per epoch; it trains in `precision`
    (a Keras dtype policy, by default `training_precision()`): in "mixed_bfloat16" the layers
    compute in bfloat16 and keep their weights in float32, faster on hardware with bfloat16
    units (notebook 10 measures it).
    `recipe`: how it will be trained (its learning-rate schedule depends on it); `VGG_RECIPE`,
    CNN_RECIPE for 11 epochs, unless another is given (benchmarks/train_fashion.py tries others).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision or training_precision())
    try:  # the policy in force when a layer is made is the layer's policy
        inputs = keras.Input(IMAGE_SHAPE, name="image")
        outputs = _cnn_layers(inputs, block=_vgg_block)
    finally:
        keras.config.set_dtype_policy(previous)
    return _compiled(keras.Model(inputs, outputs, name="vgg"), recipe)


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
    """build_cnn's network and training, with `augmentation_layers` in front, compiled."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    outputs = _cnn_layers(augmentation_layers(inputs))
    return _compiled(keras.Model(inputs, outputs, name="cnn_augmented"), CNN_RECIPE)


def _dense_layers(x):
    """Flatten -> Dense(512, ReLU) -> Dropout -> softmax: `(N, 28, 28, 1)` -> `(N, 10)`."""
    x = layers.Flatten(name="flatten")(x)  # (784,)
    x = layers.Dense(512, activation="relu", name="dense")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    return layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)


def build_dense() -> keras.Model:
    """A network without convolutions, about the size of build_cnn's (407,050 parameters against
    421,930), compiled and trained alike: Flatten -> Dense(512, ReLU) -> Dropout -> softmax."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    return _compiled(keras.Model(inputs, _dense_layers(inputs), name="dense"), CNN_RECIPE)


def build_augmented_dense() -> keras.Model:
    """build_dense's network and training, with `augmentation_layers` in front, compiled."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    outputs = _dense_layers(augmentation_layers(inputs))
    return _compiled(keras.Model(inputs, outputs, name="dense_augmented"), CNN_RECIPE)


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


# name -> (builder, recipe). A builder takes no arguments and returns a compiled model that
# `fit(model, recipe, ...)` trains as intended.
MODELS = {
    "seed": (build_seed_model, SEED_RECIPE),
    "cnn": (build_cnn, CNN_RECIPE),
    "dense": (build_dense, CNN_RECIPE),
    "cnn_augmented": (build_augmented_cnn, CNN_RECIPE),
    "dense_augmented": (build_augmented_dense, CNN_RECIPE),
    "vgg": (build_vgg, VGG_RECIPE),
}


def fit(
    model, recipe, x_tr, y_tr, x_val, y_val, verbose="auto", callbacks=()
) -> keras.callbacks.History:
    """Train `model` as `recipe` says, checking the validation set after each epoch.

    `x_tr` `(N, 28, 28, 1)` float32, `y_tr` `(N,)` integer labels; likewise the validation set.
    `verbose`: as in `keras.Model.fit` (0 quiet, 1 progress bar, 2 one line per epoch);
    `callbacks`: Keras callbacks to add (a timer, say).
    Returns the `History`: `.history` holds `loss`, `accuracy`, `val_loss`, `val_accuracy`.
    """
    return model.fit(
        x_tr,
        y_tr,
        batch_size=recipe["batch_size"],
        epochs=recipe["epochs"],
        validation_data=(x_val, y_val),
        verbose=verbose,
        callbacks=list(callbacks),
    )


def models_dir() -> Path:
    """Where trained models are kept: `$CNN_TUTORIAL_MODELS`, else the repository's data/models/."""
    env = os.environ.get("CNN_TUTORIAL_MODELS")
    return Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "data/models"


def export_dir() -> Path:
    """A folder to export models into, created if needed: `models_dir()/export`, or
    `user_models_dir()/export` when the first cannot be written."""
    for folder in (models_dir() / "export", user_models_dir() / "export"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                return folder
        except OSError:
            continue
    raise OSError(
        f"cannot write to {models_dir() / 'export'} nor to {user_models_dir() / 'export'}: set "
        "CNN_TUTORIAL_MODELS to a folder you can write to, and run the cell again"
    )


def user_models_dir() -> Path:
    """Where trained models go when `models_dir()` cannot be written (a class's shared, read-only
    copy of the repository, say): this user's cache, ~/.cache/cnn-tutorial/models on Linux."""
    return Path(platformdirs.user_cache_dir("cnn-tutorial")) / "models"


def fingerprint(model: keras.Model, recipe: dict, seed: int = SEED) -> str:
    """12 hex digits that change whenever the architecture, compile settings, recipe, training
    seed or Keras do."""
    described = json.loads(model.to_json())  # the layers, and the optimizer, loss and metrics
    optimizer = (described.get("compile_config") or {}).get("optimizer")
    if isinstance(optimizer, dict):
        optimizer.get("config", {}).pop("name", None)  # counted per session: "adam", "adam_1"...
    described.update(recipe=recipe, seed=seed, validation_size=VALIDATION_SIZE)
    described["keras_version"] = keras.__version__
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def model_path(name: str, seed: int = SEED) -> Path:
    """The file `trained_model(name, seed)` loads from and saves to: `cnn-0123456789ab.keras`."""
    builder, recipe = MODELS[name]
    return models_dir() / f"{name}-{fingerprint(builder(), recipe, seed)}.keras"


def _write_atomically(path: Path, write) -> Path:
    """Call `write(temporary_path)`, then rename the temporary file to `path` in one step:
    readers see the old file or the new, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name in the same folder (so that the rename is atomic), made here rather than by
    # `tempfile`, whose files only their owner may read: the folder may be shared by a class.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_model(model: keras.Model, path) -> Path:
    """Save to `path` (`.keras`) atomically: readers see the old file or the new, never half."""
    return _write_atomically(Path(path), model.save)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _finished_run(model: keras.Model, recipe: dict) -> dict:
    """How `model`'s last training went, if it ran its recipe once, from the start, to the end:
    the epochs completed, and the `history` of each epoch's loss and accuracy."""
    history = getattr(model, "history", None)
    if history is None or not history.epoch:
        raise ValueError(
            "this model has not been trained: train it with models.fit(model, recipe, ...) first"
        )
    epochs, steps = len(history.epoch), int(model.optimizer.iterations)
    if epochs != recipe["epochs"] or steps != history.params["steps"] * recipe["epochs"]:
        raise ValueError(
            f"this model's training did not run as its recipe says ({recipe['epochs']} epochs, "
            f"once): its last fit ran {epochs} epochs and its optimizer took {steps} steps in all. "
            f"Only a finished run is stored: build the model again and train it once, to the end"
        )
    per_epoch = {key: [float(v) for v in values] for key, values in history.history.items()}
    return {"epochs_completed": epochs, "history": per_epoch}


def store_trained(model: keras.Model, name: str, seed: int = SEED) -> Path | None:
    """Put `model`, built by `MODELS[name]`'s builder and trained by `fit` with its recipe (the
    random seed set to `seed` before building), into the cache, where `trained_model(name, seed)`
    finds it.

    Writes the `.keras` file, then its record: the recipe, the seed, the epochs completed, each
    epoch's loss and accuracy (`history`, as `fit` returns it) and the file's SHA-256. Refuses
    (ValueError) a model of another architecture or compile settings, and one whose training did
    not run its recipe to the end.
    If `models_dir()` cannot be written, stores it in `user_models_dir()` and says so. Returns
    the path of the `.keras` file, or None (after saying why) if no folder could take it.
    """
    builder, recipe = MODELS[name]
    expected = fingerprint(builder(), recipe, seed)
    if fingerprint(model, recipe, seed) != expected:
        raise ValueError(
            f"this model is not {builder.__name__}()'s: its layers or compile settings differ, "
            f"so it cannot be stored as {name!r}"
        )
    record = {"name": name, "seed": seed, "recipe": recipe, **_finished_run(model, recipe)}
    problems = []
    for folder in (models_dir(), user_models_dir()):
        path = folder / f"{name}-{expected}.keras"
        saved = False
        try:
            save_model(model, path)
            saved = True
            text = json.dumps({**record, "sha256": _sha256(path)}, indent=1)
            _write_atomically(_record_path(path), lambda tmp, text=text: tmp.write_text(text))
        except OSError as exc:
            if saved:  # leave no model file without its record
                with contextlib.suppress(OSError):
                    path.unlink()
            problems.append(f"{folder} cannot be written ({exc.strerror or exc})")
            continue
        if problems:
            print(f"{problems[0]}, so the trained model is kept in {folder}, where later "
                  f"notebooks find it.")  # fmt: skip
        return path
    print(f"The trained model could not be stored ({'; '.join(problems)}): it is used now, and "
          f"will be trained again next time.")  # fmt: skip
    return None


def _untrusted(path: Path, name: str, seed: int) -> str | None:
    """Why the file at `path` may not be what a finished run of `MODELS[name]` left, or None."""
    try:
        record = json.loads(_record_path(path).read_text())
    except FileNotFoundError:
        return "no record of a finished training run is beside it"
    except (OSError, ValueError):
        return "the record of its training cannot be read"
    if not isinstance(record, dict) or record.get("sha256") != _sha256(path):
        return "it is not the file its training record describes: it changed since, or is damaged"
    _, recipe = MODELS[name]
    if (record.get("name"), record.get("seed"), record.get("recipe")) != (name, seed, recipe):
        return "its training record describes another model or recipe"
    return None


def _same_architecture(a: keras.Model, b: keras.Model) -> bool:
    def summary(model):
        return [
            (layer.name, type(layer).__name__, [tuple(w.shape) for w in layer.weights])
            for layer in model.layers
        ]

    return summary(a) == summary(b)


def _load(path: Path, expected: keras.Model, name: str, seed: int):
    """(the model saved at `path`, None), or (None, why it cannot be trusted to be `expected`,
    `MODELS[name]`'s builder's model, after a finished run with `seed`)."""
    reason = _untrusted(path, name, seed)
    if reason is None:
        try:
            model = keras.models.load_model(path, safe_mode=True)
        except Exception:  # Keras's messages for a damaged zip are misleading ("File not found")
            reason = "it is damaged: Keras cannot read it"
        else:
            if _same_architecture(model, expected):
                return model, None
            reason = "it holds a different architecture"
    return None, reason


def _stored_paths(model: keras.Model, name: str, seed: int) -> list[Path]:
    """The files that may hold `model` (built by `MODELS[name]`'s builder) trained with `seed`."""
    file_name = f"{name}-{fingerprint(model, MODELS[name][1], seed)}.keras"
    paths = [folder / file_name for folder in (models_dir(), user_models_dir())]
    return [path for path in paths if path.exists()]


def training_record(name: str, seed: int = SEED) -> dict:
    """The record of how the stored model `trained_model(name, seed)` loads was trained: "recipe",
    "seed", "epochs_completed", "history" (each epoch's "loss", "accuracy", "val_loss",
    "val_accuracy") and "sha256". FileNotFoundError if no trusted one is stored."""
    builder, _ = MODELS[name]
    for path in _stored_paths(builder(), name, seed):
        if _untrusted(path, name, seed) is None:
            return json.loads(_record_path(path).read_text())
    raise FileNotFoundError(f"no trained {name!r} is stored: call trained_model({name!r}) first")


def trained_model(name: str, verbose=0, seed: int = SEED) -> keras.Model:
    """The model `name` (a key of `MODELS`: "seed", "cnn", "dense", "cnn_augmented",
    "dense_augmented", "vgg"), trained, compiled.

    Loaded from `models_dir()` (or `user_models_dir()`) if trained before; otherwise trained on
    the first 55,000 training images with seeds set (`verbose` is passed to `fit`), stored with
    `store_trained`, and returned. A saved file that cannot be trusted (no record of a finished
    run, changed since, damaged, another architecture) is trained again and replaced.
    Another `seed` trains the same model from another random start (a separate file), as an
    ensemble's members need.
    """
    builder, recipe = MODELS[name]
    model = builder()
    unusable = []
    for path in _stored_paths(model, name, seed):
        loaded, reason = _load(path, model, name, seed)
        if loaded is not None:
            return loaded
        unusable.append(f"{path} cannot be used ({reason})")
    if unusable:
        print(f"The saved model {'; '.join(unusable)}: training it again.")
    seed_everything(seed)
    model = builder()  # built again after seeding, so that its initial weights are repeatable
    (x_train, y_train), _ = load_fashion_mnist()
    (x_tr, y_tr), (x_val, y_val) = split_validation(prepare(x_train), y_train)
    fit(model, recipe, x_tr, y_tr, x_val, y_val, verbose=verbose)
    store_trained(model, name, seed)
    return model


def clean(folders=None) -> list[Path]:
    """Empty the cache: delete the trained models and their records (and any temporaries) in
    `models_dir()` and `user_models_dir()`, leaving subfolders (notebook 10's export/) alone.
    Returns the paths deleted."""
    removed = []
    for folder in folders or (models_dir(), user_models_dir()):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in (".keras", ".json"):
                    path.unlink()
                    removed.append(path)
    return removed


def main(argv=None) -> int:
    """`python -m helpers.models clean`: empty the cache of trained models."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["clean"]:
        print("usage: python -m helpers.models clean", file=sys.stderr)
        return 2
    folders = (models_dir(), user_models_dir())
    removed = clean(folders)
    print(f"deleted {len(removed)} files from {' and '.join(map(str, folders))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
