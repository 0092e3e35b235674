"""Train helpers.numpy_training's CNN from scratch in NumPy, and the same network with the same
recipe and the same starting weights in Keras, in one run; print each one's validation and test
accuracy and training seconds, and NumPy's time as a multiple of Keras's.

    python benchmarks/train_numpy.py [--epochs 3] [--batch-size 64] [--optimizer adam]
                                     [--learning-rate 1e-2] [--filters 16 32]
    python benchmarks/train_numpy.py --select

Targets: goal >= 91.0 % test accuracy within 3 minutes of NumPy training on 2 cores, at most 2x
Keras's time for the same network and epochs; bar >= 89.5 % within 3 minutes, at most 4x.

`--select` trains the NumPy CNN with each optimizer and learning rate of `CANDIDATES` (the other
settings as given), compares them on the validation images only, and writes the comparison and
the choice to `SELECTION_FILE`, which notebook 06 shows; `helpers.numpy_training.RECIPE` holds
the choice.
"""

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
from train_fashion import accuracy, machine  # benchmarks/ is the script's folder, so on the path

from helpers import numpy_training as nt
from helpers.data import load_fashion_mnist, prepare, split_validation
from helpers.keras_twins import training_twin

GOAL, BAR = (91.0, 180, 2.0), (89.5, 180, 4.0)  # test accuracy %, NumPy seconds, x Keras's time
CANDIDATES = [
    ("adam", 1e-3),
    ("adam", 3e-3),
    ("adam", 1e-2),
    ("adam", 3e-2),
    ("sgd_momentum", 0.01),
    ("sgd_momentum", 0.03),
    ("sgd_momentum", 0.1),
]
SELECTION_FILE = Path(__file__).parent / "results" / "numpy_recipe_selection.json"


