"""helpers.model_cache: each model trained once, kept on disk; tested on a tiny model."""

import errno
import hashlib
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from tensorflow.python.framework import config as tf_config

from helpers import data, model_cache, models

TINY_RECIPE = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3}


def build_tiny(units: int = 4) -> keras.Model:
    """A model of the real models' shape, small enough to train in well under a second."""
    inputs = keras.Input(models.IMAGE_SHAPE, name="image")
    x = keras.layers.AveragePooling2D(7, name="pool")(inputs)  # (4, 4, 1)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(units, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(models.NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="tiny")


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
    monkeypatch.setattr(model_cache, "MODELS", {"tiny": (build_tiny, dict(TINY_RECIPE))})
    monkeypatch.setattr(data, "VALIDATION_SIZE", 10)
    monkeypatch.setattr(model_cache, "VALIDATION_SIZE", 10)
    monkeypatch.setattr(model_cache, "load_fashion_mnist", fake_fashion_mnist)
    calls = []
    real_fit = model_cache.fit

    def counted_fit(model, recipe, x_tr, y_tr, x_val, y_val, **kwargs):
        calls.append((len(x_tr), len(x_val)))
        return real_fit(model, recipe, x_tr, y_tr, x_val, y_val, **kwargs)

    monkeypatch.setattr(model_cache, "fit", counted_fit)
    return SimpleNamespace(fits=calls, folder=tmp_path / "models", tmp_path=tmp_path)


def cache_path(seed: int = models.SEED) -> Path:
    """Where the tiny model trained with `seed` is stored, as its fingerprint names it."""
    builder, recipe = model_cache.MODELS["tiny"]
    name = f"tiny-{model_cache.fingerprint(models.compile_for(builder(), recipe), recipe, seed)}"
    return model_cache.models_dir() / f"{name}.keras"


def saved_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def with_record(*paths: Path) -> list[str]:
    """The names a stored model leaves: its `.keras` file and its record, for each path."""
    return sorted(n for p in paths for n in (p.name, p.with_suffix(".json").name))


def test_export_dir_is_made_in_the_models_folder(tiny):
    assert model_cache.export_dir() == tiny.folder / "export"
    assert (tiny.folder / "export").is_dir()


def test_export_dir_falls_back_to_the_users_cache(tiny, run_unprivileged):
    tiny.folder.mkdir()
    tiny.folder.chmod(0o555)
    child = run_unprivileged("from helpers import model_cache; print(model_cache.export_dir())")
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == str(model_cache.user_models_dir() / "export")
    assert not (tiny.folder / "export").exists()


def test_export_dir_says_what_to_do_when_nothing_can_be_written(tiny, run_unprivileged):
    for folder in (tiny.folder, tiny.tmp_path / "user-cache"):
        folder.mkdir()
        folder.chmod(0o555)
    child = run_unprivileged("from helpers import model_cache; model_cache.export_dir()")
    assert child.returncode != 0
    assert "set CNN_TUTORIAL_MODELS to a folder you can write to" in child.stderr


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_fingerprint_is_stable_and_distinct(name):
    builder, recipe = models.MODELS[name]
    first = model_cache.fingerprint(models.compile_for(builder(), recipe), recipe)
    again = model_cache.fingerprint(models.compile_for(builder(), recipe), recipe)
    assert first == again  # layer and optimizer names are fixed or left out, not counted
    longer = {**recipe, "epochs": recipe["epochs"] + 1}
    assert first != model_cache.fingerprint(models.compile_for(builder(), longer), longer)


def test_the_real_models_are_found_where_they_were_stored_before_the_builders_compiled_no_more():
    """The fingerprints of the models stored before this refactoring: still the same files."""
    found = {
        name: model_cache.fingerprint(models.compile_for(builder(), recipe), recipe)
        for name, (builder, recipe) in models.MODELS.items()
        if name != "baseline"
    }
    assert found == {
        "cnn": "aff1c0eb875f", "dense": "5cf69919884e", "cnn_augmented": "d701ce62dee7",
        "dense_augmented": "7fff956094c7", "vgg": "ade0a96e5496",
    }  # fmt: skip


def test_a_mixed_precision_model_keeps_its_precision_in_its_file(tmp_path):
    model = models.build_vgg("mixed_bfloat16")
    path = model_cache.save_model(model, tmp_path / "vgg.keras")
    reloaded = keras.models.load_model(path, compile=False)  # untrained: no optimizer state
    assert model_cache._same_architecture(reloaded, model)
    assert reloaded.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"
    assert reloaded.get_layer("probs").dtype_policy.name == "float32"


# The cache, on the tiny model.


