"""helpers.models: the real models are built, not trained; their recipes compiled and fitted."""

import math
import warnings

import keras
import numpy as np
import pytest

from helpers import model_cache, models
from helpers.perturb import shift

# The real models: shapes and names; their recipes, compiled by whoever trains.


def test_baseline_is_the_tutorials_model():
    model = models.build_baseline()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    assert [layer.name for layer in model.layers] == [
        "image", "relu_in", "pool1", "conv", "relu", "pool2", "flatten", "dense", "probs",
    ]  # fmt: skip
    assert model.get_layer("conv").kernel.shape == (3, 3, 1, 64)
    assert model.get_layer("dense").get_config()["activation"] == "linear"
    assert model.count_params() == 148_810
    assert not model.compiled  # compiled by whoever trains it, from its recipe
    models.compile_for(model, models.BASELINE_RECIPE)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)  # Adam's default, constant


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
    models.compile_for(model, recipe)  # as fit compiles it for the 55,000 training images
    lr = keras.optimizers.schedules.deserialize(model.optimizer.get_config()["learning_rate"])
    assert float(lr(0)) == 0.0
    assert float(lr(steps)) == pytest.approx(recipe["learning_rate"])
    assert float(lr(recipe["epochs"] * steps)) == pytest.approx(0.0, abs=1e-9)


def test_fit_compiles_from_the_recipe_with_the_real_number_of_steps():
    """A recipe of 3 epochs on 40 images in batches of 16: 3 steps an epoch, 9 in all."""
    recipe = {"epochs": 3, "batch_size": 16, "learning_rate": 1e-2, "warmup_epochs": 1}
    model = models.build_baseline()
    x = np.random.default_rng(4).random((40, 28, 28, 1), np.float32)
    y = np.arange(40) % 10
    history = models.fit(model, recipe, x, y, x[:8], y[:8], verbose=0)
    assert len(history.epoch) == 3 and int(model.optimizer.iterations) == 9
    lr = keras.optimizers.schedules.deserialize(model.optimizer.get_config()["learning_rate"])
    assert float(lr(3)) == pytest.approx(1e-2)  # warmed up after the first epoch's 3 steps
    assert float(lr(9)) == pytest.approx(0.0, abs=1e-9)  # and down to 0 at the last step
    assert float(lr(6)) > 1e-3  # not at 0 before the end, as a schedule for more steps would be


def test_fit_refuses_a_model_trained_before():
    """fit trains from the start, as the recipe says: a trained model would train on."""
    recipe = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3}
    model = models.build_baseline()
    x = np.random.default_rng(5).random((16, 28, 28, 1), np.float32)
    y = np.arange(16) % 10
    models.fit(model, recipe, x, y, x, y, verbose=0)
    with pytest.raises(ValueError, match=r"trained already.*build_baseline\(\) again"):
        models.fit(model, recipe, x, y, x, y, verbose=0)


def test_compile_settings_compare_what_training_depends_on():
    a = models.compile_for(models.build_cnn(), models.CNN_RECIPE)
    b = models.compile_for(models.build_cnn(), models.CNN_RECIPE)  # its optimizer is "adam_1"
    assert models.compile_settings(a) == models.compile_settings(b)
    c = models.compile_for(models.build_cnn(), {**models.CNN_RECIPE, "epochs": 20})
    assert models.compile_settings(c) != models.compile_settings(a)
    assert models.compile_settings(models.build_cnn()) == {}  # not compiled


def test_dense_is_the_size_of_the_cnn_without_convolutions():
    model = models.build_dense()
    assert model.output_shape == (None, 10)
    assert not any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)
    assert model.count_params() == 407_050  # build_cnn: 421,930
    assert models.MODELS["dense"][1] is models.MODELS["cnn"][1]  # trained alike


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
    lr = models.learning_rate(models.VGG_RECIPE, steps)
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


@pytest.mark.slow
def test_in_float32_copies_the_weights_into_float32_layers():
    mixed = models.compile_for(models.build_vgg("mixed_bfloat16"), models.VGG_RECIPE)
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

    model_cache.save_model(ensemble, tmp_path / "ensemble.keras")
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

    model_cache.save_model(augmented, tmp_path / "augmented.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Skipping variable loading for optimizer"
        reloaded = keras.models.load_model(tmp_path / "augmented.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=1e-6)


@pytest.mark.parametrize("shifts", [[], [(0.5, 0)], [(28, 0)], [(0, -28)], [(1, 2, 3)]])
def test_test_time_augmentation_refuses_impossible_shifts(shifts):
    with pytest.raises(ValueError, match=r"whole pixels, each smaller than the image \(28 x 28\)"):
        models.build_test_time_augmentation(models.build_cnn(), shifts)
