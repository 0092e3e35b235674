"""Train helpers.numpy_training's CNN from scratch in NumPy, and the same network with the same
recipe and the same starting weights in Keras, in one run; print each one's validation and test
accuracy and training seconds, and NumPy's time as a multiple of Keras's.

    python benchmarks/train_numpy.py [--epochs 3] [--batch-size 64] [--learning-rate 3e-3]
                                     [--filters 16 32] [--validation-only]

Targets: goal >= 91.0 % test accuracy within 3 minutes of NumPy training on 2 cores, at most 2x
Keras's time for the same network and epochs; bar >= 89.5 % within 3 minutes, at most 4x.
Choose the recipe on the validation accuracy; the test accuracy is for the one chosen.
"""

import argparse
import time

import keras
import numpy as np
from train_fashion import machine  # benchmarks/ is the script's folder, so on the path

from helpers import numpy_training as nt
from helpers.data import load_fashion_mnist
from helpers.keras_twins import training_twin
from helpers.models import prepare, split_validation

GOAL, BAR = (91.0, 180, 2.0), (89.5, 180, 4.0)  # test accuracy %, NumPy seconds, x Keras's time


def accuracy(probs_or_logits: np.ndarray, labels: np.ndarray) -> float:
    return 100 * float(np.mean(probs_or_logits.argmax(axis=1) == labels))


def train_numpy(params, recipe, x_tr, y_tr, x_val, y_val) -> float:
    """Train `params` in place; print each epoch; return the training seconds."""
    steps = recipe.epochs * -(-len(x_tr) // recipe.batch_size)
    state = nt.adam_state(params)
    learning_rate = nt.cosine_learning_rate(recipe.learning_rate, steps)
    rng, seconds = np.random.default_rng(0), 0.0
    for epoch in range(1, recipe.epochs + 1):
        start = time.perf_counter()
        losses = [
            loss
            for loss, _ in nt.train_epoch(
                params, state, x_tr, y_tr, recipe.batch_size, learning_rate, rng
            )
        ]
        epoch_seconds = time.perf_counter() - start
        seconds += epoch_seconds
        val = accuracy(nt.predict(params, x_val), y_val)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=nt.RECIPE["epochs"])
    parser.add_argument("--batch-size", type=int, default=nt.RECIPE["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=nt.RECIPE["learning_rate"])
    parser.add_argument("--filters", type=int, nargs=2, default=nt.RECIPE["filters"])
    parser.add_argument(
        "--validation-only",
        action="store_true",
        help="train in NumPy only and print the validation accuracy: to compare recipes, "
        "leaving the test set for the one chosen",
    )
    recipe = parser.parse_args()
    print(f"{machine()}; numpy {np.__version__}, keras {keras.__version__}; recipe {vars(recipe)}")

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    (x_tr, y_tr), (x_val, y_val) = split_validation(prepare(x_train), y_train)
    x_test = prepare(x_test)
    params = nt.init_params(tuple(recipe.filters), seed=0)
    steps = recipe.epochs * -(-len(x_tr) // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, steps)
    keras.utils.set_random_seed(0)
    twin = training_twin(params, schedule)  # a copy of the same starting weights, made now

    print("NumPy:", flush=True)
    numpy_seconds = train_numpy(params, recipe, x_tr, y_tr, x_val, y_val)
    if recipe.validation_only:
        print(
            f"numpy: {numpy_seconds:.1f} s of training, validation "
            f"{accuracy(nt.predict(params, x_val), y_val):.2f} %"
        )
        return
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
            f"{name:8s}{seconds:8.1f} s{accuracy(val_probs, y_val):10.2f} %"
            f"{accuracy(test_probs, y_test):7.2f} %"
        )
    test = accuracy(results["numpy"][2], y_test)
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