def test_models_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("CNN_TUTORIAL_MODELS", raising=False)
    repository = Path(model_cache.__file__).resolve().parent.parent
    assert model_cache.models_dir() == repository / "data" / "models"
    monkeypatch.setenv("CNN_TUTORIAL_MODELS", str(tmp_path / "elsewhere"))
    assert model_cache.models_dir() == tmp_path / "elsewhere"


@pytest.mark.slow
def test_trains_saves_then_loads(tiny):
    model = model_cache.trained_model("tiny")
    assert tiny.fits == [(30, 10)]  # trained once, on the split
    path = cache_path()
    assert path.parent == tiny.folder and path.name.startswith("tiny-")
    assert saved_files(tiny.folder) == with_record(path)  # no temporary file left behind

    again = model_cache.trained_model("tiny")
    assert tiny.fits == [(30, 10)]  # loaded, not trained again
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_training_is_repeatable(tiny):
    first = model_cache.trained_model("tiny").get_weights()
    cache_path().unlink()
    second = model_cache.trained_model("tiny").get_weights()
    assert len(tiny.fits) == 2
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_another_seed_is_another_model_in_its_own_file(tiny):
    first = model_cache.trained_model("tiny")
    other = model_cache.trained_model("tiny", seed=1)
    assert len(tiny.fits) == 2
    assert cache_path(seed=1) != cache_path()
    assert saved_files(tiny.folder) == with_record(cache_path(), cache_path(seed=1))
    assert not np.array_equal(first.get_weights()[-2], other.get_weights()[-2])
    model_cache.trained_model("tiny", seed=1)
    assert len(tiny.fits) == 2  # loaded, not trained again


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a zip file" * 10)


