"""helpers.models: the real models are built, not trained; the cache is tested on a tiny model."""

import errno
import hashlib
import json
import math
import os
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from tensorflow.python.framework import config as tf_config

from helpers import models
from helpers.perturb import shift

TINY_RECIPE = {"epochs": 1, "batch_size": 16}


def build_tiny(units: int = 4) -> keras.Model:
    """A model of the real models' shape, small enough to train in well under a second."""
    inputs = keras.Input(models.IMAGE_SHAPE, name="image")
    x = keras.layers.AveragePooling2D(7, name="pool")(inputs)  # (4, 4, 1)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(units, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(models.NUM_CLASSES, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fake_fashion_mnist():
    """Random uint8 images and labels of Fashion-MNIST's types, 40 + 8 of them."""
    rng = np.random.default_rng(0)
    return (
        (rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40, np.uint8)),
        (rng.integers(0, 256, (8, 28, 28), dtype=np.uint8), rng.integers(0, 10, 8, np.uint8)),
    )


@pytest.fixture(autouse=True)
def _no_lasting_determinism():
    """`trained_model` turns deterministic ops on: leave them as the other tests had them."""
    was_on = tf_config.is_op_determinism_enabled()
    yield
    if not was_on:
        tf_config.disable_op_determinism()  # the public API can only turn them on


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A registry of one tiny model, fake data, a models folder in tmp_path, and counted fits."""
    monkeypatch.setenv("CNN_TUTORIAL_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))  # user_models_dir()
    monkeypatch.setattr(models, "MODELS", {"tiny": (build_tiny, dict(TINY_RECIPE))})
    monkeypatch.setattr(models, "VALIDATION_SIZE", 10)
    monkeypatch.setattr(models, "load_fashion_mnist", fake_fashion_mnist)
    calls = []
    real_fit = models.fit

    def counted_fit(model, recipe, x_tr, y_tr, x_val, y_val, **kwargs):
        calls.append((len(x_tr), len(x_val)))
        return real_fit(model, recipe, x_tr, y_tr, x_val, y_val, **kwargs)

    monkeypatch.setattr(models, "fit", counted_fit)
    return SimpleNamespace(fits=calls, folder=tmp_path / "models", tmp_path=tmp_path)


def saved_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def with_record(*paths: Path) -> list[str]:
    """The names a stored model leaves: its `.keras` file and its record, for each path."""
    return sorted(n for p in paths for n in (p.name, p.with_suffix(".json").name))


# The real models: shapes, names, compiled.


def test_seed_model_is_the_tutorials():
    model = models.build_seed_model()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    assert [layer.name for layer in model.layers] == [
        "image", "relu_in", "pool1", "conv", "relu", "pool2", "flatten", "dense", "probs",
    ]  # fmt: skip
    assert model.get_layer("conv").kernel.shape == (3, 3, 1, 64)
    assert model.get_layer("dense").get_config()["activation"] == "linear"
    assert model.count_params() == 148_810
    assert isinstance(model.optimizer, keras.optimizers.Adam)


def test_cnn_shapes_names_and_schedule():
    model = models.build_cnn()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    assert [layer.name for layer in model.layers] == [
        "image",
        "conv1", "pool1", "bn1", "relu1",
        "conv2", "pool2", "bn2", "relu2",
        "flatten", "dropout1", "dense", "dropout2", "probs",
    ]  # fmt: skip
    assert model.get_layer("relu2").output.shape == (None, 7, 7, 64)
    assert model.count_params() == 421_930
    probs = model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    # Warm-up from 0 to the peak in one epoch, then a cosine down to 0 at the end of the recipe.
    recipe = models.CNN_RECIPE
    steps = math.ceil(models.TRAIN_SIZE / recipe["batch_size"])
    lr = keras.optimizers.schedules.deserialize(model.optimizer.get_config()["learning_rate"])
    assert float(lr(0)) == 0.0
    assert float(lr(steps)) == pytest.approx(recipe["learning_rate"])
    assert float(lr(recipe["epochs"] * steps)) == pytest.approx(0.0, abs=1e-9)


def test_dense_is_the_size_of_the_cnn_without_convolutions():
    model = models.build_dense()
    assert model.output_shape == (None, 10)
    assert not any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)
    assert model.count_params() == 407_050  # build_cnn: 421,930
    trained_alike = models.build_cnn().optimizer.get_config()
    assert {**model.optimizer.get_config(), "name": ""} == {**trained_alike, "name": ""}


def test_augmented_cnn_is_the_cnn_with_augmentation_that_acts_only_in_training():
    augmented, plain = models.build_augmented_cnn(), models.build_cnn()
    names = [layer.name for layer in augmented.layers]
    assert names[1:5] == ["random_shift", "random_rotation", "random_brightness", "random_contrast"]
    assert names[5:] == [layer.name for layer in plain.layers][1:]
    plain.set_weights(augmented.get_weights())  # the augmentation layers have no weights
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(augmented.predict(x, verbose=0), plain.predict(x, verbose=0))

    augment = keras.Model(augmented.input, augmented.get_layer("random_contrast").output)
    np.testing.assert_array_equal(augment(x, training=False), x)
    changed = keras.ops.convert_to_numpy(augment(x, training=True))
    assert not np.allclose(changed, x) and changed.min() >= 0 and changed.max() <= 1


def test_augmented_dense_is_the_dense_network_with_the_same_augmentation():
    augmented, plain = models.build_augmented_dense(), models.build_dense()
    names = [layer.name for layer in augmented.layers]
    assert names[1:5] == ["random_shift", "random_rotation", "random_brightness", "random_contrast"]
    assert names[5:] == [layer.name for layer in plain.layers][1:]
    assert augmented.count_params() == plain.count_params()


def drawn(layer_name: str, image: np.ndarray, n: int = 2000) -> np.ndarray:
    """`n` copies of `image` `(28, 28)` passed through one augmentation layer in training."""
    model = models.build_augmented_cnn()
    batch = np.repeat(image[np.newaxis, :, :, np.newaxis], n, axis=0)
    return keras.ops.convert_to_numpy(model.get_layer(layer_name)(batch, training=True))


def test_contrast_is_lowered_as_often_as_raised_within_the_stated_range():
    """AUGMENTATION says 0.7x to 1.3x: draw many factors and look at both ends."""
    c = models.AUGMENTATION["contrast_factor"]
    image = np.random.default_rng(0).uniform(0.4, 0.6, (28, 28)).astype(np.float32)  # no clipping
    out = drawn("random_contrast", image)
    factors = (out - image.mean()).std(axis=(1, 2, 3)) / (image - image.mean()).std()
    assert factors.min() >= 1 - c - 1e-3 and factors.max() <= 1 + c + 1e-3
    assert factors.min() < 1 - 0.9 * c and factors.max() > 1 + 0.9 * c  # both ends reached
    assert 0.4 < np.mean(factors < 1) < 0.6  # lowered about as often as raised


def test_brightness_is_lowered_as_often_as_raised_within_the_stated_range():
    b = models.AUGMENTATION["brightness_offset"]
    image = np.random.default_rng(0).uniform(0.3, 0.7, (28, 28)).astype(np.float32)
    offsets = (drawn("random_brightness", image) - image[:, :, np.newaxis]).mean(axis=(1, 2, 3))
    assert offsets.min() >= -b - 1e-3 and offsets.max() <= b + 1e-3
    assert offsets.min() < -0.9 * b and offsets.max() > 0.9 * b
    assert 0.4 < np.mean(offsets < 0) < 0.6


def test_vgg_is_the_cnn_with_a_second_convolution_in_each_block():
    model = models.build_vgg("float32")
    assert [layer.name for layer in model.layers] == [
        "image",
        "conv1a", "bn1a", "relu1a", "conv1", "pool1", "bn1", "relu1",
        "conv2a", "bn2a", "relu2a", "conv2", "pool2", "bn2", "relu2",
        "flatten", "dropout1", "dense", "dropout2", "probs",
    ]  # fmt: skip
    assert model.get_layer("conv1a").output.shape == (None, 28, 28, 32)  # at full resolution
    assert model.get_layer("conv2a").kernel.shape == (3, 3, 32, 64)
    assert model.get_layer("relu2").output.shape == (None, 7, 7, 64)
    assert model.count_params() == 468_394
    # Trained as build_cnn, over 11 epochs: the cosine reaches 0 at the end of the 11th.
    assert models.VGG_RECIPE == {**models.CNN_RECIPE, "epochs": 11}
    steps = math.ceil(models.TRAIN_SIZE / models.VGG_RECIPE["batch_size"])
    lr = keras.optimizers.schedules.deserialize(model.optimizer.get_config()["learning_rate"])
    assert float(lr(steps)) == pytest.approx(models.VGG_RECIPE["learning_rate"])
    assert float(lr(10 * steps)) > 1e-5
    assert float(lr(11 * steps)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_vgg_computes_in_its_precision_and_gives_float32_probabilities(precision):
    model = models.build_vgg(precision)
    assert {layer.dtype_policy.name for layer in model.layers[1:-1]} == {precision}
    assert model.get_layer("conv1").kernel.dtype == "float32"  # weights stay float32
    probs = model.predict(np.random.default_rng(2).random((3, 28, 28, 1), np.float32), verbose=0)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone


def test_vgg_leaves_the_global_policy_alone_when_the_precision_is_wrong():
    with pytest.raises(ValueError, match="float31"):
        models.build_vgg("float31")
    assert keras.config.dtype_policy().name == "float32"


def test_a_mixed_precision_model_keeps_its_precision_in_its_file(tmp_path):
    model = models.build_vgg("mixed_bfloat16")
    path = models.save_model(model, tmp_path / "vgg.keras")
    reloaded = keras.models.load_model(path, compile=False)  # untrained: no optimizer state
    assert models._same_architecture(reloaded, model)
    assert reloaded.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"
    assert reloaded.get_layer("probs").dtype_policy.name == "float32"


@pytest.mark.slow
def test_in_float32_copies_the_weights_into_float32_layers():
    mixed = models.build_vgg("mixed_bfloat16")
    x = np.random.default_rng(3).random((8, 28, 28, 1), np.float32)
    mixed.fit(x, np.arange(8) % 10, epochs=1, verbose=0)  # weights other than the initial ones
    copy = models.in_float32(mixed)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    for a, b in zip(copy.get_weights(), mixed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    reference = models.build_vgg("float32")  # the same network, built in float32
    reference.set_weights(mixed.get_weights())
    np.testing.assert_allclose(
        copy.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-5, atol=1e-7
    )
    # bfloat16 keeps 8 significant bits: the mixed model's probabilities are close, not equal.
    assert 0 < np.abs(copy.predict(x, verbose=0) - mixed.predict(x, verbose=0)).max() < 0.05

    copy.get_layer("dense").kernel.assign(np.zeros((3136, 128), np.float32))
    assert np.any(mixed.get_layer("dense").kernel.numpy())  # a copy, not shared weights


@pytest.mark.parametrize(
    ("gpu_capability", "cpu_flags", "expected"),
    [
        (None, "fpu avx2 avx512f avx512_bf16 sse", "mixed_bfloat16"),
        (None, "fpu amx_bf16 amx_tile avx2", "mixed_bfloat16"),
        (None, "fpu avx2 avx512f avx512_vnni", "float32"),  # bfloat16 would be emulated
        (None, OSError, "float32"),  # no /proc/cpuinfo: not Linux
        ((8, 0), "fpu avx2", "mixed_bfloat16"),  # the GPU decides, whatever the CPU
        ((7, 5), "fpu avx512_bf16", "float32"),
    ],
)
def test_training_precision_follows_the_hardware(monkeypatch, gpu_capability, cpu_flags, expected):
    gpus = [] if gpu_capability is None else ["GPU:0"]
    monkeypatch.setattr(models.tf.config, "list_physical_devices", lambda kind: gpus)
    monkeypatch.setattr(
        models.tf.config.experimental,
        "get_device_details",
        lambda gpu: {"compute_capability": gpu_capability},
    )

    def read_text(path, *args, **kwargs):
        assert str(path) == "/proc/cpuinfo"
        if cpu_flags is OSError:
            raise FileNotFoundError(path)
        return f"processor\t: 0\nflags\t\t: {cpu_flags}\n"

    monkeypatch.setattr(models.Path, "read_text", read_text)
    assert models.training_precision() == expected


@pytest.mark.slow
def test_ensemble_averages_its_members_and_saves_without_their_optimizers(tmp_path):
    members = [models.build_cnn(), models.build_dense(), models.build_cnn()]
    ensemble = models.build_ensemble(members)
    x = np.random.default_rng(1).random((5, 28, 28, 1), dtype=np.float32)
    expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), expected, atol=1e-6)
    assert ensemble.count_params() == sum(m.count_params() for m in members)  # shared

    models.save_model(ensemble, tmp_path / "ensemble.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Skipping variable loading for optimizer"
        reloaded = keras.models.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=1e-6)


def test_an_ensemble_of_one_is_refused():
    with pytest.raises(ValueError, match="at least 2 members"):
        models.build_ensemble([models.build_cnn()])


@pytest.mark.slow
def test_test_time_augmentation_averages_over_shifted_copies_and_exports(tmp_path):
    model = models.build_cnn()
    x = np.random.default_rng(2).random((6, 28, 28, 1), dtype=np.float32)
    for shifts in (models.TTA_SHIFTS, [(2, -3), (-27, 0)], [(0, 0)], [(1, 1)]):
        augmented = models.build_test_time_augmentation(model, shifts)
        expected = np.mean([model.predict(shift(x, dx, dy), verbose=0) for dx, dy in shifts], 0)
        np.testing.assert_allclose(augmented.predict(x, verbose=0), expected, atol=1e-6)
        assert augmented.count_params() == model.count_params()  # shared, not copied

    models.save_model(augmented, tmp_path / "augmented.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Skipping variable loading for optimizer"
        reloaded = keras.models.load_model(tmp_path / "augmented.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=1e-6)


@pytest.mark.parametrize("shifts", [[], [(0.5, 0)], [(28, 0)], [(0, -28)], [(1, 2, 3)]])
def test_test_time_augmentation_refuses_impossible_shifts(shifts):
    with pytest.raises(ValueError, match=r"whole pixels, each smaller than the image \(28 x 28\)"):
        models.build_test_time_augmentation(models.build_cnn(), shifts)


def test_export_dir_is_made_in_the_models_folder(tiny):
    assert models.export_dir() == tiny.folder / "export"
    assert (tiny.folder / "export").is_dir()


def test_export_dir_falls_back_to_the_users_cache(tiny, run_unprivileged):
    tiny.folder.mkdir()
    tiny.folder.chmod(0o555)
    child = run_unprivileged("from helpers import models; print(models.export_dir())")
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == str(models.user_models_dir() / "export")
    assert not (tiny.folder / "export").exists()


def test_export_dir_says_what_to_do_when_nothing_can_be_written(tiny, run_unprivileged):
    for folder in (tiny.folder, tiny.tmp_path / "user-cache"):
        folder.mkdir()
        folder.chmod(0o555)
    child = run_unprivileged("from helpers import models; models.export_dir()")
    assert child.returncode != 0
    assert "set CNN_TUTORIAL_MODELS to a folder you can write to" in child.stderr


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_fingerprint_is_stable_and_distinct(name):
    builder, recipe = models.MODELS[name]
    first = models.fingerprint(builder(), recipe)
    assert first == models.fingerprint(builder(), recipe)  # layer names are fixed, not counted
    assert first != models.fingerprint(builder(), {**recipe, "epochs": recipe["epochs"] + 1})


def test_prepare_and_split():
    x = np.arange(60 * 28 * 28, dtype=np.int64).reshape(60, 28, 28) % 256
    prepared = models.prepare(x.astype(np.uint8))
    assert prepared.shape == (60, 28, 28, 1)
    assert prepared.dtype == np.float32
    assert prepared.min() == 0.0 and prepared.max() == 1.0
    (x_tr, y_tr), (x_val, y_val) = models.split_validation(np.arange(60_000), np.arange(60_000))
    assert len(x_tr) == models.TRAIN_SIZE == 55_000 and len(x_val) == models.VALIDATION_SIZE
    np.testing.assert_array_equal(y_val, np.arange(55_000, 60_000))  # the last 5,000, in order


# The cache, on the tiny model.


def test_models_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("CNN_TUTORIAL_MODELS", raising=False)
    assert models.models_dir() == Path(models.__file__).resolve().parent.parent / "data" / "models"
    monkeypatch.setenv("CNN_TUTORIAL_MODELS", str(tmp_path / "elsewhere"))
    assert models.models_dir() == tmp_path / "elsewhere"


@pytest.mark.slow
def test_trains_saves_then_loads(tiny):
    model = models.trained_model("tiny")
    assert tiny.fits == [(30, 10)]  # trained once, on the split
    path = models.model_path("tiny")
    assert path.parent == tiny.folder and path.name.startswith("tiny-")
    assert saved_files(tiny.folder) == with_record(path)  # no temporary file left behind

    again = models.trained_model("tiny")
    assert tiny.fits == [(30, 10)]  # loaded, not trained again
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_training_is_repeatable(tiny):
    first = models.trained_model("tiny").get_weights()
    models.model_path("tiny").unlink()
    second = models.trained_model("tiny").get_weights()
    assert len(tiny.fits) == 2
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_another_seed_is_another_model_in_its_own_file(tiny):
    first = models.trained_model("tiny")
    other = models.trained_model("tiny", seed=1)
    assert len(tiny.fits) == 2
    assert models.model_path("tiny", seed=1) != models.model_path("tiny")
    assert saved_files(tiny.folder) == with_record(
        models.model_path("tiny"), models.model_path("tiny", seed=1)
    )
    assert not np.array_equal(first.get_weights()[-2], other.get_weights()[-2])
    models.trained_model("tiny", seed=1)
    assert len(tiny.fits) == 2  # loaded, not trained again


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a zip file" * 10)


def truncated(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def other_architecture(path: Path) -> None:
    models.save_model(build_tiny(units=5), path)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Skipping variable loading:UserWarning")
@pytest.mark.parametrize("damage", [garbage, truncated, other_architecture])
def test_damaged_file_is_trained_again(tiny, capsys, damage):
    models.trained_model("tiny")
    path = models.model_path("tiny")
    damage(path)
    capsys.readouterr()

    model = models.trained_model("tiny")
    assert len(tiny.fits) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and str(path) in out and "training it again" in out
    assert "changed since, or is damaged" in out
    assert saved_files(tiny.folder) == with_record(path)
    reloaded = keras.models.load_model(path, safe_mode=True)  # overwritten with a good one
    for a, b in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_changed_recipe_trains_again(tiny, monkeypatch):
    models.trained_model("tiny")
    old = models.model_path("tiny")
    monkeypatch.setitem(models.MODELS, "tiny", (build_tiny, {**TINY_RECIPE, "epochs": 2}))
    new = models.model_path("tiny")
    assert new != old

    models.trained_model("tiny")
    assert len(tiny.fits) == 2
    assert saved_files(tiny.folder) == with_record(old, new)

    monkeypatch.setitem(models.MODELS, "tiny", (lambda: build_tiny(units=6), TINY_RECIPE))
    assert models.model_path("tiny") not in (old, new)  # so does a changed architecture


@pytest.mark.slow
def test_an_untrained_model_put_in_the_cache_is_trained_not_trusted(tiny, capsys):
    path = models.save_model(build_tiny(), models.model_path("tiny"))
    untrained = keras.models.load_model(path).get_weights()
    model = models.trained_model("tiny")
    assert len(tiny.fits) == 1
    out = capsys.readouterr().out
    assert str(path) in out and "no record of a finished training run" in out
    assert not np.array_equal(model.get_weights()[-2], untrained[-2])


@pytest.mark.slow
def test_a_model_swapped_in_after_training_is_trained_again(tiny, capsys):
    models.trained_model("tiny")
    path = models.model_path("tiny")
    other = build_tiny(units=4)
    other.get_layer("dense").activation = keras.activations.tanh  # same shapes, another model
    models.save_model(other, path)
    capsys.readouterr()
    models.trained_model("tiny")
    assert len(tiny.fits) == 2
    assert "it changed since, or is damaged" in capsys.readouterr().out


def trained_tiny(epochs: int = TINY_RECIPE["epochs"], fits: int = 1) -> keras.Model:
    """build_tiny, trained `fits` times for `epochs` epochs on the fake data."""
    (x, y), _ = fake_fashion_mnist()
    model = build_tiny()
    for _ in range(fits):
        models.fit(model, {**TINY_RECIPE, "epochs": epochs}, models.prepare(x), y,
                   models.prepare(x[:8]), y[:8], verbose=0)  # fmt: skip
    return model


@pytest.mark.slow
def test_store_trained_writes_the_record_of_a_finished_run(tiny):
    model = trained_tiny()
    path = models.store_trained(model, "tiny")
    assert path == models.model_path("tiny")
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["name"] == "tiny" and record["seed"] == models.SEED
    assert record["recipe"] == TINY_RECIPE and record["epochs_completed"] == 1
    assert record["history"] == model.history.history
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert models.training_record("tiny") == record
    models.trained_model("tiny")
    assert len(tiny.fits) == 1  # trained_tiny's own fit only: the stored model was trusted


def test_training_record_needs_a_trusted_stored_model(tiny):
    with pytest.raises(FileNotFoundError, match="call trained_model"):
        models.training_record("tiny")
    models.save_model(build_tiny(), models.model_path("tiny"))  # no record: not trusted
    with pytest.raises(FileNotFoundError):
        models.training_record("tiny")


@pytest.mark.parametrize(
    "make, says",
    [
        (build_tiny, "has not been trained"),
        (lambda: trained_tiny(epochs=2), "did not run as its recipe says"),  # other epochs
        (lambda: trained_tiny(fits=2), "did not run as its recipe says"),  # trained twice
        (lambda: build_tiny(units=5), "is not build_tiny()'s"),
    ],
)
@pytest.mark.slow
def test_store_trained_refuses_what_is_not_a_finished_run(tiny, make, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        models.store_trained(make(), "tiny")
    assert not tiny.folder.exists()


@pytest.mark.slow
def test_a_damaged_file_with_its_record_says_damaged(tiny, capsys):
    models.trained_model("tiny")
    path = models.model_path("tiny")
    truncated(path)
    record = json.loads(path.with_suffix(".json").read_text())
    record["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(record))
    capsys.readouterr()
    models.trained_model("tiny")
    out = capsys.readouterr().out
    assert "it is damaged: Keras cannot read it" in out and "File not found" not in out


TRAIN_TINY_IN_CHILD = """
import sys
sys.path.insert(0, "tests")
from test_models import TINY_RECIPE, build_tiny, fake_fashion_mnist
from helpers import models
from helpers.perturb import shift
models.MODELS = {"tiny": (build_tiny, dict(TINY_RECIPE))}
models.VALIDATION_SIZE = 10
models.load_fashion_mnist = fake_fashion_mnist
print(models.trained_model("tiny").name)
"""


@pytest.mark.slow
def test_a_read_only_models_folder_keeps_the_run_in_the_users_cache(tiny, run_unprivileged):
    tiny.folder.mkdir()
    tiny.folder.chmod(0o555)
    child = run_unprivileged(TRAIN_TINY_IN_CHILD)
    assert child.returncode == 0, child.stderr
    user_folder = models.user_models_dir()
    assert user_folder == tiny.tmp_path / "user-cache" / "cnn-tutorial" / "models"
    said, returned = child.stdout.splitlines()
    assert said == (
        f"{tiny.folder} cannot be written (Permission denied), so the trained model is kept in "
        f"{user_folder}, where later notebooks find it."
    )
    assert returned == "tiny"
    assert saved_files(tiny.folder) == []
    assert saved_files(user_folder) == with_record(models.model_path("tiny"))
    models.trained_model("tiny")
    assert tiny.fits == []  # found in the user's cache: not trained again


@pytest.mark.slow
def test_a_record_that_cannot_be_written_leaves_no_model_file(tiny, capsys, monkeypatch):
    write_text = Path.write_text

    def full_disk_in_models_dir(self, *args, **kwargs):
        if self.parent == tiny.folder:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", full_disk_in_models_dir)
        models.trained_model("tiny")
    user_folder = models.user_models_dir()
    assert capsys.readouterr().out == (
        f"{tiny.folder} cannot be written (No space left on device), so the trained model is "
        f"kept in {user_folder}, where later notebooks find it.\n"
    )
    assert saved_files(tiny.folder) == []  # the model file went with its failed record
    models.trained_model("tiny")
    assert len(tiny.fits) == 1  # found in the user's cache, not trained again
    assert capsys.readouterr().out == ""  # and nothing said about a half-stored copy


@pytest.mark.slow
def test_clean_empties_the_cache_but_leaves_exports(tiny, capsys):
    models.trained_model("tiny")
    models.trained_model("tiny", seed=1)
    (tiny.folder / "export").mkdir()
    (tiny.folder / "export" / "fashion_cnn.keras").write_bytes(b"an exported model")
    user_folder = models.user_models_dir()
    user_folder.mkdir(parents=True)
    (user_folder / "tiny-0123456789ab.keras").write_bytes(b"kept there once")
    assert models.main(["clean"]) == 0
    assert capsys.readouterr().out.startswith("deleted 5 files from")
    assert saved_files(tiny.folder) == ["export"] and saved_files(user_folder) == []
    assert models.main(["clean"]) == 0
    assert capsys.readouterr().out.startswith("deleted 0 files")


def test_save_model_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "deep" / "m.keras"
    models.save_model(build_tiny(), path)
    assert saved_files(path.parent) == ["m.keras"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as readable as any new file
    before = path.read_bytes()

    def failing_save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        models.save_model(build_tiny(), path)
    assert saved_files(path.parent) == ["m.keras"]  # the temporary file is gone
    assert path.read_bytes() == before  # and the old file untouched
