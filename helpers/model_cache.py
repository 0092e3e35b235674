"""Each model of `helpers.models.MODELS` trained once and kept on disk, so that any notebook can
run alone in a fresh kernel.

- `trained_model(name)`: a trained model by name, loaded from `models_dir()` when it was trained
  before, otherwise trained (with seeds set), stored and returned.
- `store_trained(model, name)` is the only way a model enters the cache (notebook 07 stores the
  models it trains in plain sight), `training_record(name)` says how a stored model was trained,
  and `python -m helpers.model_cache clean` (`make clean-models`) empties the cache.
- `save_model(model, path)` saves atomically; `export_dir()` is a folder to export models into.

The saved file's name carries a fingerprint of the architecture, the compile settings its recipe
gives it, the recipe and the Keras version: change any of them and the model is trained again
instead of a stale one being loaded. Beside each file, a record (`.json`) written only once
training has finished says how it was trained and holds the file's SHA-256: a file without a
matching record, an untrained or half-trained model put there by hand, say, is trained again
rather than trusted.
"""

import contextlib
import hashlib
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

import keras
import platformdirs

from helpers.data import VALIDATION_SIZE, load_fashion_mnist, prepare, split_validation
from helpers.models import MODELS, SEED, compile_for, compile_settings, fit, seed_everything


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
    seed or Keras do. `model`: compiled as trained, e.g. by `compile_for(model, recipe)`."""
    described = json.loads(model.to_json())  # the layers, and the optimizer, loss and metrics
    described["compile_config"] = compile_settings(model)
    described.update(recipe=recipe, seed=seed, validation_size=VALIDATION_SIZE)
    described["keras_version"] = keras.__version__
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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
            "this model has not been trained: train it with model.fit or models.fit first"
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
    """Put `model`, built by `MODELS[name]`'s builder and trained as its recipe says (the random
    seed set to `seed` before building), into the cache, where `trained_model(name, seed)` finds
    it.

    Writes the `.keras` file, then its record: the recipe, the seed, the epochs completed, each
    epoch's loss and accuracy (`history`, as `fit` returns it) and the file's SHA-256. Refuses
    (ValueError) a model of another architecture or compile settings, and one whose training did
    not run its recipe to the end.
    If `models_dir()` cannot be written, stores it in `user_models_dir()` and says so. Returns
    the path of the `.keras` file, or None (after saying why) if no folder could take it.
    """
    builder, recipe = MODELS[name]
    record = {"name": name, "seed": seed, "recipe": recipe, **_finished_run(model, recipe)}
    expected = fingerprint(compile_for(builder(), recipe), recipe, seed)
    if fingerprint(model, recipe, seed) != expected:
        raise ValueError(
            f"this model is not {builder.__name__}()'s compiled as its recipe says: its layers or "
            f"compile settings differ, so it cannot be stored as {name!r}"
        )
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
    builder, recipe = MODELS[name]
    for path in _stored_paths(compile_for(builder(), recipe), name, seed):
        if _untrusted(path, name, seed) is None:
            return json.loads(_record_path(path).read_text())
    raise FileNotFoundError(f"no trained {name!r} is stored: call trained_model({name!r}) first")


def trained_model(name: str, verbose=0, seed: int = SEED) -> keras.Model:
    """The model `name` (a key of `MODELS`: "baseline", "cnn", "dense", "cnn_augmented",
    "dense_augmented", "vgg"), trained, compiled.

    Loaded from `models_dir()` (or `user_models_dir()`) if trained before; otherwise trained on
    the first 55,000 training images with seeds set (`verbose` is passed to `fit`), stored with
    `store_trained`, and returned. A saved file that cannot be trusted (no record of a finished
    run, changed since, damaged, another architecture) is trained again and replaced.
    Another `seed` trains the same model from another random start (a separate file), as an
    ensemble's members need.
    """
    builder, recipe = MODELS[name]
    model = compile_for(builder(), recipe)
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
    """`python -m helpers.model_cache clean`: empty the cache of trained models."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["clean"]:
        print("usage: python -m helpers.model_cache clean", file=sys.stderr)
        return 2
    folders = (models_dir(), user_models_dir())
    removed = clean(folders)
    print(f"deleted {len(removed)} files from {' and '.join(map(str, folders))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