def truncated(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def other_architecture(path: Path) -> None:
    model_cache.save_model(build_tiny(units=5), path)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Skipping variable loading:UserWarning")
@pytest.mark.parametrize("damage", [garbage, truncated, other_architecture])
def test_damaged_file_is_trained_again(tiny, capsys, damage):
    model_cache.trained_model("tiny")
    path = cache_path()
    damage(path)
    capsys.readouterr()

    model = model_cache.trained_model("tiny")
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
    model_cache.trained_model("tiny")
    old = cache_path()
    monkeypatch.setitem(model_cache.MODELS, "tiny", (build_tiny, {**TINY_RECIPE, "epochs": 2}))
    new = cache_path()
    assert new != old

    model_cache.trained_model("tiny")
    assert len(tiny.fits) == 2
    assert saved_files(tiny.folder) == with_record(old, new)

    monkeypatch.setitem(model_cache.MODELS, "tiny", (lambda: build_tiny(units=6), TINY_RECIPE))
    assert cache_path() not in (old, new)  # so does a changed architecture


@pytest.mark.slow
def test_an_untrained_model_put_in_the_cache_is_trained_not_trusted(tiny, capsys):
    path = model_cache.save_model(build_tiny(), cache_path())
    untrained = keras.models.load_model(path).get_weights()
    model = model_cache.trained_model("tiny")
    assert len(tiny.fits) == 1
    out = capsys.readouterr().out
    assert str(path) in out and "no record of a finished training run" in out
    assert not np.array_equal(model.get_weights()[-2], untrained[-2])


@pytest.mark.slow
def test_a_model_swapped_in_after_training_is_trained_again(tiny, capsys):
    model_cache.trained_model("tiny")
    path = cache_path()
    other = build_tiny(units=4)
    other.get_layer("dense").activation = keras.activations.tanh  # same shapes, another model
    model_cache.save_model(other, path)
    capsys.readouterr()
    model_cache.trained_model("tiny")
    assert len(tiny.fits) == 2
    assert "it changed since, or is damaged" in capsys.readouterr().out


def trained_tiny(epochs: int = TINY_RECIPE["epochs"], fits: int = 1, units: int = 4):
    """build_tiny(units), trained for `epochs` epochs on the fake data; then `fits - 1` times
    more by running `model.fit` again, as a notebook's training cell run twice would."""
    (x, y), _ = fake_fashion_mnist()
    model = build_tiny(units)
    models.fit(model, {**TINY_RECIPE, "epochs": epochs}, data.prepare(x), y,
               data.prepare(x[:8]), y[:8], verbose=0)  # fmt: skip
    for _ in range(fits - 1):
        model.fit(data.prepare(x), y, batch_size=16, epochs=epochs, verbose=0)
    return model


@pytest.mark.slow
def test_store_trained_writes_the_record_of_a_finished_run(tiny):
    model = trained_tiny()
    path = model_cache.store_trained(model, "tiny")
    assert path == cache_path()
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["name"] == "tiny" and record["seed"] == models.SEED
    assert record["recipe"] == TINY_RECIPE and record["epochs_completed"] == 1
    assert record["history"] == model.history.history
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert model_cache.training_record("tiny") == record
    model_cache.trained_model("tiny")
    assert tiny.fits == []  # not trained again: the stored model was trusted


def test_training_record_needs_a_trusted_stored_model(tiny):
    with pytest.raises(FileNotFoundError, match="call trained_model"):
        model_cache.training_record("tiny")
    model_cache.save_model(build_tiny(), cache_path())  # no record: not trusted
    with pytest.raises(FileNotFoundError):
        model_cache.training_record("tiny")


@pytest.mark.parametrize(
    "make, says",
    [
        (build_tiny, "has not been trained"),
        (lambda: trained_tiny(epochs=2), "did not run as its recipe says"),  # other epochs
        (lambda: trained_tiny(fits=2), "did not run as its recipe says"),  # trained twice
        (lambda: trained_tiny(units=5), "is not build_tiny()'s"),
    ],
)
@pytest.mark.slow
def test_store_trained_refuses_what_is_not_a_finished_run(tiny, make, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        model_cache.store_trained(make(), "tiny")
    assert not tiny.folder.exists()


@pytest.mark.slow
def test_a_damaged_file_with_its_record_says_damaged(tiny, capsys):
    model_cache.trained_model("tiny")
    path = cache_path()
    truncated(path)
    record = json.loads(path.with_suffix(".json").read_text())
    record["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(record))
    capsys.readouterr()
    model_cache.trained_model("tiny")
    out = capsys.readouterr().out
    assert "it is damaged: Keras cannot read it" in out and "File not found" not in out


TRAIN_TINY_IN_CHILD = """
import sys
sys.path.insert(0, "tests")
from test_model_cache import TINY_RECIPE, build_tiny, fake_fashion_mnist
from helpers import data, model_cache
model_cache.MODELS = {"tiny": (build_tiny, dict(TINY_RECIPE))}
data.VALIDATION_SIZE = model_cache.VALIDATION_SIZE = 10
model_cache.load_fashion_mnist = fake_fashion_mnist
print(model_cache.trained_model("tiny").name)
"""


@pytest.mark.slow
def test_a_read_only_models_folder_keeps_the_run_in_the_users_cache(tiny, run_unprivileged):
    tiny.folder.mkdir()
    tiny.folder.chmod(0o555)
    child = run_unprivileged(TRAIN_TINY_IN_CHILD)
    assert child.returncode == 0, child.stderr
    user_folder = model_cache.user_models_dir()
    assert user_folder == tiny.tmp_path / "user-cache" / "cnn-tutorial" / "models"
    said, returned = child.stdout.splitlines()
    assert said == (
        f"{tiny.folder} cannot be written (Permission denied), so the trained model is kept in "
        f"{user_folder}, where later notebooks find it."
    )
    assert returned == "tiny"
    assert saved_files(tiny.folder) == []
    assert saved_files(user_folder) == with_record(cache_path())
    model_cache.trained_model("tiny")
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
        model_cache.trained_model("tiny")
    user_folder = model_cache.user_models_dir()
    assert capsys.readouterr().out == (
        f"{tiny.folder} cannot be written (No space left on device), so the trained model is "
        f"kept in {user_folder}, where later notebooks find it.\n"
    )
    assert saved_files(tiny.folder) == []  # the model file went with its failed record
    model_cache.trained_model("tiny")
    assert len(tiny.fits) == 1  # found in the user's cache, not trained again
    assert capsys.readouterr().out == ""  # and nothing said about a half-stored copy


@pytest.mark.slow
def test_clean_empties_the_cache_but_leaves_exports(tiny, capsys):
    model_cache.trained_model("tiny")
    model_cache.trained_model("tiny", seed=1)
    (tiny.folder / "export").mkdir()
    (tiny.folder / "export" / "fashion_cnn.keras").write_bytes(b"an exported model")
    user_folder = model_cache.user_models_dir()
    user_folder.mkdir(parents=True)
    (user_folder / "tiny-0123456789ab.keras").write_bytes(b"kept there once")
    assert model_cache.main(["clean"]) == 0
    assert capsys.readouterr().out.startswith("deleted 5 files from")
    assert saved_files(tiny.folder) == ["export"] and saved_files(user_folder) == []
    assert model_cache.main(["clean"]) == 0
    assert capsys.readouterr().out.startswith("deleted 0 files")


def test_save_model_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "deep" / "m.keras"
    model_cache.save_model(build_tiny(), path)
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
        model_cache.save_model(build_tiny(), path)
    assert saved_files(path.parent) == ["m.keras"]  # the temporary file is gone
    assert path.read_bytes() == before  # and the old file untouched
