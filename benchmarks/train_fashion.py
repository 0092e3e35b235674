"""Train the series' models from scratch, and time them.

    python benchmarks/train_fashion.py                 # the seed model and our CNN
    python benchmarks/train_fashion.py --only dense    # one model of helpers.models.MODELS
    python benchmarks/train_fashion.py --ensemble 2    # notebook 09: build_vgg from seeds 0, 1
    python benchmarks/train_fashion.py --ensemble 5 --only cnn   # 5 of our CNN, averaged

Each model is trained as `helpers.models` trains it (its recipe, seeds set, deterministic ops,
the first 55,000 training images, validation on the last 5,000 after every epoch), never loaded
from the cache, then evaluated once on the 10,000 test images. The training time counts
everything `fit` does: every epoch, with its validation. Targets (and bars), on a 2-core CPU:
our CNN, 92.5 % within 3 minutes (92.0 %, 5 minutes); notebook 09's stronger model (an ensemble
whose time is the sum of its members'), 94.0 % within 15 minutes (93.5 %, 15 minutes).
build_vgg trains in `training_precision()`, printed at the start.

Timings on a shared machine are noisy: the load average is printed before and after, so that a
slow run can be told from a busy machine.
"""

import argparse
import os
import time

import keras
import numpy as np
import tensorflow as tf

from helpers.data import load_fashion_mnist
from helpers.models import (
    MODELS,
    SEED,
    fit,
    prepare,
    seed_everything,
    split_validation,
    training_precision,
)

# name -> (target accuracy %, target seconds, bar accuracy %, bar seconds)
TARGETS = {"cnn": (92.5, 180, 92.0, 300), "ensemble": (94.0, 900, 93.5, 900)}


class EpochTimer(keras.callbacks.Callback):
    """Prints each epoch's seconds and validation accuracy as it ends."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)
        print(
            f"  epoch {epoch + 1:2d}: {self.seconds[-1]:5.1f} s, "
            f"val accuracy {100 * logs['val_accuracy']:.2f} %",
            flush=True,
        )


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def benchmark(name: str, data, seed: int = SEED):
    """Train `name` from scratch, print its numbers; returns (training seconds, test probs)."""
    (x_tr, y_tr), (x_val, y_val), (x_test, y_test) = data
    builder, recipe = MODELS[name]
    seed_everything(seed)
    model = builder()
    print(f"{name}: {recipe}, {model.count_params():,} parameters ({load()})", flush=True)
    timer = EpochTimer()
    start = time.perf_counter()
    fit(model, recipe, x_tr, y_tr, x_val, y_val, verbose=0, callbacks=[timer])
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    epochs = len(timer.seconds)
    print(f"  Test accuracy: {100 * accuracy:.2f} %")
    print(f"  Parameters: {model.count_params():,}")
    print(
        f"  Training: {seconds:.1f} s, {seconds / epochs:.1f} s per epoch "
        f"({epochs} epochs; first {timer.seconds[0]:.1f} s, fastest {min(timer.seconds):.1f} s)"
    )
    print(f"  ({load()})", flush=True)
    if name in TARGETS and seed == SEED:
        report_target(name, accuracy, seconds)
    return seconds, model.predict(x_test, batch_size=1000, verbose=0)


def report_target(name: str, accuracy: float, seconds: float) -> None:
    target_accuracy, target_seconds, bar_accuracy, bar_seconds = TARGETS[name]
    met = 100 * accuracy >= target_accuracy and seconds <= target_seconds
    bar = 100 * accuracy >= bar_accuracy and seconds <= bar_seconds
    print(
        f"  Time / target time = {seconds / target_seconds:.2f}; target "
        f"({target_accuracy} %, {target_seconds} s) {'met' if met else 'NOT met'}, "
        f"bar ({bar_accuracy} %, {bar_seconds} s) {'met' if bar else 'NOT met'}",
        flush=True,
    )


def benchmark_ensemble(name: str, size: int, data) -> None:
    """Train `name` from seeds 0 .. size - 1 and average the members' test probabilities."""
    y_test = data[2][1]
    total, probs = 0.0, []
    for seed in range(size):
        print(f"member {seed + 1} of {size}, seed {seed}", flush=True)
        seconds, member_probs = benchmark(name, data, seed)
        total += seconds
        probs.append(member_probs)
        accuracy = np.mean(np.mean(probs, axis=0).argmax(axis=1) == y_test)
        print(f"  ensemble of {seed + 1}: {100 * accuracy:.2f} % after {total:.0f} s of training")
    print(f"Ensemble of {size} {name}: Test accuracy: {100 * accuracy:.2f} %, {total:.0f} s")
    report_target("ensemble", accuracy, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(MODELS), help="train just this model")
    parser.add_argument(
        "--ensemble", type=int, metavar="N", help="train N of --only (default vgg), averaged"
    )
    args = parser.parse_args()
    print(
        f"tensorflow {tf.__version__}, keras {keras.__version__}, {os.cpu_count()} CPUs, "
        f"training precision {training_precision()}",
        flush=True,
    )
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    data = (*split_validation(prepare(x_train), y_train), (prepare(x_test), y_test))
    if args.ensemble:
        benchmark_ensemble(args.only or "vgg", args.ensemble, data)
        return
    for name in [args.only] if args.only else ["seed", "cnn"]:
        benchmark(name, data)


if __name__ == "__main__":
    main()