def train_numpy(params, recipe, x_tr, y_tr, x_val, y_val) -> float:
    """Train `params` in place; print each epoch; return the training seconds."""
    state = nt.optimizer_state(params)
    steps = recipe.epochs * -(-len(x_tr) // recipe.batch_size)
    learning_rate = nt.cosine_learning_rate(recipe.learning_rate, steps)
    update = nt.OPTIMIZERS[recipe.optimizer]
    rng, seconds = np.random.default_rng(0), 0.0
    for epoch in range(1, recipe.epochs + 1):
        start = time.perf_counter()
        batches = nt.train_epoch(
            params, state, x_tr, y_tr, recipe.batch_size, learning_rate, rng, update
        )
        losses = [loss for loss, _ in batches]
        epoch_seconds = time.perf_counter() - start
        seconds += epoch_seconds
        val = 100 * accuracy(nt.predict(params, x_val), y_val)
        print(
            f"  numpy epoch {epoch}: {epoch_seconds:5.1f} s, mean loss "
            f"{np.mean(losses):.4f}, validation {val:.2f} %",
            flush=True,
        )
    return seconds


def train_keras(model, recipe, x_tr, y_tr, x_val, y_val) -> float:
    """Train the Keras twin with the same recipe; return the training seconds."""
    start = time.perf_counter()
    model.fit(
        x_tr,
        y_tr,
        batch_size=recipe.batch_size,
        epochs=recipe.epochs,
        validation_data=(x_val, y_val),
        verbose=2,
    )
    return time.perf_counter() - start


def select(recipe, x_tr, y_tr, x_val, y_val) -> None:
    """Train each candidate in NumPy, compare on validation, write `SELECTION_FILE`."""
    results = []
    for optimizer, learning_rate in CANDIDATES:
        candidate = argparse.Namespace(
            **{**vars(recipe), "optimizer": optimizer, "learning_rate": learning_rate}
        )
        print(f"{optimizer}, learning rate {learning_rate:g}:", flush=True)
        params = nt.init_params(tuple(recipe.filters), seed=0)
        seconds = train_numpy(params, candidate, x_tr, y_tr, x_val, y_val)
        val = 100 * accuracy(nt.predict(params, x_val), y_val)
        results.append(
            {
                "optimizer": optimizer,
                "learning_rate": learning_rate,
                "validation_accuracy": round(val, 2),
                "seconds": round(seconds, 1),
            }
        )
    best = max(results, key=lambda r: r["validation_accuracy"])  # the first of equals
    record = {
        "machine": machine(),
        "numpy": np.__version__,
        "fixed": {
            k: v for k, v in vars(recipe).items() if k in ("filters", "epochs", "batch_size")
        },
        "candidates": results,
        "chosen": {"optimizer": best["optimizer"], "learning_rate": best["learning_rate"]},
    }
    SELECTION_FILE.write_text(json.dumps(record, indent=1) + "\n")
    print(f"\n{'optimizer':14s}{'learning rate':>14s}{'validation':>12s}{'seconds':>9s}")
    for r in results:
        print(
            f"{r['optimizer']:14s}{r['learning_rate']:14g}{r['validation_accuracy']:10.2f} %"
            f"{r['seconds']:9.1f}"
        )
    print(f"chosen: {record['chosen']}; written to {SELECTION_FILE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=nt.RECIPE["epochs"])
    parser.add_argument("--batch-size", type=int, default=nt.RECIPE["batch_size"])
    parser.add_argument(
        "--optimizer", choices=sorted(nt.OPTIMIZERS), default=nt.RECIPE["optimizer"]
    )
    parser.add_argument("--learning-rate", type=float, default=nt.RECIPE["learning_rate"])
    parser.add_argument("--filters", type=int, nargs=2, default=nt.RECIPE["filters"])
    parser.add_argument(
        "--select",
        action="store_true",
        help="compare CANDIDATES on the validation images (NumPy only, no test set) and write "
        "the choice to " + str(SELECTION_FILE.relative_to(Path(__file__).parent.parent)),
    )
    recipe = parser.parse_args()
    print(f"{machine()}; numpy {np.__version__}, keras {keras.__version__}; recipe {vars(recipe)}")

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    (x_tr, y_tr), (x_val, y_val) = split_validation(prepare(x_train), y_train)
    if recipe.select:
        select(recipe, x_tr, y_tr, x_val, y_val)
        return
    x_test = prepare(x_test)
    params = nt.init_params(tuple(recipe.filters), seed=0)
    steps = recipe.epochs * -(-len(x_tr) // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, steps)
    keras.utils.set_random_seed(0)
    twin = training_twin(params, schedule, recipe.optimizer)  # the same starting weights, copied

    print("NumPy:", flush=True)
    numpy_seconds = train_numpy(params, recipe, x_tr, y_tr, x_val, y_val)
    print("Keras:", flush=True)
    keras_seconds = train_keras(twin, recipe, x_tr, y_tr, x_val, y_val)

    results = {
        "numpy": (numpy_seconds, nt.predict(params, x_val), nt.predict(params, x_test)),
        "keras": (
            keras_seconds,
            *(twin.predict(x, batch_size=1000, verbose=0) for x in (x_val, x_test)),
        ),
    }
    print(f"\n{'':8s}{'training':>10s}{'validation':>12s}{'test':>9s}")
    for name, (seconds, val_probs, test_probs) in results.items():
        print(
            f"{name:8s}{seconds:8.1f} s{100 * accuracy(val_probs, y_val):10.2f} %"
            f"{100 * accuracy(test_probs, y_test):7.2f} %"
        )
    test = 100 * accuracy(results["numpy"][2], y_test)
    ratio = numpy_seconds / keras_seconds
    print(f"numpy / keras training time: {ratio:.2f}x")
    for label, (target, seconds, times) in (("goal", GOAL), ("bar", BAR)):
        met = test >= target and numpy_seconds <= seconds and ratio <= times
        print(
            f"{label}: >= {target} % in <= {seconds} s at <= {times}x Keras: "
            f"{'met' if met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
